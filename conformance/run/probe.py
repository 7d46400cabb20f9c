"""Loading each requested backend once, in its own short-lived subprocess, before a run.

An adapter that aborts or hangs while loading must not take the runner with it, and the runner
must know before starting any worker whether every backend can run: a bad specifier, a missing
engine, an unavailable device or an adapter that does not satisfy the protocol is a usage error
(exit 2, nothing written); an adapter that raises, crashes or hangs while loading is a crash of
that backend (its report says so, exit 3). The probe also returns what the report says about the
backend: its version, device, environment facts and capabilities.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import UsageError
from conformance.run.worker import kill_group, signal_name, worker_env

PROBE_MARK = "CONFORMANCE-PROBE "


def backend_info(spec: str) -> dict[str, Any]:
    """Load the backend in this process; what its report says about it. Raises BackendError."""
    from conformance.backends.registry import load_backend, parse_spec

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
    from conformance.backends.registry import BackendError, parse_spec

    for spec in specs:
        try:
            parse_spec(spec)
        except BackendError as exc:
            raise UsageError(str(exc)) from None
    env = worker_env(cwd)
    with contextlib.ExitStack() as files:
        running = []
        for spec in specs:
            out, log = (files.enter_context(tempfile.TemporaryFile()) for _ in range(2))
            command = [sys.executable, "-m", "conformance.run.probe", spec]
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
                kill_group(popen)
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
        name = signal_name(-returncode)
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
    from conformance.backends.registry import BackendError, adapter_class, parse_spec
    from conformance.protocol import DeviceUnavailable, EngineMissing

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


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m conformance.run.probe SPEC")
    sys.exit(_probe_main(sys.argv[1]))
