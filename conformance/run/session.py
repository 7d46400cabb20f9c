"""The plugin's recorder: streams, opt-outs and reports of one pytest session.

- `--conformance-results PATH`: one JSON line per test outcome (the plugin's `outcome_record`),
  written by the controlling process only, so `-n` (pytest-xdist) writes each test once.
- `--conformance-progress PATH`: heartbeats from the processes that run tests: the collected
  tests, each test's start and end, and each hypothesis example. `conformance run` reads them for
  its progress display and its per-example time limit.
- `--conformance-expect FILE`: opted-out tests are skipped without running.
- `--conformance-out DIR`: the reports of the run, written when the session ends (used when the
  suites run directly under pytest; `conformance run` writes them itself, crash or not).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

_heartbeat: Recorder | None = None


def heartbeat_example() -> None:
    """Called by the plugin once per hypothesis example."""
    if _heartbeat is not None:
        _heartbeat.example()


class Recorder:
    def __init__(self, config: pytest.Config) -> None:
        global _heartbeat
        self.config = config
        self.is_xdist_worker = hasattr(config, "workerinput")
        self.results_path: str | None = config.getoption("--conformance-results")
        self.progress_path: str | None = config.getoption("--conformance-progress")
        self.out_dir: str | None = config.getoption("--conformance-out")
        self.expect_path: str | None = config.getoption("--conformance-expect")
        self.records: list[dict[str, Any]] = []
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
        label = self.config.getoption("--backend") or "reference"
        manifest = manifest.for_backend(label if ":" in label else f"{label}:cpu")
        for item in items:
            rids = [rid for mark in item.iter_markers("requirement") for rid in mark.args]
            entry = manifest.opt_out_for(item.nodeid, rids)
            if entry is not None:
                item.add_marker(pytest.mark.skip(reason=f"opted out: {entry.reason}"))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.progress_path:
            return
        from conformance.report.model import catalogue_meta

        tests = [
            {
                "nodeid": item.nodeid,
                "requirements": [r for m in item.iter_markers("requirement") for r in m.args],
            }
            for item in session.items
        ]
        self._emit({"event": "collected", "tests": tests, "requirements": catalogue_meta()})

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self.current, self.examples = item.nodeid, 0
        self._emit({"event": "start", "nodeid": item.nodeid})
        try:
            yield
        finally:
            self._emit({"event": "end", "nodeid": item.nodeid})
            self.current = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_xdist_worker:
            return
        record = getattr(report, "conformance_record", None)
        if record is None and report.when == "???" and report.failed:
            # pytest-xdist's report for a test whose worker process died under it.
            record = _crashed_record(report)
            self._emit({"event": "crashed", "nodeid": report.nodeid, "message": record["message"]})
        if record is None:
            return
        if self.results_path:
            line = json.dumps(record, default=str) + "\n"
            fd = os.open(self.results_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                # Written as the outcome arrives: a crash mid-run loses only the test in flight.
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        if self.out_dir:
            self.records.append(record)

    # -- reports when run directly under pytest -------------------------------------------------
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._progress_fd is not None:
            os.close(self._progress_fd)
            self._progress_fd = None
        if not self.out_dir or self.is_xdist_worker:
            return
        from conformance.report import write_reports

        report = self._report()
        paths = write_reports(report, self.out_dir)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"conformance: reports written to {paths[-1].with_suffix('.*')}")

    def _report(self) -> dict[str, Any]:
        from conformance.judge.manifest import load_manifest
        from conformance.report import RunInfo, build_report, catalogue_meta
        from conformance.report.environment import host_environment, suite_info
        from conformance.run.probe import backend_info
        from conformance.spec import profiles

        meta = catalogue_meta()
        spec = self.config.getoption("--backend") or "reference"
        selection = self.config.getoption("--requirement") or None
        run = RunInfo(
            backend=backend_info(spec),
            profile=str(profiles.active["profile"]),
            seed=int(str(profiles.active["seed"])),
            started=datetime.fromtimestamp(self.started, timezone.utc).isoformat(),
            duration_s=time.time() - self.started,
            suite=suite_info([str(a) for a in self.config.args]),
            environment=host_environment(),
            selection=selection,
            workers=getattr(self.config.option, "numprocesses", None) or 1,
        )
        manifest = load_manifest(self.expect_path, meta) if self.expect_path else None
        return build_report(run, self.records, None, meta, manifest)


def _crashed_record(report: pytest.TestReport) -> dict[str, Any]:
    message = str(report.longrepr).strip().splitlines()
    return {
        "nodeid": report.nodeid,
        "requirements": [],
        "status": "error",
        "message": message[0] if message else "the worker process running this test died",
        "duration_s": 0.0,
        "examples": 0,
        "max_abs_error": None,
        "max_rel_error": None,
        "tolerance": None,
        "program": None,
        "check": None,
    }
