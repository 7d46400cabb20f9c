"""`conformance run`: every backend in its own worker process, its results streamed to disk.

1. All requested backends are validated before anything runs: each is loaded once in a short
   probe subprocess (an adapter that aborts or hangs while loading must not take the runner with
   it; this process never imports an engine). Without --backend, probes find every installed
   backend's available devices the same way. A bad specifier, a missing engine, an unavailable
   device or an adapter that does not satisfy the protocol is a usage error (exit 2, nothing
   written); an adapter that raises, crashes or hangs while loading is a crash of that backend
   (its report says so, exit 3).
2. Each backend then runs in a worker: `python -m pytest` on the suites with the plugin's
   results stream and heartbeats. The runner follows both, shows progress, and kills the worker
   (its whole process group) when an example or the run exceeds its time limit.
3. Whatever happened, the backend's report is published (conformance.report.publish: every
   format, atomically, and the matrix of the output directory), marked incomplete and naming
   the crash if the worker died; then the next backend runs.

The output folder is checked before anything runs: a non-empty folder that holds no earlier
run's output (its marker file or a JSON report) is refused unless --force, so a mistyped --out
never overwrites someone's files. The exit code fails closed: a run that checked too little
(nothing applied or ran, fewer than --min-applicable applied, a --require'd requirement not
checked) exits 4, never 0.

The probes are in conformance/run/probe.py, the worker in conformance/run/worker.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from conformance.backends.registry import DEFAULT_BACKEND, BackendSpec, installed_engines
from conformance.errors import (
    EXIT_CRASH,
    EXIT_NONCONFORMANCE,
    EXIT_OK,
    EXIT_UNCHECKED,
    UsageError,
)
from conformance.judge.manifest import Manifest, load_manifest
from conformance.report import BackendReport, RunInfo, TestResult, build_report, catalogue_meta
from conformance.report.files import atomic_write_text
from conformance.report.model import CHECKED, checked
from conformance.report.publish import publish, report_path
from conformance.report.statuses import FAILING
from conformance.run.options import DEFAULT_SUITE, RunOptions
from conformance.run.probe import Probe, probe_backends, unloaded_info
from conformance.run.progress import Progress, summary_line
from conformance.run.worker import STARTUP_GRACE, WorkerState, run_worker, suite_targets
from conformance.spec import profiles

__all__ = ["DEFAULT_SUITE", "MARKER", "BackendRun", "RunOptions", "exit_code", "run"]

MARKER = ".conformance-output"
"""Written into every output folder of `conformance run`: a later run may write there again."""


@dataclass
class BackendRun:
    label: str
    report: BackendReport
    paths: list[Path]


# -- validation -----------------------------------------------------------------------------------
def validate(options: RunOptions) -> tuple[dict[str, dict[str, Any]], Manifest | None]:
    """Check everything that does not need a backend; UsageError on the first problem."""
    if options.profile not in profiles.PROFILES:
        raise UsageError(f"unknown profile {options.profile!r}; use {', '.join(profiles.PROFILES)}")
    if options.timeout_example <= 0 or (
        options.timeout_run is not None and options.timeout_run <= 0
    ):
        raise UsageError("time limits must be positive numbers of seconds")
    if options.workers != "auto" and int(options.workers) < 1:
        raise UsageError("-n needs at least 1 worker")
    if options.min_applicable < 0:
        raise UsageError("--min-applicable needs a number of requirements, 0 or more")
    meta = catalogue_meta()
    unknown = sorted(set(options.requirements or ()) - set(meta))
    unknown += sorted(set(options.required or ()) - set(meta) - set(unknown))
    if unknown:
        raise UsageError(
            f"unknown requirement id(s): {', '.join(unknown)} (see `conformance list`)"
        )
    unselected = sorted(set(options.required or ()) - set(options.requirements or meta))
    if unselected:
        raise UsageError(
            f"--require {', '.join(unselected)}: not among the --requirement ids selected"
        )
    if options.db is not None and options.db.exists() and not options.db.is_dir():
        raise UsageError(
            f"--db {options.db} is a file; the example database is a folder (new or existing)"
        )
    manifest = load_manifest(options.expect, meta) if options.expect else None
    suite_targets(list(options.suite), Path.cwd())
    check_out_dir(options.out_dir, force=options.force)
    return meta, manifest


def check_out_dir(
    out_dir: Path, *, force: bool, flags: tuple[str, str] = ("--out", "--force")
) -> None:
    """Refuse an output folder whose files are not an earlier run's (unless `force`). `flags`
    name the options in the message: `conformance run`'s, or the plugin's."""
    out_flag, force_flag = flags
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_flag} {out_dir} exists and is not a directory; name a folder")
    existing = next(p for p in (out_dir.absolute(), *out_dir.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"{out_flag} {out_dir} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"{out_flag} {out_dir}: {existing} is not writable; name a folder you can write to"
        )
    if force or not out_dir.is_dir() or earlier_output(out_dir):
        return
    if any(out_dir.iterdir()):
        raise UsageError(
            f"{out_flag} {out_dir} is a non-empty folder that holds no conformance reports; "
            f"name an empty or new folder, or pass {force_flag} to write into it anyway"
        )


def earlier_output(out_dir: Path) -> bool:
    """Whether `out_dir` holds an earlier conformance output: the marker `run` leaves, or a JSON
    report (a folder that `publish` wrote, such as the repository's reports/)."""
    if (out_dir / MARKER).is_file():
        return True
    for path in out_dir.glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and {"schema_version", "backend", "requirements"} <= set(data):
            return True
    return False


# -- the run --------------------------------------------------------------------------------------
def run(options: RunOptions) -> tuple[int, list[BackendRun]]:
    """Run every backend; (exit code, what was written). Raises UsageError before any work."""
    meta, manifest = validate(options)
    probes, counterpart_info = load_backends(options)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        options.out_dir / MARKER,
        "Output of `conformance run`; a later run may overwrite the reports in this folder.\n",
    )
    done: list[BackendRun] = []
    seen: set[str] = set()
    with _terminate_as_interrupt():
        for probe in probes:
            if probe.label in seen:
                continue
            seen.add(probe.label)
            done.append(_run_backend(probe, options, meta, manifest, counterpart_info))
            if _interrupted(done[-1].report):
                break
    if done and _interrupted(done[-1].report):
        raise KeyboardInterrupt  # reports written; the CLI exits 130
    reports = [run.report for run in done]
    for line in unchecked(reports, options.min_applicable, options.required or ()):
        options.output.write(line + "\n")
    options.output.flush()
    return exit_code(reports, options.min_applicable, options.required or ()), done


def load_backends(options: RunOptions) -> tuple[list[Probe], dict[str, Any] | None]:
    """Each backend of the run loaded in a probe subprocess, and the parity counterpart's report
    facts; UsageError if one cannot run as asked."""
    timeout = options.timeout_example + STARTUP_GRACE
    counterpart = [options.parity_with] if options.parity_with else []
    if options.backends:
        probes = probe_backends([*options.backends, *counterpart], timeout, Path.cwd())
    else:
        probes = discover(options, timeout) + probe_backends(counterpart, timeout, Path.cwd())
    problem = next((p for p in probes if p.usage or p.unavailable), None)
    if problem is not None:
        raise UsageError(problem.usage or problem.unavailable or "")
    if not counterpart:
        return probes, None
    parity = probes.pop()
    if parity.crash is not None:
        raise UsageError(f"--parity-with {parity.label}: {parity.crash['message']}")
    return probes, parity.info


def discover(options: RunOptions, timeout: float) -> list[Probe]:
    """A run without --backend: every installed backend on every device available here. An
    engine that crashes while loading is part of the run (its report says so, exit 3); one that
    cannot load is left out with a line saying why, except the reference, which must run."""
    found = []
    for probe in probe_backends(installed_engines(), timeout, Path.cwd(), every_device=True):
        if probe.info is not None or probe.crash is not None:
            found.append(probe)
        elif probe.usage is not None and probe.spec.engine == DEFAULT_BACKEND:
            raise UsageError(probe.usage)
        elif probe.usage is not None:
            options.progress.write(f"leaving out {probe.spec.engine}: {probe.usage}\n")
    return found


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) stops the run like Ctrl-C: the worker is killed and the
    report of the backend in progress is written, marked incomplete."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(report: BackendReport) -> bool:
    return report.crash is not None and report.crash.kind == "interrupted"


def _run_backend(
    probe: Probe,
    options: RunOptions,
    meta: Mapping[str, Any],
    manifest: Manifest | None,
    counterpart: dict[str, Any] | None = None,
) -> BackendRun:
    started = time.time()
    info = probe.info or _unloaded_info(probe.spec, probe.device)
    state, crash = WorkerState(), probe.crash
    if crash is None:
        progress = Progress(options.progress, info["label"], manifest)
        workdir = Path(tempfile.mkdtemp(prefix="conformance-worker-"))
        try:
            state, crash = run_worker(probe.spec, options, workdir, progress)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    else:
        options.progress.write(f"{info['label']}: {crash['message']}\n")
    run_info = RunInfo.here(
        info,
        profile=options.profile,
        seed=options.seed,
        started=started,
        suite_target=options.suite,
        selection=options.requirements,
        workers=options.workers,
        crash=crash,
        in_flight=state.in_flight(),
        counterpart=counterpart,
    )
    results = [TestResult.from_dict(record) for record in state.records.values()]
    report = build_report(run_info, results, state.collected, state.meta or meta, manifest)
    paths = publish(report, options.out_dir, notes=options.progress)
    html = report_path(report, options.out_dir, "html")
    options.output.write(summary_line(report, str(html)) + "\n")
    _expectation_lines(report, options.output)
    options.output.flush()
    return BackendRun(info["label"], report, paths)


def _unloaded_info(spec: BackendSpec, device: str | None) -> dict[str, Any]:
    return unloaded_info(spec.on(device or spec.device or "default"))


def _expectation_lines(report: BackendReport, stream: TextIO) -> None:
    expectations = report.expectations
    if not expectations:
        return
    label = report.label
    for target in expectations["unexpected_passes"]:
        stream.write(f"{label}: unexpected pass: {target} (remove it from the manifest)\n")
    for entry in expectations["stale"]:
        target = entry.get("requirement") or entry.get("test")
        stream.write(f"{label}: stale manifest entry {target}: {entry['why']}\n")


def exit_code(
    reports: Sequence[BackendReport], min_applicable: int = 1, required: Sequence[str] = ()
) -> int:
    """3 a crash, else 1 a failure, else 4 too little checked (`unchecked`), else 0."""
    if any(not r.complete for r in reports):
        return EXIT_CRASH
    if any(r.summary.requirements.get(s, 0) for r in reports for s in FAILING):
        return EXIT_NONCONFORMANCE
    if not reports or unchecked(reports, min_applicable, required):
        return EXIT_UNCHECKED
    return EXIT_OK


def unchecked(
    reports: Sequence[BackendReport], min_applicable: int = 1, required: Sequence[str] = ()
) -> list[str]:
    """Why the run checked too little to conform: one line per reason and backend."""
    lines = []
    for report in reports:
        summary, label = report.summary, report.label
        if summary.applicable < max(min_applicable, 1):
            lines.append(
                f"{label}: {summary.applicable} of {summary.total} requirements apply, "
                f"fewer than --min-applicable {max(min_applicable, 1)}"
            )
        elif checked(summary.requirements) == 0:
            lines.append(f"{label}: none of {summary.applicable} applicable requirements ran")
        for rid in required:
            verdict = report.requirement(rid)
            status = verdict.status if verdict is not None else "not run"
            if status not in CHECKED:
                lines.append(f"{label}: required {rid} was {status}, not checked")
    return lines
