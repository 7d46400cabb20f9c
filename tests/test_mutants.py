"""The conformance suites flag every mutant in the catalogue, each by the requirements it names.

Every mutant (tests/mutants/catalogue.py) is run through the suites under the `ci` profile in a
subprocess, restricted to its `flagged_by` requirements, exactly as a user would run them:

    python -m pytest --pyargs suites --backend tests.mutants.catalogue:X --requirement ID ...

and each named requirement must come out *failed* (an AssertionError from a check, with a
message or a counterexample program), never passed, skipped or errored. The unmutated
`reference` and `torch:cpu` backends must pass the same requirements, and every requirement of
the catalogue must flag at least one mutant.

Runs go two at a time (one per core) from a pool shared by the module, started for the tests
that were selected, so the wall time is about half the sum of the runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.backends.reference import ReferenceAdapter
from conformance.backends.torch import TorchAdapter
from conformance.catalogue import BY_ID, REQUIREMENTS
from conformance.protocol import missing_members
from tests.mutants.base import Bug
from tests.mutants.catalogue import CATALOGUE, TORCH_CATALOGUE, import_path

REPO = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 900
TORCH_SAMPLE = tuple(
    m
    for m in TORCH_CATALOGUE
    if m.__name__.removesuffix("Torch")
    in {
        "BroadcastNotSummed",
        "AssignInsteadOfAccumulate",
        "RetainGraphIgnored",
        "BceLogitZeroSubgradient",
        "IsLeafFromRequiresGrad",
    }
)
"""A few bugs on top of PyTorch as well: the suites must not rely on the bug sitting on the
reference engine (which is also their oracle)."""


@dataclass(frozen=True)
class Case:
    backend: str
    requirements: tuple[str, ...]


@dataclass
class Run:
    case: Case
    returncode: int
    records: list[dict[str, Any]]
    output: str
    seconds: float

    def by_requirement(self, rid: str) -> list[dict[str, Any]]:
        return [r for r in self.records if rid in r.get("requirements", ())]

    def describe(self, rid: str) -> str:
        lines = [f"{self.case.backend} --requirement {rid}: exit {self.returncode}"]
        lines += [f"  {r['status']}: {r['nodeid']} {r.get('message')!s:.300}" for r in self.records]
        if not self.records:
            lines.append(self.output[-3000:])
        return "\n".join(lines)


def _run(case: Case, workdir: Path) -> Run:
    results = workdir / f"{case.backend.replace(':', '_').replace('.', '_')}.jsonl"
    results.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "suites",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "-p",
        "no:randomly",
        "--conformance-profile",
        "ci",
        "--backend",
        case.backend,
        "--conformance-results",
        str(results),
    ]
    for rid in case.requirements:
        command += ["--requirement", rid]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=REPO,  # `tests.mutants.catalogue` is importable from the repository root
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    seconds = time.perf_counter() - started
    records = []
    if results.exists():
        records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return Run(case, done.returncode, records, done.stdout + done.stderr, seconds)


class Runner:
    """Runs cases on a thread pool, each at most once; `result` waits for one."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
        self.futures: dict[Case, Future[Run]] = {}

    def submit(self, case: Case) -> None:
        if case not in self.futures:
            self.futures[case] = self.pool.submit(_run, case, self.workdir)

    def result(self, case: Case) -> Run:
        self.submit(case)
        return self.futures[case].result()


def mutant_case(mutant: type[Bug]) -> Case:
    return Case(import_path(mutant), tuple(mutant.flagged_by))


FLAGGED = tuple(sorted({rid for m in CATALOGUE for rid in m.flagged_by}))
BASELINES = tuple(Case(label, FLAGGED) for label in ("reference", "torch:cpu"))
MUTANTS = CATALOGUE + TORCH_SAMPLE


@pytest.fixture(scope="module")
def runner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runner]:
    runs = Runner(tmp_path_factory.mktemp("mutant-runs"))
    # Start every selected case now so that they run in parallel, slowest (baselines) first.
    selected = [
        item.callspec.params[name]
        for item in request.session.items
        if getattr(item, "module", None) is request.module and hasattr(item, "callspec")
        for name in ("baseline", "mutant")
        if name in item.callspec.params
    ]
    for param in selected:
        runs.submit(param if isinstance(param, Case) else mutant_case(param))
    yield runs
    timings = sorted(
        ((f.result().seconds, c.backend) for c, f in runs.futures.items()), reverse=True
    )
    total = sum(t for t, _ in timings)
    print(f"\nmutant runs: {len(timings)} runs, {total:.0f} s of subprocess time")
    for seconds, backend in timings:
        print(f"  {seconds:6.1f} s  {backend}")
    runs.pool.shutdown()


# -- structure: every mutant is a valid adapter that declares what flags it --------------------
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.__name__)
def test_mutant_is_a_structurally_valid_adapter(mutant: type[Bug]) -> None:
    wrapped: Any = next(c for c in mutant.__mro__ if c in (ReferenceAdapter, TorchAdapter))
    assert missing_members(mutant) == []
    assert mutant.capabilities == wrapped.capabilities
    assert mutant.devices == wrapped.devices
    assert mutant.bug_class, f"{mutant.__name__} names no bug class"
    assert mutant.__doc__ and len(mutant.__doc__) > 80, f"{mutant.__name__} explains no bug"
    assert mutant.flagged_by, f"{mutant.__name__} names no requirement"
    unknown = [rid for rid in mutant.flagged_by if rid not in BY_ID]
    assert not unknown, f"{mutant.__name__}: flagged_by names unknown requirement(s) {unknown}"


def test_catalogue_covers_every_bug_class() -> None:
    classes = {m.bug_class for m in CATALOGUE}
    missing = [str(n) for n in range(1, 13) if str(n) not in classes]
    assert not missing, f"bug classes without a mutant: {missing}"
    assert len(CATALOGUE) >= 15
    assert len({m.__name__ for m in MUTANTS}) == len(MUTANTS)


# -- behaviour: the suites flag each mutant and pass the correct backends ---------------------
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.__name__)
def test_mutant_is_flagged(mutant: type[Bug], runner: Runner) -> None:
    run = runner.result(mutant_case(mutant))
    for rid in mutant.flagged_by:
        records = run.by_requirement(rid)
        statuses = sorted({r["status"] for r in records})
        assert records, f"no test of {rid} ran\n{run.describe(rid)}"
        assert "error" not in statuses, f"{rid} errored instead of failing\n{run.describe(rid)}"
        failed = [r for r in records if r["status"] == "failed"]
        assert failed, f"{rid} did not flag {mutant.__name__}: {statuses}\n{run.describe(rid)}"
        for record in failed:
            assert record.get("program") or record.get("message"), (
                f"{record['nodeid']} failed without a message or a program"
            )


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda c: c.backend)
def test_correct_backend_passes_the_flagging_requirements(baseline: Case, runner: Runner) -> None:
    run = runner.result(baseline)
    assert run.records, f"{baseline.backend}: no test ran\n{run.output[-3000:]}"
    bad = [r for r in run.records if r["status"] in ("failed", "error")]
    assert not bad, "\n".join(
        f"{r['status']}: {r['nodeid']} {r.get('message')!s:.500}" for r in bad
    )
    ran = {rid for r in run.records if r["status"] == "passed" for rid in r["requirements"]}
    assert ran >= set(baseline.requirements) - _not_applicable(run), (
        f"{baseline.backend}: requirements with no passing test: "
        f"{sorted(set(baseline.requirements) - ran - _not_applicable(run))}"
    )


def _not_applicable(run: Run) -> set[str]:
    return {
        rid for r in run.records if r["status"] == "not-applicable" for rid in r["requirements"]
    }


def test_every_requirement_flags_a_mutant(runner: Runner) -> None:
    unnamed = [r.id for r in REQUIREMENTS if r.id not in FLAGGED]
    assert not unnamed, f"requirements no mutant names (so none shows they can fail): {unnamed}"
    flagged: set[str] = set()
    for mutant in CATALOGUE:
        run = runner.result(mutant_case(mutant))
        flagged |= {
            rid
            for rid in mutant.flagged_by
            for r in run.by_requirement(rid)
            if r["status"] == "failed"
        }
    silent = [r.id for r in REQUIREMENTS if r.id not in flagged]
    assert not silent, f"requirements that flagged no mutant: {silent}"
