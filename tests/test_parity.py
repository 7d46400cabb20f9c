"""The parity suite (suites/parity) on CPU: `reference` paired with `torch:cpu` passes in both
directions, and a pairing with a broken backend fails the requirement that names the break. The
suite's logic is thereby checked on every CI run, not only on GPU machines (`tox -e cuda`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.backends.reference import ReferenceAdapter

REPO = Path(__file__).resolve().parents[1]
PARITY_IDS = ("PARITY-001", "PARITY-002", "PARITY-003")


class GradOnOtherDevice(ReferenceAdapter):
    """Reports `.grad` on a device other than its leaf's (a device copy left behind)."""

    def grad_device(self, tensor: Any) -> str | None:
        return None if tensor.grad is None else "meta"


class JitteryVjp(ReferenceAdapter):
    """A VJP whose result changes from call to call by a few ulps, as an unordered atomic sum
    would; a deterministic device must not do this."""

    calls = 0

    def vjp(
        self,
        fn: Callable[[Sequence[Any]], Sequence[Any]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        values, grads = super().vjp(fn, primals, cotangents)
        JitteryVjp.calls += 1
        nudge = 1.0 + JitteryVjp.calls * 4 * np.finfo(np.float64).eps
        return values, [None if g is None else (g * nudge).astype(g.dtype) for g in grads]


def _run(backend: str, counterpart: str, tmp_path: Path) -> dict[str, str]:
    results = tmp_path / f"{abs(hash((backend, counterpart)))}.jsonl"
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "autograd_conformance_suites.parity", "-q",
        "-p", "no:cacheprovider",
        "--conformance-backend", backend, "--conformance-parity-with", counterpart,
        "--conformance-results", str(results),
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert results.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    records = [json.loads(line) for line in results.read_text().splitlines()]
    return {rid: r["status"] for r in records for rid in r["requirements"]}


@pytest.mark.parametrize(
    ("backend", "counterpart"), [("reference", "torch:cpu"), ("torch:cpu", "reference")]
)
def test_correct_pairs_pass(backend: str, counterpart: str, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the pair includes torch:cpu")
    assert _run(backend, counterpart, tmp_path) == dict.fromkeys(PARITY_IDS, "passed")


@pytest.mark.parametrize(
    ("mutant", "flagged_by"),
    [
        ("tests.mutants.catalogue:SubSecondOperandSign", "PARITY-001"),
        ("tests.test_parity:GradOnOtherDevice", "PARITY-002"),
        ("tests.test_parity:JitteryVjp", "PARITY-003"),
    ],
)
def test_broken_backend_is_flagged(mutant: str, flagged_by: str, tmp_path: Path) -> None:
    statuses = _run(mutant, "reference", tmp_path)
    assert statuses[flagged_by] == "failed", statuses


def test_parity_is_not_collected_without_counterpart(tmp_path: Path) -> None:
    results = tmp_path / "plain.jsonl"
    subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "autograd_conformance_suites.parity", "-q",
         "-p", "no:cacheprovider", "--conformance-backend", "reference",
         "--conformance-results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = results.read_text().splitlines() if results.exists() else []
    assert not [line for line in lines if "PARITY" in line]
