"""`conformance run`: every backend in its own worker process, its results streamed to disk.

1. All requested backends are validated before anything runs: each is loaded once in a short
   probe subprocess (an adapter that aborts or hangs while loading must not take the runner with
   it). A bad specifier, a missing engine, an unavailable device or an adapter that does not
   satisfy the protocol is a usage error (exit 2, nothing written); an adapter that raises,
   crashes or hangs while loading is a crash of that backend (its report says so, exit 3).
2. Each backend then runs in a worker: `python -m pytest` on the suites with the plugin's
   results stream and heartbeats. The runner follows both, shows progress, and kills the worker
   (its whole process group) when an example or the run exceeds its time limit.
3. Whatever happened, the backend's report is written (atomically), marked incomplete and naming
   the crash if the worker died; then the next backend runs. The matrix of the output directory
   comes last.

The probes are in conformance/run/probe.py, the worker in conformance/run/worker.py.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from conformance.errors import EXIT_CRASH, EXIT_NONCONFORMANCE, EXIT_OK, UsageError
from conformance.judge.manifest import Manifest, load_manifest
from conformance.report import RunInfo, build_report, catalogue_meta, load_report, write_reports
from conformance.report.environment import host_environment, suite_info
from conformance.report.matrix import write_matrix
from conformance.run.probe import Probe, probe_backends
from conformance.run.progress import Progress, summary_line
from conformance.run.worker import STARTUP_GRACE, WorkerState, run_worker
from conformance.spec import profiles

DEFAULT_SUITE = "suites"
DEFAULT_TIMEOUT_EXAMPLE = 300.0


@dataclass
class RunOptions:
    backends: list[str]
    profile: str = profiles.DEFAULT_PROFILE
    seed: int = profiles.DEFAULT_SEED
    out_dir: Path = Path("reports")
    expect: Path | None = None
    workers: int | str = 1
    requirements: list[str] | None = None
    timeout_example: float = DEFAULT_TIMEOUT_EXAMPLE
    timeout_run: float | None = None
    suite: list[str] = field(default_factory=lambda: [DEFAULT_SUITE])
    parity_with: str | None = None
    """A counterpart backend for the parity suite (the plugin's --parity-with)."""
    progress: TextIO = field(default_factory=lambda: sys.stderr)
    output: TextIO = field(default_factory=lambda: sys.stdout)


@dataclass
class BackendRun:
    label: str
    report: dict[str, Any]
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
    meta = catalogue_meta()
    unknown = sorted(set(options.requirements or ()) - set(meta))
    if unknown:
        raise UsageError(
            f"unknown requirement id(s): {', '.join(unknown)} (see `conformance list`)"
        )
    manifest = load_manifest(options.expect, meta) if options.expect else None
    if options.out_dir.exists() and not options.out_dir.is_dir():
        raise UsageError(f"--out {options.out_dir} exists and is not a directory")
    return meta, manifest


# -- the run --------------------------------------------------------------------------------------
def run(options: RunOptions) -> tuple[int, list[BackendRun]]:
    """Run every backend; (exit code, what was written). Raises UsageError before any work."""
    meta, manifest = validate(options)
    counterpart = [options.parity_with] if options.parity_with else []
    probes = probe_backends(
        [*options.backends, *counterpart], options.timeout_example + STARTUP_GRACE, Path.cwd()
    )
    usage = next((p.usage for p in probes if p.usage), None)
    if usage:
        raise UsageError(usage)
    counterpart_info = None
    if counterpart:
        parity = probes.pop()
        if parity.crash is not None:
            raise UsageError(f"--parity-with {parity.spec}: {parity.crash['message']}")
        counterpart_info = parity.info
    options.out_dir.mkdir(parents=True, exist_ok=True)
    done: list[BackendRun] = []
    seen: set[str] = set()
    with _terminate_as_interrupt():
        for probe in probes:
            label = probe.info["label"] if probe.info else probe.spec
            if label in seen:
                continue
            seen.add(label)
            done.append(_run_backend(probe, options, meta, manifest, counterpart_info))
            if (done[-1].report["crash"] or {}).get("kind") == "interrupted":
                break
    if done:
        write_matrix(matrix_reports(options.out_dir, done, options.progress), options.out_dir)
    if done and (done[-1].report["crash"] or {}).get("kind") == "interrupted":
        raise KeyboardInterrupt  # reports written; the CLI exits 130
    return exit_code([run.report for run in done]), done


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


def matrix_reports(
    out_dir: Path, done: Sequence[BackendRun], notes: TextIO
) -> list[tuple[Path, Mapping[str, Any]]]:
    """This run's reports and every other current report already in DIR (other backends run
    earlier, or by other jobs): the matrix of DIR, not of one run."""
    loaded: dict[Path, Mapping[str, Any]] = {run.paths[-1].resolve(): run.report for run in done}
    for path in sorted(out_dir.glob("*.json")):
        if path.resolve() in loaded:
            continue
        try:
            loaded[path.resolve()] = load_report(path)
        except UsageError as exc:
            if "no schema_version" not in str(exc):  # other JSON files are none of our business
                notes.write(f"matrix: leaving out {path}: {exc}\n")
    order = sorted(loaded.items(), key=lambda item: matrix_order(item[1]["backend"]["label"]))
    return [(path, report) for path, report in order]


def matrix_order(label: str) -> tuple[int, str]:
    # The executable specification, then PyTorch whose behaviour it encodes, then the others.
    first = {"reference": 0, "torch": 1}
    return (first.get(label.partition(":")[0], 2), label)


def _run_backend(
    probe: Probe,
    options: RunOptions,
    meta: Mapping[str, Any],
    manifest: Manifest | None,
    counterpart: dict[str, Any] | None = None,
) -> BackendRun:
    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    info = probe.info or _unloaded_info(probe.spec, probe.device)
    state, crash = WorkerState(), probe.crash
    if crash is None:
        progress = Progress(options.progress, info["label"], manifest)
        workdir = Path(tempfile.mkdtemp(prefix="conformance-worker-"))
        try:
            state, crash = run_worker(info["label"], options, workdir, progress)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    else:
        options.progress.write(f"{info['label']}: {crash['message']}\n")
    run_info = RunInfo(
        backend=info,
        profile=options.profile,
        seed=options.seed,
        started=started_at.isoformat(timespec="seconds"),
        duration_s=time.monotonic() - started,
        suite=suite_info(list(options.suite)),
        environment=host_environment(),
        selection=list(options.requirements) if options.requirements else None,
        workers=options.workers,
        crash=crash,
        in_flight=state.in_flight(),
        counterpart=counterpart,
    )
    report = build_report(
        run_info, list(state.records.values()), state.collected, state.meta or meta, manifest
    )
    paths = write_reports(report, options.out_dir)
    options.output.write(summary_line(report, str(paths[1])) + "\n")
    _expectation_lines(report, options.output)
    options.output.flush()
    return BackendRun(info["label"], report, paths)


def _unloaded_info(spec: str, device: str | None) -> dict[str, Any]:
    from conformance.backends.registry import parse_spec

    parsed = parse_spec(spec)
    device = device or parsed.device or "default"
    return {
        "label": f"{parsed.name}:{device}",
        "name": parsed.name,
        "adapter": parsed.target,
        "version": None,
        "device": device,
        "environment": {},
        "capabilities": None,
    }


def _expectation_lines(report: Mapping[str, Any], stream: TextIO) -> None:
    expectations = report.get("expectations")
    if not expectations:
        return
    label = report["backend"]["label"]
    for target in expectations["unexpected_passes"]:
        stream.write(f"{label}: unexpected pass: {target} (remove it from the manifest)\n")
    for entry in expectations["stale"]:
        target = entry.get("requirement") or entry.get("test")
        stream.write(f"{label}: stale manifest entry {target}: {entry['why']}\n")


def exit_code(reports: Sequence[Mapping[str, Any]]) -> int:
    if any(not r["complete"] for r in reports):
        return EXIT_CRASH
    if any(not r["summary"]["conforms"] for r in reports):
        return EXIT_NONCONFORMANCE
    return EXIT_OK
