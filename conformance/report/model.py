"""Aggregation: per-test records from the plugin -> the report of one backend on one device.

A requirement's status is the worst status of its tests, after the expected-failures manifest is
applied. Tests that never reported (the worker crashed or hung) are not dropped: the test in
flight is an `error` naming the crash, the ones after it are `skipped` as not run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.judge.manifest import EXPECTED, OPT_OUT, Entry, Manifest
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

SCHEMA_VERSION = 1


@dataclass
class RunInfo:
    """What the runner knows about one backend's run, besides the test records."""

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
    crash: dict[str, Any] | None = None
    """kind, phase, message, and where known test, signal, returncode, log_tail."""
    in_flight: dict[str, int] = field(default_factory=dict)
    """Tests running when the worker died, with the examples they had run."""
    counterpart: dict[str, Any] | None = None
    """The parity suite's counterpart backend (--parity-with), described like `backend`."""


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
    records: Sequence[Mapping[str, Any]],
    collected: Sequence[Mapping[str, Any]] | None,
    meta: Mapping[str, Mapping[str, Any]],
    manifest: Manifest | None,
) -> dict[str, Any]:
    manifest = manifest.for_backend(run.backend["label"]) if manifest else None
    tests = _tests(run, records, collected)
    used: dict[Entry, str] = {}
    if manifest:
        tests = [_expect_test(test, manifest, used) for test in tests]
    ids = _requirement_ids(run, tests, meta)
    by_requirement: dict[str, list[dict[str, Any]]] = {rid: [] for rid in ids}
    for test in tests:
        for rid in test["requirements"]:
            by_requirement.setdefault(rid, []).append(test)
    requirements = [
        _requirement(rid, by_requirement[rid], meta.get(rid, {}), run, manifest, used)
        for rid in by_requirement
    ]
    complete = run.crash is None
    return {
        "schema_version": SCHEMA_VERSION,
        "suite": run.suite,
        "backend": run.backend,
        "counterpart": run.counterpart,
        "environment": run.environment,
        "profile": run.profile,
        "seed": run.seed,
        "started": run.started,
        "duration_s": round(run.duration_s, 3),
        "complete": complete,
        "crash": run.crash,
        "selection": run.selection,
        "workers": run.workers,
        "summary": summarise(requirements, tests, complete),
        "expectations": _expectations(manifest, used, run, tests, requirements, complete),
        "requirements": requirements,
        "tests": tests,
    }


def summarise(
    requirements: Sequence[Mapping[str, Any]], tests: Sequence[Mapping[str, Any]], complete: bool
) -> dict[str, Any]:
    counts = _count(r["status"] for r in requirements)
    applicable = len(requirements) - counts[NOT_APPLICABLE]
    passing = sum(counts[s] for s in PASSING)
    return {
        "requirements": counts,
        "tests": _count(t["status"] for t in tests),
        "total": len(requirements),
        "applicable": applicable,
        "pass_rate": round(passing / applicable, 6) if applicable else None,
        "examples": sum(int(t.get("examples") or 0) for t in tests),
        "conforms": complete and not any(counts[s] for s in FAILING),
    }


def _count(statuses: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for status in statuses:
        counts[status] += 1
    return counts


# -- tests ----------------------------------------------------------------------------------------
def _tests(
    run: RunInfo,
    records: Sequence[Mapping[str, Any]],
    collected: Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for record in records:
        by_id[record["nodeid"]] = _normalised(record)
    order = [t["nodeid"] for t in collected or ()]
    seen = set(order)
    order += [nodeid for nodeid in by_id if nodeid not in seen]
    requirements_of = {t["nodeid"]: list(t.get("requirements", [])) for t in collected or ()}
    tests = []
    for nodeid in order:
        test = by_id.get(nodeid) or _never_reported(nodeid, requirements_of[nodeid], run)
        if not test["requirements"]:  # a test whose worker died reports no markers
            test["requirements"] = requirements_of.get(nodeid, [])
        tests.append(test)
    return tests


def _normalised(record: Mapping[str, Any]) -> dict[str, Any]:
    test = {
        "nodeid": record["nodeid"],
        "requirements": list(record.get("requirements") or []),
        "status": record["status"],
        "message": record.get("message"),
        "duration_s": float(record.get("duration_s") or 0.0),
        "examples": int(record.get("examples") or 0),
        "max_abs_error": record.get("max_abs_error"),
        "max_rel_error": record.get("max_rel_error"),
        "tolerance": record.get("tolerance"),
        "program": record.get("program"),
        "check": record.get("check"),
        "details": record.get("details") or {},
    }
    if test["status"] not in STATUSES:
        test["message"] = f"unknown status {test['status']!r}: {test['message']}"
        test["status"] = ERROR
    return test


def _never_reported(nodeid: str, requirements: list[str], run: RunInfo) -> dict[str, Any]:
    crash = run.crash
    if crash is not None and nodeid in run.in_flight:
        status, message = ERROR, f"{crash['message']} (while this test ran)"
    elif crash is not None:
        status, message = SKIPPED, f"not run: {crash['message']}"
    else:
        status, message = SKIPPED, "not run: no outcome was recorded for this test"
    return {
        "nodeid": nodeid,
        "requirements": requirements,
        "status": status,
        "message": message,
        "duration_s": 0.0,
        "examples": run.in_flight.get(nodeid, 0),
        "max_abs_error": None,
        "max_rel_error": None,
        "tolerance": None,
        "program": None,
        "check": None,
        "details": {},
    }


def _expect_test(
    test: dict[str, Any], manifest: Manifest, used: dict[Entry, str]
) -> dict[str, Any]:
    entry = manifest.expected_for_test(test["nodeid"])
    if entry is None:
        return test
    if test["status"] in FAILING:
        used[entry] = XFAIL
        return {**test, "status": XFAIL, "expectation": entry.to_dict()}
    if test["status"] == PASSED:
        used.setdefault(entry, XPASS)
        return {**test, "status": XPASS, "expectation": entry.to_dict()}
    used.setdefault(entry, test["status"])
    return test


# -- requirements ---------------------------------------------------------------------------------
def _requirement_ids(
    run: RunInfo, tests: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]
) -> list[str]:
    # Parity requirements need a counterpart; a run without one does not list them at all.
    ids = (
        list(run.selection)
        if run.selection
        else [rid for rid, m in meta.items() if m.get("level") != PARITY]
    )
    for test in tests:
        ids += [rid for rid in test["requirements"] if rid not in ids]
    return ids


def _requirement(
    rid: str,
    tests: Sequence[Mapping[str, Any]],
    meta: Mapping[str, Any],
    run: RunInfo,
    manifest: Manifest | None,
    used: dict[Entry, str],
) -> dict[str, Any]:
    status = worst(t["status"] for t in tests) or SKIPPED
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
    examples = sum(int(t["examples"]) for t in tests)
    duration = sum(float(t["duration_s"]) for t in tests)
    numeric = [t for t in tests if t.get("max_rel_error") is not None]
    worst_numeric = max(numeric, key=lambda t: t["max_rel_error"], default=None)
    abs_errors = [t["max_abs_error"] for t in tests if t.get("max_abs_error") is not None]
    failing = [t for t in tests if t["status"] in FAILING | {XFAIL}]
    return {
        "id": rid,
        "title": meta.get("title", rid),
        "statement": meta.get("statement"),
        "level": meta.get("level"),
        "status": status,
        "message": message,
        "tests": [t["nodeid"] for t in tests],
        "examples": examples,
        "duration_s": round(duration, 4),
        "examples_per_s": round(examples / duration, 2) if duration > 0 and examples else None,
        "max_abs_error": max(abs_errors) if abs_errors else None,
        "max_rel_error": worst_numeric["max_rel_error"] if worst_numeric else None,
        "tolerance": worst_numeric["tolerance"] if worst_numeric else None,
        "expectation": expectation,
        "failures": [_failure(t, run.backend) for t in failing],
    }


def _message(status: str, tests: Sequence[Mapping[str, Any]], run: RunInfo) -> str | None:
    if not tests:
        if run.crash is not None:
            return f"not run: {run.crash['message']}"
        return "no test of this requirement was collected"
    if status == PASSED:
        return None
    first = next((t for t in tests if t["status"] == status), tests[0])
    return first.get("message")


def _failure(test: Mapping[str, Any], backend: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "nodeid": test["nodeid"],
        "status": test["status"],
        "message": test.get("message"),
        "program": test.get("program"),
        "check": test.get("check"),
        "reproducer": reproducer_source(test.get("program"), test.get("check"), backend),
        "details": test.get("details") or {},
    }


# -- the manifest's verdict ----------------------------------------------------------------------
def _expectations(
    manifest: Manifest | None,
    used: dict[Entry, str],
    run: RunInfo,
    tests: Sequence[Mapping[str, Any]],
    requirements: Sequence[Mapping[str, Any]],
    complete: bool,
) -> dict[str, Any] | None:
    if manifest is None:
        return None
    stale = []
    for entry in manifest.entries:
        outcome = used.get(entry)
        if entry.kind == OPT_OUT:
            matched = any(entry.matches_test(t["nodeid"], t["requirements"]) for t in tests)
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
    unexpected = [r["id"] for r in requirements if r["status"] == XPASS]
    unexpected += [t["nodeid"] for t in tests if t["status"] == XPASS]
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
