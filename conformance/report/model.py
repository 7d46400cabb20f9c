"""Aggregation: the test results of one backend's run -> its `BackendReport`.

`build_report` is the one place a report is assembled, for `conformance run` (the runner) and for
the plugin's `--conformance-out` (conformance/run/session.py) alike. A requirement's status is the
worst status of its tests, after the expected-failures manifest is applied (fail closed): it has
passed only if every applicable test of it passed and at least one ran; one skipped test makes it
`skipped`, and it is `not-applicable` only if none of its tests applied. A passed requirement
some of whose tests were not applicable says how many in its message. A run conforms only if it
completed, nothing failed, and at least one requirement was checked. Tests that never reported
(the worker crashed or hung) are not dropped: the test in flight is an `error` naming the crash,
the ones after it are `skipped` as not run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast

from conformance.judge.manifest import EXPECTED, OPT_OUT, Entry, Manifest
from conformance.report.records import (
    SCHEMA_VERSION,
    BackendReport,
    Crash,
    Failure,
    RequirementVerdict,
    Summary,
    TestResult,
)
from conformance.report.repro import reproducer_source
from conformance.report.statuses import (
    ERROR,
    FAILING,
    NOT_APPLICABLE,
    PASSED,
    PASSING,
    SKIPPED,
    STATUSES,
    XFAIL,
    XPASS,
    worst,
)

__all__ = ["CHECKED", "SCHEMA_VERSION", "RunInfo", "build_report", "catalogue_meta", "checked"]

CHECKED = frozenset(STATUSES) - {NOT_APPLICABLE, SKIPPED}
"""A requirement with one of these statuses was checked: its tests ran and reached a verdict
(an expected failure included). Skipped and not-applicable ones were not."""


@dataclass
class RunInfo:
    """What the runner (or the plugin) knows about one backend's run, besides its results."""

    backend: dict[str, Any]
    """label, name, adapter, version, device, environment, capabilities."""
    profile: str
    seed: int
    started: str
    duration_s: float
    suite: dict[str, Any]
    environment: dict[str, Any]
    selection: list[str] | None = None
    workers: int | str = 1
    crash: Crash | None = None
    in_flight: dict[str, int] = field(default_factory=dict)
    """Tests running when the worker died, with the examples they had run."""
    counterpart: dict[str, Any] | None = None
    """The parity suite's counterpart backend (--parity-with), described like `backend`."""

    @classmethod
    def here(
        cls,
        backend: dict[str, Any],
        *,
        profile: str,
        seed: int,
        started: float,
        suite_target: Sequence[str],
        selection: Sequence[str] | None,
        workers: int | str,
        crash: Mapping[str, Any] | None = None,
        in_flight: Mapping[str, int] | None = None,
        counterpart: dict[str, Any] | None = None,
    ) -> RunInfo:
        """A run of this process's suite on this host that began at `started` (time.time())."""
        from conformance.report.environment import host_environment, suite_info

        return cls(
            backend=backend,
            profile=profile,
            seed=seed,
            started=datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            duration_s=time.time() - started,
            suite=suite_info(list(suite_target)),
            environment=host_environment(),
            selection=list(selection) if selection else None,
            workers=workers,
            crash=Crash.from_dict(crash) if crash is not None else None,
            in_flight=dict(in_flight or {}),
            counterpart=counterpart,
        )


PARITY = "device parity"  # conformance.spec.requirements.PARITY; the catalogue is imported lazily


def catalogue_meta() -> dict[str, dict[str, Any]]:
    """The requirement catalogue of this process, in catalogue order: what a report says about
    each requirement (title, statement, ...) comes from its entry, nowhere else."""
    # Read through the module at call time: tests/fake_suite.py swaps the catalogue.
    from conformance.spec import requirements

    return {req.id: requirement_meta(req) for req in requirements.REQUIREMENTS}


def requirement_meta(req: Any) -> dict[str, Any]:
    return {
        "title": req.title,
        "statement": req.statement,
        "level": req.level,
        "capabilities": list(req.capabilities),
        "source": req.source,
    }


def build_report(
    run: RunInfo,
    results: Sequence[TestResult],
    collected: Sequence[Mapping[str, Any]] | None,
    meta: Mapping[str, Mapping[str, Any]],
    manifest: Manifest | None,
) -> BackendReport:
    """The report of a run: `results` as they arrived, `collected` the tests the worker collected
    (None when unknown), `meta` the requirement catalogue."""
    manifest = manifest.for_backend(run.backend["label"]) if manifest else None
    tests = _tests(run, results, collected)
    used: dict[Entry, str] = {}
    if manifest:
        tests = [_expect_test(test, manifest, used) for test in tests]
    ids = _requirement_ids(run, tests, meta)
    by_requirement: dict[str, list[TestResult]] = {rid: [] for rid in ids}
    for test in tests:
        for rid in test.requirements:
            by_requirement.setdefault(rid, []).append(test)
    requirements = [
        _requirement(rid, by_requirement[rid], meta.get(rid, {}), run, manifest, used)
        for rid in by_requirement
    ]
    complete = run.crash is None
    return BackendReport(
        suite=run.suite,
        backend=run.backend,
        counterpart=run.counterpart,
        environment=run.environment,
        profile=run.profile,
        seed=run.seed,
        started=run.started,
        duration_s=round(run.duration_s, 3),
        crash=run.crash,
        selection=run.selection,
        workers=run.workers,
        summary=summarise(requirements, tests, complete),
        expectations=_expectations(manifest, used, run, tests, requirements, complete),
        requirements=requirements,
        tests=tests,
    )


def summarise(
    requirements: Sequence[RequirementVerdict], tests: Sequence[TestResult], complete: bool
) -> Summary:
    counts = _count(r.status for r in requirements)
    applicable = len(requirements) - counts[NOT_APPLICABLE]
    passing = sum(counts[s] for s in PASSING)
    return Summary(
        requirements=counts,
        tests=_count(t.status for t in tests),
        total=len(requirements),
        applicable=applicable,
        pass_rate=round(passing / applicable, 6) if applicable else None,
        examples=sum(t.examples for t in tests),
        # Fail closed: a run that checked nothing does not conform, whatever else it says.
        conforms=complete and not any(counts[s] for s in FAILING) and checked(counts) > 0,
    )


def checked(counts: Mapping[str, int]) -> int:
    """How many requirements were checked, from the requirements per status of a summary."""
    return sum(counts.get(s, 0) for s in CHECKED)


def _count(statuses: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for status in statuses:
        counts[status] += 1
    return counts


# -- tests ----------------------------------------------------------------------------------------
def _tests(
    run: RunInfo,
    results: Sequence[TestResult],
    collected: Sequence[Mapping[str, Any]] | None,
) -> list[TestResult]:
    by_id = {result.nodeid: dataclasses.replace(result) for result in results}
    order = [t["nodeid"] for t in collected or ()]
    seen = set(order)
    order += [nodeid for nodeid in by_id if nodeid not in seen]
    requirements_of = {t["nodeid"]: list(t.get("requirements", [])) for t in collected or ()}
    tests = []
    for nodeid in order:
        test = by_id.get(nodeid) or _never_reported(nodeid, requirements_of[nodeid], run)
        if not test.requirements:  # a test whose worker died reports no markers
            test.requirements = requirements_of.get(nodeid, [])
        tests.append(test)
    return tests


def _never_reported(nodeid: str, requirements: list[str], run: RunInfo) -> TestResult:
    crash = run.crash
    if crash is not None and nodeid in run.in_flight:
        status, message = ERROR, f"{crash.message} (while this test ran)"
    elif crash is not None:
        status, message = SKIPPED, f"not run: {crash.message}"
    else:
        status, message = SKIPPED, "not run: no outcome was recorded for this test"
    examples = run.in_flight.get(nodeid, 0)
    return TestResult(nodeid, requirements, status, message, examples=examples)


def _expect_test(test: TestResult, manifest: Manifest, used: dict[Entry, str]) -> TestResult:
    entry = manifest.expected_for_test(test.nodeid)
    if entry is None:
        return test
    if test.status in FAILING:
        used[entry] = XFAIL
        return dataclasses.replace(test, status=XFAIL, expectation=entry.to_dict())
    if test.status == PASSED:
        used.setdefault(entry, XPASS)
        return dataclasses.replace(test, status=XPASS, expectation=entry.to_dict())
    used.setdefault(entry, test.status)
    return test


# -- requirements ---------------------------------------------------------------------------------
def _requirement_ids(
    run: RunInfo, tests: Sequence[TestResult], meta: Mapping[str, Any]
) -> list[str]:
    # Parity requirements need a counterpart; a run without one does not list them at all.
    ids = (
        list(run.selection)
        if run.selection
        else [rid for rid, m in meta.items() if m.get("level") != PARITY]
    )
    for test in tests:
        ids += [rid for rid in test.requirements if rid not in ids]
    return ids


def _requirement(
    rid: str,
    tests: Sequence[TestResult],
    meta: Mapping[str, Any],
    run: RunInfo,
    manifest: Manifest | None,
    used: dict[Entry, str],
) -> RequirementVerdict:
    status = worst(t.status for t in tests) or SKIPPED
    message = _message(status, tests, run)
    expectation = None
    entry = manifest.expected_for_requirement(rid) if manifest else None
    if entry is not None:
        if status in FAILING:
            status, expectation = XFAIL, entry.to_dict()
            used[entry] = XFAIL
            message = f"expected failure ({entry.reason}): {message}"
        elif status == PASSED:
            status, expectation = XPASS, entry.to_dict()
            used[entry] = XPASS
            message = f"unexpected pass: the manifest expects a failure ({entry.reason})"
        else:
            used[entry] = status
    examples = sum(t.examples for t in tests)
    duration = sum(t.duration_s for t in tests)
    numeric = [t for t in tests if t.max_rel_error is not None]
    worst_numeric = max(numeric, key=lambda t: cast(float, t.max_rel_error), default=None)
    abs_errors = [cast(float, t.max_abs_error) for t in tests if t.max_abs_error is not None]
    failing = [t for t in tests if t.status in FAILING | {XFAIL}]
    return RequirementVerdict(
        id=rid,
        title=meta.get("title", rid),
        statement=meta.get("statement"),
        level=meta.get("level"),
        status=status,
        message=message,
        tests=[t.nodeid for t in tests],
        examples=examples,
        duration_s=round(duration, 4),
        examples_per_s=round(examples / duration, 2) if duration > 0 and examples else None,
        max_abs_error=max(abs_errors) if abs_errors else None,
        max_rel_error=worst_numeric.max_rel_error if worst_numeric else None,
        tolerance=worst_numeric.tolerance if worst_numeric else None,
        expectation=expectation,
        failures=[_failure(t, run.backend) for t in failing],
    )


def _message(status: str, tests: Sequence[TestResult], run: RunInfo) -> str | None:
    if not tests:
        if run.crash is not None:
            return f"not run: {run.crash.message}"
        return "no test of this requirement was collected"
    if status == PASSED:
        return _not_applicable_note(tests)
    first = next((t for t in tests if t.status == status), tests[0])
    return first.message


def _not_applicable_note(tests: Sequence[TestResult]) -> str | None:
    """A passed requirement checked on only some of its tests says so: the others did not apply
    (e.g. per-op tests of ops the engine lacks)."""
    lacking = [t for t in tests if t.status == NOT_APPLICABLE]
    if not lacking:
        return None
    ran = len(tests) - len(lacking)
    return (
        f"passed on {ran} of {len(tests)} tests; {len(lacking)} not applicable "
        f"(first: {lacking[0].message})"
    )


def _failure(test: TestResult, backend: Mapping[str, Any]) -> Failure:
    return Failure(
        nodeid=test.nodeid,
        status=test.status,
        message=test.message,
        program=test.program,
        check=test.check,
        reproducer=reproducer_source(test.program, test.check, backend),
        details=test.details,
    )


# -- the manifest's verdict ----------------------------------------------------------------------
def _expectations(
    manifest: Manifest | None,
    used: dict[Entry, str],
    run: RunInfo,
    tests: Sequence[TestResult],
    requirements: Sequence[RequirementVerdict],
    complete: bool,
) -> dict[str, Any] | None:
    if manifest is None:
        return None
    stale = []
    for entry in manifest.entries:
        outcome = used.get(entry)
        if entry.kind == OPT_OUT:
            matched = any(entry.matches_test(t.nodeid, t.requirements) for t in tests)
            if not matched and _in_scope(entry, run) and complete:
                stale.append({**entry.to_dict(), "why": "matched no test"})
            continue
        assert entry.kind == EXPECTED
        if outcome == XFAIL:
            continue
        if outcome is None:
            if _in_scope(entry, run) and complete:
                stale.append({**entry.to_dict(), "why": "matched no test that ran"})
        elif outcome == XPASS:
            stale.append({**entry.to_dict(), "why": "passed (unexpected pass)"})
        else:
            stale.append({**entry.to_dict(), "why": f"was {outcome}, not a failure"})
    unexpected = [r.id for r in requirements if r.status == XPASS]
    unexpected += [t.nodeid for t in tests if t.status == XPASS]
    return {
        "file": manifest.path,
        "entries": len(manifest.entries),
        "stale": stale,
        "unexpected_passes": unexpected,
    }


def _in_scope(entry: Entry, run: RunInfo) -> bool:
    """Whether the run could have matched the entry (a --requirement selection narrows it)."""
    if run.selection is None:
        return True
    # A test id cannot be checked against a selection: the unselected tests were not collected.
    return entry.requirement is not None and entry.requirement in run.selection
