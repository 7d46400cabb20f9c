"""The pytest plugin: `pytest --pyargs suites --conformance-backend torch:cpu`.

Installed under pytest11, so every pytest run in its environment loads it; it acts only when
asked (`asked_for`): when the session runs the bundled suites (a path or `--pyargs` module inside
the `suites` package) or when one of its own `--conformance-*` options is given. Otherwise it
adds its options and nothing else: no marker, fixture, hook or hypothesis setting.

When asked (`ConformanceSession`), it provides the `backend` fixture (the adapter under test),
`reference` (the reference engine's adapter) and `counterpart` (the parity suite's other
backend), the `requirement` marker, loads the conformance hypothesis profile for this session
only (conformance/spec/profiles.py says how hypothesis's own options take precedence), and turns
a requirement whose capability the backend lacks into "not applicable" (a skip whose reason
starts with NOT_APPLICABLE). Its options are declared in conformance/run/options.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from conformance.judge import evidence
from conformance.report import statuses
from conformance.report.records import TestResult, result_line
from conformance.run.options import (
    DEFAULT_SUITE,
    PLUGIN_OPTIONS,
    add_plugin_options,
    canonical_nodeid,
    package_dir,
    plugin_value,
)
from conformance.spec import requirements

NOT_APPLICABLE = "not applicable:"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_plugin_options(parser.getgroup("autograd-conformance").addoption)


BUNDLED_SUITES = DEFAULT_SUITE


def asked_for(config: pytest.Config) -> bool:
    """Whether this is a conformance session: one of the plugin's own options is given, or a
    target of the run lies inside the bundled suites."""
    given = any(plugin_value(config, name) not in (None, False, []) for name in PLUGIN_OPTIONS)
    return given or any(_inside_suites(target, config) for target in config.args)


def _inside_suites(target: str, config: pytest.Config) -> bool:
    suites = package_dir(BUNDLED_SUITES)
    if suites is None:
        return False
    name = target.split("::")[0]
    if config.option.pyargs and not Path(name).suffix:
        if name != BUNDLED_SUITES and not name.startswith(BUNDLED_SUITES + "."):
            return False
        found = package_dir(name)
    else:
        found = (config.invocation_params.dir / name).resolve()
    # Inside, not above: a project folder that holds a virtual environment holds the suites too.
    return found is not None and (found == suites or suites in found.parents)


# trylast: after hypothesis's own plugin has applied --hypothesis-profile and --hypothesis-seed.
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not asked_for(config):
        return
    config.addinivalue_line("markers", "requirement(*ids): conformance requirement IDs checked")
    from conformance.spec import profiles

    try:
        undo = profiles.activate(
            plugin_value(config, "profile"),
            plugin_value(config, "seed"),
            plugin_value(config, "db"),
            user_profile=config.getoption("hypothesis_profile", None),
            user_seed=config.getoption("hypothesis_seed", None),
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    _check_out_dir(config)
    from conformance.run import session

    config.pluginmanager.register(ConformanceSession(undo), "conformance-session")
    config.pluginmanager.register(session.Recorder(config), "conformance-recorder")


def _check_out_dir(config: pytest.Config) -> None:
    """`--conformance-out` refuses a folder of other files, as `conformance run --out` does."""
    out = plugin_value(config, "out")
    if out is None or hasattr(config, "workerinput"):
        return
    from conformance.errors import UsageError
    from conformance.run.runner import check_out_dir

    flags = (PLUGIN_OPTIONS["out"].plugin_flag, PLUGIN_OPTIONS["force"].plugin_flag)
    try:
        check_out_dir(Path(out), force=bool(plugin_value(config, "force")), flags=flags)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


class ConformanceSession:
    """The plugin's fixtures and hooks, registered only for a conformance session."""

    def __init__(self, undo: Callable[[], None]) -> None:
        self._undo = undo

    def pytest_unconfigure(self) -> None:
        self._undo()  # for a pytest run inside a process that goes on (pytester, an IDE)

    @pytest.fixture(scope="session")
    @staticmethod
    def backend(request: pytest.FixtureRequest) -> Any:
        from conformance.run.under_test import adapter_for, backend_spec

        return adapter_for(request.config, backend_spec(request.config))

    @pytest.fixture(scope="session")
    @staticmethod
    def reference(request: pytest.FixtureRequest) -> Any:
        from conformance.backends.registry import DEFAULT_BACKEND, parse_spec
        from conformance.run.under_test import adapter_for

        return adapter_for(request.config, parse_spec(DEFAULT_BACKEND))

    @pytest.fixture(scope="session")
    @staticmethod
    def counterpart(request: pytest.FixtureRequest) -> Any:
        """The parity suite's counterpart backend (--conformance-parity-with)."""
        from conformance.run.under_test import adapter_for, counterpart_spec

        spec = counterpart_spec(request.config)
        if spec is None:
            pytest.skip("no counterpart backend: give --conformance-parity-with SPEC")
        return adapter_for(request.config, spec)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        _select_requirements(config, items)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        _skip_not_applicable(item)

    # trylast: innermost of the wrappers, so that hypothesis's own plugin has set its statistics
    # callback already and `_valid_examples` can pass the statistics on to it.
    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        yield from _run_test(item)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
        outcome = yield
        _attach_record(item, call, outcome.get_result())


def _requirement_ids(item: pytest.Item) -> list[str]:
    return [rid for mark in item.iter_markers("requirement") for rid in mark.args]


def _select_requirements(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for rid in _requirement_ids(item):
            if rid not in requirements.BY_ID:
                raise pytest.UsageError(f"{item.nodeid}: unknown requirement id {rid!r}")
    wanted = set(plugin_value(config, "requirement"))
    if wanted:
        unknown = sorted(wanted - set(requirements.BY_ID))
        if unknown:
            raise pytest.UsageError(f"unknown requirement id(s): {', '.join(unknown)}")
        keep = [i for i in items if wanted & set(_requirement_ids(i))]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


FAILED_REQUIREMENTS = pytest.StashKey[set[str]]()


def _skip_not_applicable(item: pytest.Item) -> None:
    """After fixtures are set up: skip as not applicable when the backend lacks a capability."""
    if plugin_value(item.config, "requirement-fail-fast"):
        failed = item.session.stash.get(FAILED_REQUIREMENTS, set())
        already = sorted(failed & set(_requirement_ids(item)))
        if already:
            flag = PLUGIN_OPTIONS["requirement-fail-fast"].plugin_flag
            pytest.skip(f"{', '.join(already)} already failed ({flag})")
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


def _run_test(item: pytest.Item) -> Iterator[None]:
    _count_examples(item)
    evidence.start()
    try:
        with _valid_examples():
            yield
    finally:
        item.stash[COLLECTED] = evidence.stop()


COLLECTED = pytest.StashKey[Any]()


def _count_examples(item: pytest.Item) -> None:
    """A heartbeat per call of the hypothesis test's body (the runner's liveness signal). The
    report's count of examples comes from hypothesis's statistics instead (`_valid_examples`):
    a call may be a rejected draw or a shrink step, which are not examples."""
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    if handle is None or getattr(handle.inner_test, "_counted", False):
        return
    inner = handle.inner_test

    def counted(*args: Any, **kwargs: Any) -> Any:
        from conformance.run import session

        session.heartbeat_example()
        return inner(*args, **kwargs)

    counted._counted = True  # type: ignore[attr-defined]
    handle.inner_test = counted


@contextlib.contextmanager
def _valid_examples() -> Iterator[None]:
    """While a test runs, hypothesis's statistics of it go to `evidence.note_statistics` (valid
    examples of the generation phases only) and on to whoever collected them before."""
    from hypothesis.statistics import collector

    previous = collector.value

    def note(statistics: Any) -> None:
        evidence.note_statistics(statistics)
        if previous is not None:
            previous(statistics)

    # hypothesis declares the collector as DynamicVariable(None); its own pytest plugin sets a
    # callback the same way.
    with collector.with_value(note):  # type: ignore[arg-type]
        yield


def outcome_record(item: pytest.Item, report: pytest.TestReport) -> TestResult:
    """One test's outcome as the report writers consume it."""
    collected: evidence.Collector | None = item.stash.get(COLLECTED, None)
    result = TestResult(
        nodeid=canonical_nodeid(item.nodeid, item.config.rootpath),
        requirements=_requirement_ids(item),
        status=statuses.PASSED,
        duration_s=round(report.duration, 4),
        examples=collected.examples if collected else 0,
        max_abs_error=collected.max_abs_error if collected else None,
        max_rel_error=collected.max_rel_error if collected else None,
        tolerance=collected.tolerance if collected else None,
    )
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        not_applicable = reason.startswith(NOT_APPLICABLE)
        result.status = statuses.NOT_APPLICABLE if not_applicable else statuses.SKIPPED
        result.message = reason
    elif report.failed:
        exc = _representative(item.stash.get(FAILURE, None))
        result.status = failure_status(report.when, exc)
        result.message = _one_line(exc) if exc is not None else str(report.longrepr)[-2000:]
        if isinstance(exc, evidence.Nonconformance):
            result.program = exc.program.to_dict() if exc.program else None
            result.check = exc.check
            result.details = exc.details
    return result


def failure_status(when: str, exc: BaseException | None) -> str:
    """`failed` for a check that failed (an AssertionError, `Nonconformance` included, raised
    while the test ran): the engine departed from PyTorch, an engine exception inside a check
    included, since the check turns it into a `Nonconformance`. `error` for anything else: an
    exception outside the checks, or in a fixture's setup. See conformance.report.statuses."""
    return statuses.FAILED if when == "call" and isinstance(exc, AssertionError) else statuses.ERROR


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


def _attach_record(
    item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
) -> None:
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
    record = json.loads(result_line(outcome_record(item, report)))
    report.conformance_record = record  # type: ignore[attr-defined]
    exc = item.stash.get(FAILURE, None)
    if exc is not None and any(isinstance(leaf, MemoryError) for leaf in _leaves(exc)):
        # Out of memory says nothing about the engine, and what runs next in this process is
        # not trustworthy: the worker stops and the runner reports the run as incomplete.
        from conformance.run import session

        session.fatal("memory", record["nodeid"], _one_line(exc))
        item.session.shouldstop = f"out of memory in {record['nodeid']}"
