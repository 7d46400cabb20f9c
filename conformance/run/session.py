"""The plugin's recorder: streams, opt-outs and reports of one pytest session.

- `--conformance-results PATH`: one JSON line per test outcome (the plugin's `outcome_record`, a
  `TestResult`, written by `result_line`), by the controlling process only, so `-n`
  (pytest-xdist) writes each test once.
- `--conformance-progress PATH`: heartbeats from the processes that run tests: the collected
  tests, each test's start and end, and each hypothesis example. `conformance run` reads them for
  its progress display and its per-example time limit.
- `--conformance-expect FILE`: opted-out tests are skipped without running.
- `--conformance-out DIR`: the reports of the run, published (conformance.report.publish) when
  the session ends (used when the suites run directly under pytest; `conformance run` publishes
  them itself, crash or not).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.report import statuses
from conformance.report.records import BackendReport, TestResult, result_line
from conformance.report.statuses import ERROR
from conformance.run.options import canonical_nodeid

_heartbeat: Recorder | None = None


def heartbeat_example() -> None:
    """Called by the plugin once per hypothesis example."""
    if _heartbeat is not None:
        _heartbeat.example()


def fatal(kind: str, nodeid: str, message: str) -> None:
    """Tell the runner that this worker stops for a fault of the run, not of the engine."""
    if _heartbeat is not None:
        _heartbeat._emit({"event": "fatal", "kind": kind, "nodeid": nodeid, "message": message})


class Recorder:
    def __init__(self, config: pytest.Config) -> None:
        global _heartbeat
        self.config = config
        self.is_xdist_worker = hasattr(config, "workerinput")
        self.results_path: str | None = config.getoption("--conformance-results")
        self.progress_path: str | None = config.getoption("--conformance-progress")
        self.out_dir: str | None = config.getoption("--conformance-out")
        self.expect_path: str | None = config.getoption("--conformance-expect")
        self.results: list[TestResult] = []
        """Kept for --conformance-out."""
        self.checked = 0
        """Tests that reached a verdict (passed or failing): zero means the session checked
        nothing, which must never read as conformance."""
        self.started = time.time()
        self.current: str | None = None
        self.examples = 0
        self._progress_fd: int | None = None
        if self.progress_path:
            _heartbeat = self

    # -- streams ------------------------------------------------------------------------------
    def _emit(self, event: dict[str, Any]) -> None:
        if not self.progress_path:
            return
        if self._progress_fd is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            self._progress_fd = os.open(self.progress_path, flags, 0o644)
        # One write per line on an O_APPEND descriptor: lines from several processes never mix.
        line = json.dumps({**event, "pid": os.getpid(), "t": round(time.time(), 3)}, default=str)
        os.write(self._progress_fd, (line + "\n").encode())

    def example(self) -> None:
        self.examples += 1
        self._emit({"event": "example", "nodeid": self.current, "n": self.examples})

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if not self.expect_path:
            return
        from conformance.errors import UsageError
        from conformance.judge.manifest import load_manifest
        from conformance.spec.requirements import BY_ID

        try:
            manifest = load_manifest(self.expect_path, BY_ID)
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        from conformance.run.under_test import backend_spec

        manifest = manifest.for_backend(backend_spec(self.config).label)
        for item in items:
            rids = [rid for mark in item.iter_markers("requirement") for rid in mark.args]
            entry = manifest.opt_out_for(canonical_nodeid(item.nodeid, config.rootpath), rids)
            if entry is not None:
                item.add_marker(pytest.mark.skip(reason=f"opted out: {entry.reason}"))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.progress_path:
            return
        from conformance.report.model import catalogue_meta

        tests = [
            {
                "nodeid": canonical_nodeid(item.nodeid, self.config.rootpath),
                "requirements": [r for m in item.iter_markers("requirement") for r in m.args],
            }
            for item in session.items
        ]
        self._emit({"event": "collected", "tests": tests, "requirements": catalogue_meta()})

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        nodeid = canonical_nodeid(item.nodeid, self.config.rootpath)
        self.current, self.examples = nodeid, 0
        self._emit({"event": "start", "nodeid": nodeid})
        try:
            yield
        finally:
            self._emit({"event": "end", "nodeid": nodeid})
            self.current = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_xdist_worker:
            return
        record = getattr(report, "conformance_record", None)
        result = TestResult.from_dict(record) if record is not None else None
        if result is None and report.when == "???" and report.failed:
            # pytest-xdist's report for a test whose worker process died under it.
            result = _crashed_result(report, canonical_nodeid(report.nodeid, self.config.rootpath))
            self._emit({"event": "crashed", "nodeid": result.nodeid, "message": result.message})
        if result is None:
            return
        status = statuses.BY_NAME.get(result.status)
        if status is not None and (status.passing or status.failing):
            self.checked += 1
        if self.results_path:
            line = result_line(result)
            fd = os.open(self.results_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                # Written as the outcome arrives: a crash mid-run loses only the test in flight.
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        if self.out_dir:
            self.results.append(result)

    # -- reports when run directly under pytest -------------------------------------------------
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._progress_fd is not None:
            os.close(self._progress_fd)
            self._progress_fd = None
        # Under `conformance run` (a results stream) the runner decides the exit code.
        driven = self.results_path is not None
        if not (driven or self.is_xdist_worker or self.checked) and session.exitstatus == 0:
            # Fail closed: nothing checked is never "conforms". pytest's own code for a session
            # that ran no test (its 4 means a usage error, so `conformance run`'s 4 is not used).
            session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(
                    "conformance: no requirement was checked (every test was skipped or not "
                    "applicable): exit 5"
                )
        if not self.out_dir or self.is_xdist_worker:
            return
        from conformance.report.publish import publish, report_path

        report = self._report()
        publish(report, self.out_dir)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            written = report_path(report, self.out_dir).with_suffix(".*")
            reporter.write_line(f"conformance: reports written to {written}")

    def _report(self) -> BackendReport:
        from conformance.judge.manifest import load_manifest
        from conformance.report import RunInfo, build_report, catalogue_meta
        from conformance.run.probe import backend_info
        from conformance.spec import profiles

        meta = catalogue_meta()
        from conformance.run.options import plugin_value
        from conformance.run.under_test import adapter_for, backend_spec

        spec = backend_spec(self.config)
        selection = plugin_value(self.config, "requirement") or None
        run = RunInfo.here(
            backend_info(spec, adapter_for(self.config, spec)),
            profile=str(profiles.active["profile"]),
            seed=int(str(profiles.active["seed"])),
            started=self.started,
            suite_target=[str(a) for a in self.config.args],
            selection=selection,
            workers=getattr(self.config.option, "numprocesses", None) or 1,
        )
        manifest = load_manifest(self.expect_path, meta) if self.expect_path else None
        return build_report(run, self.results, None, meta, manifest)


def _crashed_result(report: pytest.TestReport, nodeid: str) -> TestResult:
    message = str(report.longrepr).strip().splitlines()
    why = message[0] if message else "the worker process running this test died"
    return TestResult(nodeid, [], ERROR, why)
