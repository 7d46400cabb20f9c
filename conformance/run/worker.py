"""One backend's worker: `python -m pytest` on the suites, followed while it runs.

The worker streams one JSON line per test outcome and heartbeats (collected tests, each test's
start and end, each hypothesis example) through the pytest plugin (conformance/run/session.py). The
runner reads both as they grow, shows progress, and kills the worker's whole process group when
an example makes no progress for too long or the run exceeds its limit. How the worker ended
becomes the report's `crash`, or None when every collected test reported.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.backends.registry import CALLER_DIR_ENV, BackendSpec
from conformance.errors import UsageError
from conformance.run.options import (
    DEFAULT_SUITE,
    PLUGIN_OPTIONS,
    RunOptions,
    default_memory_limit_mib,
    package_dir,
    plugin_arguments,
)
from conformance.run.progress import Progress
from conformance.run.streams import JsonLines, tail

STARTUP_GRACE = 60.0
"""Added to the example limit while a worker starts: interpreter, engine import, collection."""
_POLL_S = 0.1

_PYTEST_EXIT = {
    2: "interrupted (a collection error, or pytest.exit)",
    3: "pytest internal error",
    4: "pytest usage error",
}


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
    fatal: dict[str, Any] | None = None
    """A fault the worker reported before stopping: {"kind": "memory", "nodeid", "message"}."""
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
            elif kind == "fatal" and self.fatal is None:
                self.fatal = event
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


def overdue(state: WorkerState, options: RunOptions, started: float) -> dict[str, Any] | None:
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


WORKER_INI = Path(__file__).with_name("worker.ini")
"""The worker's pytest configuration, in place of whatever pytest.ini, tox.ini, setup.cfg or
pyproject.toml the caller's directory holds: a user's addopts, markers or warning filters must not
change what a conformance run checks."""


@dataclass(frozen=True)
class SuiteTargets:
    """What a worker runs: absolute paths, and the pytest rootdir they are named from."""

    paths: list[str]
    rootdir: Path


def suite_targets(suite: list[str], caller_dir: Path) -> SuiteTargets:
    """Each `--suite` value as an absolute path: the bundled suites from where they are
    installed, never from a same-named folder of the caller's; another value as a path from the
    caller's directory or a package importable there. UsageError if a value is neither."""
    paths = []
    for target in suite:
        file, sep, name = target.partition("::")
        path = caller_dir / file
        if target == DEFAULT_SUITE or not path.exists():
            found = _package_in(file, caller_dir)
            if found is None:
                raise UsageError(
                    f"--suite {target!r}: no such file or folder, and no importable package of "
                    "that name; give a path to a test file or folder, or a package name"
                )
            path = found
        paths.append(str(path.resolve()) + sep + name)
    bundled = package_dir(DEFAULT_SUITE)
    inside = bundled is not None and all(
        Path(p.partition("::")[0]) == bundled or bundled in Path(p.partition("::")[0]).parents
        for p in paths
    )
    return SuiteTargets(paths, bundled if inside and bundled else caller_dir)


def _package_in(name: str, caller_dir: Path) -> Path | None:
    """Where package NAME is imported from: installed first, else from the caller's directory
    (never for the bundled suites' own name)."""
    found = package_dir(name)
    if found is None and name != DEFAULT_SUITE:
        sys.path.append(str(caller_dir))
        try:
            found = package_dir(name)
        finally:
            sys.path.remove(str(caller_dir))
    return found


def worker_command(
    backend: BackendSpec, options: RunOptions, results: Path, heartbeat: Path
) -> list[str]:
    targets = suite_targets(list(options.suite), Path.cwd())
    command = [sys.executable, "-m", "pytest", *targets.paths]
    command += [
        "-c", str(WORKER_INI),
        f"--rootdir={targets.rootdir}",
        f"--confcutdir={targets.rootdir}",
    ]  # fmt: skip
    command += plugin_arguments(options, backend)
    command += [
        PLUGIN_OPTIONS["results"].plugin_flag, str(results),
        PLUGIN_OPTIONS["progress"].plugin_flag, str(heartbeat),
        "-p", "no:cacheprovider",
        "-q", "--color=no", "-o", "console_output_style=classic",
    ]  # fmt: skip
    if str(options.workers) != "1":
        command += ["-n", str(options.workers)]
    return command


def worker_env(caller_dir: Path) -> dict[str, str]:
    """The environment of a worker or probe, which runs in a scratch folder of its own: nothing
    in the caller's directory is imported unless an import-path adapter names it."""
    env = dict(os.environ)
    env[CALLER_DIR_ENV] = str(caller_dir)
    env["PYTHONUNBUFFERED"] = "1"
    # Conformance programs hold at most a few dozen elements: intra-op threads never pay for
    # themselves there and stall on a loaded machine. A user's own setting wins; the torch
    # adapter records the thread count in the report.
    env.setdefault("OMP_NUM_THREADS", "1")
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(name, None)
    return env


def run_worker(
    backend: BackendSpec, options: RunOptions, workdir: Path, progress: Progress
) -> tuple[WorkerState, dict[str, Any] | None]:
    """Run one backend's worker to the end; the state read from it and the crash, if any."""
    results, heartbeat, log_path = (
        workdir / f"{n}" for n in ("results.jsonl", "progress.jsonl", "worker.log")
    )
    caller_dir = Path.cwd()
    state = WorkerState()
    result_stream, heartbeat_stream = JsonLines(results), JsonLines(heartbeat)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            worker_command(backend, options, results, heartbeat),
            cwd=workdir,
            env=worker_env(caller_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill takes xdist's workers too
            preexec_fn=_child_setup(memory_limit_bytes(options)),
        )
        verdict: dict[str, Any] | None = None
        try:
            while True:
                returncode = popen.poll()
                state.take(result_stream.read_new(), heartbeat_stream.read_new())
                progress.update(state)
                if returncode is not None:
                    break
                verdict = overdue(state, options, started)
                if verdict is not None:
                    kill_group(popen)
                    break
                time.sleep(_POLL_S)
        except KeyboardInterrupt:
            kill_group(popen)
            verdict = {"kind": "interrupted", "message": f"interrupted by the user{_where(state)}"}
        popen.wait()
    state.take(result_stream.read_new(), heartbeat_stream.read_new())
    progress.finish(state)
    crash = verdict or exit_crash(popen.returncode, state, options)
    if crash is not None:
        crash = {
            "phase": "run",
            "test": next(iter(state.in_flight()), None),
            "signal": None,
            "returncode": popen.returncode,
            "log_tail": tail(log_path),
            **crash,
        }
        progress.stream.write(f"{backend.label}: {crash['message']}\n")
    return state, crash


def exit_crash(
    returncode: int, state: WorkerState, options: RunOptions | None = None
) -> dict[str, Any] | None:
    where = _where(state)
    if state.fatal is not None and state.fatal.get("kind") == "memory":
        limit = memory_limit_bytes(options) if options is not None else None
        limit_text = f"its limit of {limit // 2**20} MiB" if limit else "the memory available"
        return {
            "kind": "memory",
            "test": state.fatal.get("nodeid"),
            "message": (
                f"out of memory: the worker exceeded {limit_text} in {state.fatal.get('nodeid')} "
                f"({state.fatal.get('message')}); raise --memory-limit if the engine needs more"
            ),
        }
    if state.crashed:
        return {
            "kind": "crash",
            "test": state.crashed[0],
            "message": f"crashed: a worker process died while running {', '.join(state.crashed)}",
        }
    if returncode < 0:
        name = signal_name(-returncode)
        # Nothing in the worker sends SIGKILL: it came from outside, most often the kernel's
        # out-of-memory killer.
        hint = " (from outside the worker: often the kernel's out-of-memory killer)"
        return {
            "kind": "signal",
            "signal": name,
            "message": f"crashed: the worker was killed by {name}{where}"
            + (hint if name == "SIGKILL" else ""),
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


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def memory_limit_bytes(options: RunOptions) -> int | None:
    mib = options.memory_limit if options.memory_limit is not None else default_memory_limit_mib()
    return mib * 2**20 if mib else None


def _child_setup(memory_limit: int | None) -> Callable[[], None]:
    def setup() -> None:
        _die_with_parent()
        if memory_limit is not None:
            # RLIMIT_DATA, not RLIMIT_AS: it counts what a process writes to (heap, anonymous
            # mappings), not the address space that CUDA and JAX reserve without using.
            resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))

    return setup


def _die_with_parent() -> None:
    """In the worker, before exec: on Linux, be killed if the runner dies (even by SIGKILL), so
    that a worker in its own session never outlives the run that started it."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def kill_group(popen: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        popen.kill()
