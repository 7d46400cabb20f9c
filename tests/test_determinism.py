"""The same seed gives the same report: two `conformance run`s with one seed write JSON reports
that are identical apart from the fields that measure time, and another seed draws other
examples (so the comparison is one that can fail).

Each run is the console command in a subprocess, as a user runs it, on a narrow selection of
requirements under the default `ci` profile: VJP-001 compares gradients numerically (its
recorded errors depend on the drawn inputs) and ACC-001 is a tape-semantics check. A failing
run must repeat too: a mutant's counterexample (shrunk by hypothesis) is the same for the same
seed.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ("VJP-001", "ACC-001")
SEED, OTHER_SEED = 7, 8
MUTANT = "tests.mutants.catalogue:GradOfWritesGrad"
"""Fails VJP-001 with a counterexample program whose inputs depend on the seed."""
HAS_TORCH = importlib.util.find_spec("torch") is not None
BACKENDS = (
    "reference",
    pytest.param(
        "torch:cpu", marks=pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
    ),
)


def run_report(backend: str, seed: int, out: Path, requirements: tuple[str, ...]) -> dict:
    """`conformance run` of one backend; its JSON report."""
    selection = [arg for rid in requirements for arg in ("--requirement", rid)]
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--backend", backend, "--seed", str(seed),
         *selection, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # the mutant is imported from tests/
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    (report,) = out.glob("*.json")
    return json.loads(report.read_text())


def without_time(report: dict) -> dict:
    """The report less the fields that measure wall-clock time, which differ on every run of
    the same seed. Each is deleted by name, so a renamed field fails here rather than being
    compared or ignored silently; nothing that carries a result (counts, examples, statuses,
    errors, counterexamples) is removed."""
    report = copy.deepcopy(report)
    del report["started"]  # when the run began (a timestamp)
    del report["duration_s"]  # the backend's wall time
    for requirement in report["requirements"]:
        del requirement["duration_s"]  # wall time of the requirement's tests
        del requirement["examples_per_s"]  # examples / duration_s: a rate in wall time
    for test in report["tests"]:
        del test["duration_s"]  # wall time of one test
    return report


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """The paths (`requirements[0].max_abs_error`) at which two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for key in sorted(a.keys() | b.keys())
            for d in differences(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_same_seed_writes_the_same_report(backend: str, tmp_path: Path) -> None:
    first = run_report(backend, SEED, tmp_path / "first", REQUIREMENTS)
    again = run_report(backend, SEED, tmp_path / "again", REQUIREMENTS)
    other = run_report(backend, OTHER_SEED, tmp_path / "other", REQUIREMENTS)

    # Not a comparison of two empty reports: both requirements ran their examples and passed.
    assert [r["id"] for r in first["requirements"]] == list(REQUIREMENTS)
    assert all(r["status"] == "passed" and r["examples"] > 0 for r in first["requirements"])
    assert differences(without_time(first), without_time(again)) == []
    # The comparison can fail: another seed draws other inputs, and a result field (the largest
    # error VJP-001 measured, an example count) differs, not just the recorded seed.
    changed = differences(without_time(first), without_time(other))
    assert "seed" in changed
    assert set(changed) - {"seed"}, "another seed gave the same results: is the seed applied?"


def test_a_failing_run_repeats_its_counterexample(tmp_path: Path) -> None:
    first = run_report(MUTANT, SEED, tmp_path / "first", ("VJP-001",))
    again = run_report(MUTANT, SEED, tmp_path / "again", ("VJP-001",))

    (requirement,) = first["requirements"]
    assert requirement["status"] == "failed"
    assert requirement["failures"] and requirement["failures"][0]["program"] is not None
    assert differences(without_time(first), without_time(again)) == []
