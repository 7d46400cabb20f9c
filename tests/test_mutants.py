"""The conformance suites flag every mutant in the catalogue, each by the requirements it names.

Every mutant (tests/mutants/catalogue.py) is run through the suites under the `ci` profile in a
subprocess, restricted to its `flagged_by` requirements, exactly as a user would run them:

    python -m pytest --pyargs suites --conformance-backend tests.mutants.catalogue:X \
        --conformance-requirement ID ...

and each named requirement must come out *failed* (an AssertionError from a check, with a
message or a counterexample program), never passed, skipped or errored. The unmutated
`reference` and `torch:cpu` backends must pass the same requirements, and every requirement of
the catalogue must flag at least one mutant.

A requirement that no mutant names yet (one just added as its catalogue entry and its test) is
run on every mutant, and the mutants that fail it are found rather than declared; naming it in
the `flagged_by` of one of them later takes it out of the other mutants' runs.

Runs go two at a time (one per core) from a pool shared by the module, started for the tests
that were selected, so the wall time is about half the sum of the runs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.backends.reference import ReferenceAdapter
from conformance.backends.torch import TorchAdapter
from conformance.protocol import missing_members
from conformance.spec.requirements import BY_ID, PARITY, REQUIREMENTS
from tests.mutants.base import Bug
from tests.mutants.catalogue import CATALOGUE, TORCH_CATALOGUE, TORCH_ONLY_BUGS
from tests.mutants.runs import Case, Run, Runner, mutant_case

TORCH_SAMPLE = tuple(
    m
    for m in TORCH_CATALOGUE
    if m.__name__.removesuffix("Torch")
    in {
        "BroadcastNotSummed",
        "AssignInsteadOfAccumulate",
        "BceLogitZeroSubgradient",
        *(bug.__name__ for bug in TORCH_ONLY_BUGS),
    }
)
"""A few bugs on top of PyTorch as well: the suites must not rely on the bug sitting on the
reference engine (which is also their oracle). The bugs of TORCH_ONLY_BUGS sit there only."""
TORCH_ONLY = tuple(m for m in TORCH_SAMPLE if m.__name__.removesuffix("Torch") in
                   {bug.__name__ for bug in TORCH_ONLY_BUGS})  # fmt: skip


NAMED = tuple(sorted({rid for m in (*CATALOGUE, *TORCH_ONLY) for rid in m.flagged_by}))
UNNAMED = tuple(r.id for r in REQUIREMENTS if r.level != PARITY and r.id not in NAMED)
"""Requirements no mutant declares: each mutant's run includes them (see the module docstring)."""
BASELINES = tuple(Case(label, NAMED + UNNAMED) for label in ("reference", "torch:cpu"))
MUTANTS = CATALOGUE + TORCH_SAMPLE
HAS_TORCH = importlib.util.find_spec("torch") is not None
NEEDS_TORCH = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")


def on_torch(param: Any) -> bool:
    """Whether a mutant or a baseline runs on PyTorch."""
    return param in TORCH_SAMPLE or (isinstance(param, Case) and param.backend.startswith("torch"))


def needing_torch(params: tuple[Any, ...]) -> list[Any]:
    return [pytest.param(p, marks=NEEDS_TORCH) if on_torch(p) else p for p in params]


def case_for(mutant: type[Bug]) -> Case:
    """The mutant's run: the requirements it names, and those no mutant names."""
    named = mutant_case(mutant)
    return Case(named.backend, named.requirements + UNNAMED)


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
        if HAS_TORCH or not on_torch(item.callspec.params[name])
    ]
    for param in sorted(selected, key=lambda p: not isinstance(p, Case)):
        runs.submit(param if isinstance(param, Case) else case_for(param))
    yield runs
    timings = runs.timings()
    print(f"\nmutant runs: {len(timings)}, {sum(t for t, _ in timings):.0f} s of subprocess time")
    for seconds, backend in timings:
        print(f"  {seconds:6.1f} s  {backend}")
    runs.close()


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
# A test waits for its run, queued behind the others on the runner's pool: its wait is not its
# own work, so pytest-timeout's per-test limit does not apply; each run's subprocess has its own
# limit (runs.RUN_TIMEOUT_S), which is what catches a hang.
QUEUED = pytest.mark.timeout(0)


@QUEUED
@pytest.mark.parametrize("mutant", needing_torch(MUTANTS), ids=lambda m: m.__name__)
def test_mutant_is_flagged(mutant: type[Bug], runner: Runner) -> None:
    run = runner.result(case_for(mutant))
    for rid in mutant.flagged_by:
        verdict = run.verdict(rid)
        assert verdict == "failed", (
            f"{rid} gave {verdict!r} on {mutant.__name__}\n{run.describe(rid)}"
        )
        for record in run.by_requirement(rid):
            if record["status"] == "failed":
                assert record.get("program") or record.get("message"), (
                    f"{record['nodeid']} failed without a message or a program"
                )


@QUEUED
@pytest.mark.parametrize("baseline", needing_torch(BASELINES), ids=lambda c: c.backend)
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


@QUEUED
def test_every_requirement_flags_a_mutant(runner: Runner) -> None:
    # Parity requirements compare two backends; tests/test_parity.py pairs a broken backend with
    # the reference for each of them.
    requirements = [r for r in REQUIREMENTS if r.level != PARITY]
    flagged: set[str] = set()
    for mutant in CATALOGUE + (TORCH_ONLY if HAS_TORCH else ()):
        run = runner.result(case_for(mutant))
        flagged |= {rid for rid in run.case.requirements if run.verdict(rid) == "failed"}
    silent = [r.id for r in requirements if r.id not in flagged]
    assert not silent, f"requirements that flagged no mutant (none shows they can fail): {silent}"
