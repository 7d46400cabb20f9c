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
   the crash if the worker died; then the next backend runs. A matrix of the run comes last.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from conformance import profiles
from conformance.errors import EXIT_CRASH, EXIT_NONCONFORMANCE, EXIT_OK, UsageError
from conformance.manifest import Manifest, load_manifest
from conformance.progress import Progress, summary_line
from conformance.report import RunInfo, build_report, catalogue_meta, write_reports
from conformance.report.environment import host_environment, suite_info
from conformance.report.matrix import write_matrix
from conformance.streams import JsonLines, tail

DEFAULT_SUITE = "suites"
DEFAULT_TIMEOUT_EXAMPLE = 300.0
STARTUP_GRACE = 60.0
"""Added to the example limit while a worker starts: interpreter, engine import, collection."""
PROBE_MARK = "CONFORMANCE-PROBE "
_POLL_S = 0.1

_PYTEST_EXIT = {
    2: "interrupted (a collection error, or pytest.exit)",
    3: "pytest internal error",
    4: "pytest usage error",
}


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


def backend_info(spec: str) -> dict[str, Any]:
    """Load the backend in this process; what its report says about it. Raises BackendError."""
    from conformance.registry import load_backend, parse_spec

    parsed = parse_spec(spec)
    adapter = load_backend(parsed)
    return {
        "label": f"{parsed.name}:{adapter.device}",
        "name": parsed.name,
        "adapter": f"{type(adapter).__module__}:{type(adapter).__qualname__}",
        "version": str(adapter.version()),
        "device": adapter.device,
        "environment": dict(adapter.environment()),
        "capabilities": _capabilities(adapter.capabilities),
    }


def _capabilities(capabilities: Any) -> dict[str, Any]:
    import dataclasses

    facts = {}
    for f in dataclasses.fields(capabilities):
        value = getattr(capabilities, f.name)
        facts[f.name] = sorted(value) if isinstance(value, frozenset) else value
    facts["notes"] = dict(capabilities.notes)
    return facts


@dataclass
class Probe:
    spec: str
    info: dict[str, Any] | None = None
    usage: str | None = None
    crash: dict[str, Any] | None = None
    device: str | None = None
    """The device it was to run on, when known even though loading failed."""


def probe_backends(specs: Sequence[str], timeout: float, cwd: Path) -> list[Probe]:
    """Load every backend in its own subprocess, all at once; collect what each said."""
    from conformance.registry import BackendError, parse_spec

    for spec in specs:
        try:
            parse_spec(spec)
        except BackendError as exc:
            raise UsageError(str(exc)) from None
    env = _worker_env(cwd)
    with contextlib.ExitStack() as files:
        running = []
        for spec in specs:
            out, log = (files.enter_context(tempfile.TemporaryFile()) for _ in range(2))
            command = [sys.executable, "-m", "conformance.runner", "--probe", spec]
            popen = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=out, stderr=log, start_new_session=True
            )
            running.append((spec, popen, out, log))
        deadline = time.monotonic() + timeout
        probes = []
        for spec, popen, out, log in running:
            try:
                popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(popen)
                popen.wait()
                what = f"hung while loading (no answer in {timeout:g} s)"
                probes.append(Probe(spec, crash=_load_crash("hang", what, log)))
                continue
            out.seek(0)
            answer = out.read().decode(errors="replace")
            probes.append(_probe_result(spec, popen.returncode, answer, log))
    return probes


def _probe_result(spec: str, returncode: int, out: str, log: Any) -> Probe:
    for line in out.splitlines():
        if line.startswith(PROBE_MARK):
            answer = json.loads(line[len(PROBE_MARK) :])
            if "info" in answer:
                return Probe(spec, info=answer["info"])
            if "usage" in answer:
                return Probe(spec, usage=answer["usage"])
            crash = _load_crash("exception", answer["crash"], log)
            return Probe(spec, crash=crash, device=answer.get("device"))
    if returncode < 0:
        name = _signal_name(-returncode)
        what = f"crashed while loading: killed by {name}"
        return Probe(spec, crash=_load_crash("signal", what, log, name))
    what = f"crashed while loading: the process exited with code {returncode}"
    return Probe(spec, crash=_load_crash("exit", what, log))


def _load_crash(kind: str, what: str, log: Any, signal_name: str | None = None) -> dict[str, Any]:
    log.seek(0)
    text = log.read().decode("utf-8", errors="replace")
    log_tail = "\n".join(text.rstrip().splitlines()[-40:])[-6000:] or None
    return {
        "kind": kind,
        "phase": "load",
        "message": what,
        "test": None,
        "signal": signal_name,
        "returncode": None,
        "log_tail": log_tail,
    }


def _probe_main(spec: str) -> int:
    """In the probe subprocess: load the backend and answer on one marked stdout line."""
    from conformance.protocol import DeviceUnavailable, EngineMissing
    from conformance.registry import BackendError, adapter_class, parse_spec

    device = None
    try:
        parsed = parse_spec(spec)
        device = parsed.device or adapter_class(parsed).devices[0]
        answer: dict[str, Any] = {"info": backend_info(spec)}
    except BackendError as exc:
        cause = exc.__cause__
        user_error = cause is None or isinstance(
            cause, (ImportError, DeviceUnavailable, EngineMissing)
        )
        answer = {"usage": str(exc)} if user_error else {"crash": f"crashed while loading: {exc}"}
    except Exception as exc:  # noqa: BLE001 - any exception of the adapter is its crash
        lines = str(exc).strip().splitlines()
        detail = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
        answer = {"crash": f"crashed while loading: {detail}"}
    answer["device"] = device
    print(PROBE_MARK + json.dumps(answer, default=str), flush=True)
    return 0


# -- one worker -----------------------------------------------------------------------------------
@dataclass
class WorkerState:
    """What the runner has read from a worker's streams so far."""

    collected: list[dict[str, Any]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_test: dict[int, list[Any]] = field(default_factory=dict)
    """pid -> [nodeid, examples so far, time of its last heartbeat]"""
    last_event: float = field(default_factory=time.monotonic)
    any_event: bool = False
    crashed: list[str] = field(default_factory=list)
    """Tests whose xdist worker process died under them."""
    _by_requirement: dict[str, list[str]] | None = None

    def take(self, records: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        for record in records:
            self.records[record["nodeid"]] = record
        for event in events:
            self.any_event, self.last_event = True, now
            kind, pid = event.get("event"), int(event.get("pid", 0))
            if kind == "collected":
                tests = list(event.get("tests", []))
                if self.collected is None or len(tests) > len(self.collected):
                    self.collected, self._by_requirement = tests, None
                    self.meta = dict(event.get("requirements") or {})
            elif kind == "start":
                self.in_test[pid] = [event.get("nodeid"), 0, now]
            elif kind == "example":
                self.in_test[pid] = [event.get("nodeid"), int(event.get("n", 0)), now]
            elif kind == "end":
                self.in_test.pop(pid, None)
            elif kind == "crashed":
                nodeid = event.get("nodeid")
                self.crashed.append(str(nodeid))
                self.in_test = {p: t for p, t in self.in_test.items() if t[0] != nodeid}
        if records:
            self.last_event = now

    def requirement_tests(self) -> dict[str, list[str]]:
        if self._by_requirement is None:
            grouped: dict[str, list[str]] = {}
            for test in self.collected or ():
                for rid in test.get("requirements", []):
                    grouped.setdefault(rid, []).append(test["nodeid"])
            self._by_requirement = grouped
        return self._by_requirement

    def examples(self) -> int:
        done = sum(int(r.get("examples") or 0) for r in self.records.values())
        return done + sum(
            int(n) for nodeid, n, _ in self.in_test.values() if nodeid not in self.records
        )

    def in_flight(self) -> dict[str, int]:
        return {
            nodeid: int(n) for nodeid, n, _ in self.in_test.values() if nodeid not in self.records
        }

    def missing(self) -> list[str]:
        return [t["nodeid"] for t in self.collected or () if t["nodeid"] not in self.records]


def _overdue(state: WorkerState, options: RunOptions, started: float) -> dict[str, Any] | None:
    """A hang or timeout verdict, or None while the worker is within its limits."""
    now = time.monotonic()
    if options.timeout_run is not None and now - started > options.timeout_run:
        where = _where(state)
        return {
            "kind": "timeout",
            "message": f"exceeded the run time limit of {options.timeout_run:g} s{where}",
        }
    limit = options.timeout_example
    for nodeid, examples, last in state.in_test.values():
        if now - last > limit:
            example = f" (example {examples})" if examples else ""
            return {
                "kind": "hang",
                "message": f"hung: no progress for {limit:g} s in {nodeid}{example}",
                "test": nodeid,
            }
    if not state.in_test and now - state.last_event > limit + STARTUP_GRACE:
        phase = "between tests" if state.any_event else "while starting (collecting the suites)"
        return {
            "kind": "hang",
            "message": f"hung: no progress for {limit + STARTUP_GRACE:g} s {phase}",
        }
    return None


def _where(state: WorkerState) -> str:
    running = list(state.in_flight())
    return f" (while running {', '.join(running)})" if running else ""


def _worker_command(label: str, options: RunOptions, results: Path, heartbeat: Path) -> list[str]:
    targets = list(options.suite)
    command = [sys.executable, "-m", "pytest"]
    if any(not Path(t).exists() for t in targets):
        command.append("--pyargs")
    command += targets
    command += [
        "--backend", label,
        "--conformance-profile", options.profile,
        "--conformance-seed", str(options.seed),
        "--conformance-results", str(results),
        "--conformance-progress", str(heartbeat),
        "-p", "no:cacheprovider",
        "-q", "--color=no", "-o", "console_output_style=classic",
    ]  # fmt: skip
    for rid in options.requirements or ():
        command += ["--requirement", rid]
    if options.expect is not None:
        command += ["--conformance-expect", str(options.expect.resolve())]
    if str(options.workers) != "1":
        command += ["-n", str(options.workers)]
    return command


def _worker_env(cwd: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Adapters given as module:Class resolve as they would in the caller's directory.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(cwd), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    return env


def run_worker(
    label: str, options: RunOptions, workdir: Path, progress: Progress
) -> tuple[WorkerState, dict[str, Any] | None]:
    """Run one backend's worker to the end; the state read from it and the crash, if any."""
    results, heartbeat, log_path = (
        workdir / f"{n}" for n in ("results.jsonl", "progress.jsonl", "worker.log")
    )
    cwd = Path.cwd()
    state = WorkerState()
    result_stream, heartbeat_stream = JsonLines(results), JsonLines(heartbeat)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            _worker_command(label, options, results, heartbeat),
            cwd=cwd,
            env=_worker_env(cwd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill takes xdist's workers too
        )
        verdict: dict[str, Any] | None = None
        try:
            while True:
                returncode = popen.poll()
                state.take(result_stream.read_new(), heartbeat_stream.read_new())
                progress.update(state)
                if returncode is not None:
                    break
                verdict = _overdue(state, options, started)
                if verdict is not None:
                    _kill_group(popen)
                    break
                time.sleep(_POLL_S)
        except KeyboardInterrupt:
            _kill_group(popen)
            verdict = {"kind": "interrupted", "message": f"interrupted by the user{_where(state)}"}
        popen.wait()
    state.take(result_stream.read_new(), heartbeat_stream.read_new())
    progress.finish(state)
    crash = verdict or _exit_crash(popen.returncode, state)
    if crash is not None:
        crash = {
            "phase": "run",
            "test": next(iter(state.in_flight()), None),
            "signal": None,
            "returncode": popen.returncode,
            "log_tail": tail(log_path),
            **crash,
        }
        progress.stream.write(f"{label}: {crash['message']}\n")
    return state, crash


def _exit_crash(returncode: int, state: WorkerState) -> dict[str, Any] | None:
    where = _where(state)
    if state.crashed:
        return {
            "kind": "crash",
            "test": state.crashed[0],
            "message": f"crashed: a worker process died while running {', '.join(state.crashed)}",
        }
    if returncode < 0:
        name = _signal_name(-returncode)
        return {
            "kind": "signal",
            "signal": name,
            "message": f"crashed: the worker was killed by {name}{where}",
        }
    if returncode in (0, 1, 5):
        missing = state.missing()
        if not missing:
            return None
        return {
            "kind": "exit",
            "message": f"exited (code {returncode}) before reporting {len(missing)} test(s){where}",
        }
    meaning = _PYTEST_EXIT.get(returncode, "unexpected exit")
    return {"kind": "exit", "message": f"exited with code {returncode}: {meaning}{where}"}


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_group(popen: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        popen.kill()


# -- the run --------------------------------------------------------------------------------------
def run(options: RunOptions) -> tuple[int, list[BackendRun]]:
    """Run every backend; (exit code, what was written). Raises UsageError before any work."""
    meta, manifest = validate(options)
    probes = probe_backends(options.backends, options.timeout_example + STARTUP_GRACE, Path.cwd())
    usage = next((p.usage for p in probes if p.usage), None)
    if usage:
        raise UsageError(usage)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    done: list[BackendRun] = []
    seen: set[str] = set()
    for probe in probes:
        label = probe.info["label"] if probe.info else probe.spec
        if label in seen:
            continue
        seen.add(label)
        done.append(_run_backend(probe, options, meta, manifest))
    if done:
        write_matrix([(run.paths[-1], run.report) for run in done], options.out_dir)
    return exit_code([run.report for run in done]), done


def _run_backend(
    probe: Probe,
    options: RunOptions,
    meta: Mapping[str, Any],
    manifest: Manifest | None,
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
    from conformance.registry import parse_spec

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


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        sys.exit(_probe_main(sys.argv[2]))
    sys.exit("usage: python -m conformance.runner --probe SPEC")
