"""The pytest plugin: `pytest --pyargs suites --backend torch:cpu`.

Provides the `backend` fixture (the adapter under test) and `reference` (the reference engine's
adapter), the `requirement` marker, hypothesis profiles, and turns a requirement whose capability
the backend lacks into "not applicable" (a skip whose reason starts with NOT_APPLICABLE).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pluggy
import pytest

from conformance.judge import evidence
from conformance.spec import requirements

NOT_APPLICABLE = "not applicable:"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance")
    group.addoption("--backend", default=None, help="backend under test, NAME[:DEVICE]")
    group.addoption(
        "--conformance-profile",
        default=None,
        choices=("ci", "thorough", "dev"),
        help="hypothesis profile (default: ci)",
    )
    group.addoption("--conformance-seed", type=int, default=None, help="hypothesis seed")
    group.addoption(
        "--requirement-fail-fast",
        action="store_true",
        help="once a test of a requirement fails, skip that requirement's remaining tests",
    )
    group.addoption(
        "--parity-with",
        default=None,
        help="also run the parity suite against this counterpart backend (e.g. torch:cpu)",
    )
    group.addoption(
        "--requirement",
        action="append",
        default=[],
        help="run only the tests of this requirement ID (repeatable)",
    )
    group.addoption(
        "--conformance-results",
        default=None,
        help="stream one JSON line per test outcome to this file (used by `conformance run`)",
    )
    group.addoption(
        "--conformance-progress",
        default=None,
        help="stream heartbeats (collected tests, test start/end, each example) to this file",
    )
    group.addoption(
        "--conformance-out",
        default=None,
        metavar="DIR",
        help="write the JSON, Markdown, HTML and JUnit reports of this run to DIR",
    )
    group.addoption(
        "--conformance-expect",
        default=None,
        metavar="FILE",
        help="expected-failures manifest (TOML); its opt-outs are not run",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): conformance requirement IDs checked")
    from conformance.spec import profiles

    profiles.register()
    profiles.load(config.getoption("--conformance-profile"), config.getoption("--conformance-seed"))
    from conformance.run import session

    config.pluginmanager.register(session.Recorder(config), "conformance-recorder")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> Any:
    from conformance.backends.registry import BackendError, load_backend

    spec = request.config.getoption("--backend") or "reference"
    try:
        return load_backend(spec)
    except BackendError as exc:
        pytest.exit(str(exc), returncode=2)


@pytest.fixture(scope="session")
def reference() -> Any:
    from conformance.backends.registry import load_backend

    return load_backend("reference")


def _requirement_ids(item: pytest.Item) -> list[str]:
    return [rid for mark in item.iter_markers("requirement") for rid in mark.args]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for rid in _requirement_ids(item):
            if rid not in requirements.BY_ID:
                raise pytest.UsageError(f"{item.nodeid}: unknown requirement id {rid!r}")
    wanted = set(config.getoption("--requirement"))
    if wanted:
        unknown = sorted(wanted - set(requirements.BY_ID))
        if unknown:
            raise pytest.UsageError(f"unknown requirement id(s): {', '.join(unknown)}")
        keep = [i for i in items if wanted & set(_requirement_ids(i))]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


FAILED_REQUIREMENTS = pytest.StashKey[set[str]]()


@pytest.hookimpl(trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """After fixtures are set up: skip as not applicable when the backend lacks a capability."""
    if item.config.getoption("--requirement-fail-fast"):
        failed = item.session.stash.get(FAILED_REQUIREMENTS, set())
        already = sorted(failed & set(_requirement_ids(item)))
        if already:
            pytest.skip(f"{', '.join(already)} already failed (--requirement-fail-fast)")
    funcargs = getattr(item, "funcargs", {})
    if "backend" not in funcargs:
        return
    adapter = funcargs["backend"]
    for rid in _requirement_ids(item):
        needs = requirements.BY_ID[rid].capabilities
        lacking = [c for c in needs if not adapter.capabilities.has(c)]
        if lacking:
            notes = [adapter.capabilities.notes.get(c, "") for c in lacking]
            why = "; ".join(n for n in notes if n) or "the engine does not declare it"
            pytest.skip(f"{NOT_APPLICABLE} {rid} needs {', '.join(lacking)} ({why})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _count_examples(item)
    evidence.start()
    try:
        yield
    finally:
        item.stash[COLLECTED] = evidence.stop()


COLLECTED = pytest.StashKey[Any]()


def _count_examples(item: pytest.Item) -> None:
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    if handle is None or getattr(handle.inner_test, "_counted", False):
        return
    inner = handle.inner_test

    def counted(*args: Any, **kwargs: Any) -> Any:
        evidence.example()
        from conformance.run import session

        session.heartbeat_example()
        return inner(*args, **kwargs)

    counted._counted = True  # type: ignore[attr-defined]
    handle.inner_test = counted


def outcome_record(item: pytest.Item, report: pytest.TestReport) -> dict[str, Any]:
    """One test's outcome as the report writers consume it."""
    collected: evidence.Collector | None = item.stash.get(COLLECTED, None)
    record: dict[str, Any] = {
        "nodeid": item.nodeid,
        "requirements": _requirement_ids(item),
        "status": "passed",
        "message": None,
        "duration_s": round(report.duration, 4),
        "examples": collected.examples if collected else 0,
        "max_abs_error": collected.max_abs_error if collected else None,
        "max_rel_error": collected.max_rel_error if collected else None,
        "tolerance": collected.tolerance if collected else None,
        "program": None,
        "check": None,
    }
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        record["status"] = "not-applicable" if reason.startswith(NOT_APPLICABLE) else "skipped"
        record["message"] = reason
    elif report.failed:
        exc = _representative(item.stash.get(FAILURE, None))
        record["status"] = (
            "failed" if report.when == "call" and isinstance(exc, AssertionError) else "error"
        )
        record["message"] = _one_line(exc) if exc is not None else str(report.longrepr)[-2000:]
        if isinstance(exc, evidence.Nonconformance):
            record["program"] = exc.program.to_dict() if exc.program else None
            record["check"] = exc.check
            record["details"] = exc.details
    return record


def _leaves(exc: BaseException) -> list[BaseException]:
    nested = getattr(exc, "exceptions", None)  # an ExceptionGroup (hypothesis: several bugs)
    if not isinstance(nested, tuple):
        return [exc]
    return [leaf for inner in nested for leaf in _leaves(inner)]


def _representative(exc: BaseException | None) -> BaseException | None:
    """The exception that speaks for a failure. Where hypothesis found several distinct failing
    examples it raises a group: a demonstrated nonconformance speaks first, then any assertion;
    a group of engine crashes only is an error."""
    if exc is None:
        return None
    leaves = _leaves(exc)
    for kind in (evidence.Nonconformance, AssertionError):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, AssertionError) else text


FAILURE = pytest.StashKey[BaseException]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed:
        item.stash[FAILURE] = call.excinfo.value
        failed = item.session.stash.setdefault(FAILED_REQUIREMENTS, set())
        failed.update(_requirement_ids(item))
    done = report.when == "call" or (report.when == "setup" and not report.passed)
    if not done:
        return
    import json

    # Attached to the report as plain JSON data, so that it travels with the report from an
    # xdist worker to the controller; conformance.run.session writes it (once, in the controller).
    record = json.loads(json.dumps(outcome_record(item, report), default=str))
    report.conformance_record = record  # type: ignore[attr-defined]
