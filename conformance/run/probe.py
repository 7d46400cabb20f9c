"""Loading backends in short-lived subprocesses: the runner process never imports an engine.

Before a run, each requested backend is loaded once in its own probe subprocess, all at once. An
adapter that aborts or hangs while loading must not take the runner with it, and the runner must
know before starting any worker whether every backend can run: a bad specifier, a missing engine,
an unavailable device or an adapter that does not satisfy the protocol is a usage error (exit 2,
nothing written); an adapter that raises, crashes or hangs while loading is a crash of that
backend (its report says so, exit 3). The probe also returns what the report says about the
backend: its version, device, environment facts and capabilities.

With `every_device`, a probe tries each of the adapter's devices in turn: `conformance list` and a
run without --backend find out this way which installed backends are available where.

The probe answers on stdout, one marked JSON line per finding, flushed as it goes: when the
process dies, the lines before its death still say which device it was loading.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from conformance.backends.registry import BackendSpec
from conformance.run.worker import kill_group, signal_name, worker_env

PROBE_MARK = "CONFORMANCE-PROBE "


def backend_info(spec: BackendSpec, adapter: Any) -> dict[str, Any]:
    """What a report says about the backend `spec` (on its device), loaded as `adapter`."""
    return {
        "label": spec.label,
        "name": spec.engine,
        "adapter": f"{type(adapter).__module__}:{type(adapter).__qualname__}",
        "version": str(adapter.version()),
        "device": adapter.device,
        "environment": dict(adapter.environment()),
        "capabilities": _capabilities(adapter.capabilities),
    }


def unloaded_info(spec: BackendSpec) -> dict[str, Any]:
    """What a report says about a backend that did not load."""
    return {
        "label": spec.label,
        "name": spec.engine,
        "adapter": spec.target,
        "version": None,
        "device": spec.device,
        "environment": {},
        "capabilities": None,
    }


def _capabilities(capabilities: Any) -> dict[str, Any]:
    facts = {}
    for f in dataclasses.fields(capabilities):
        value = getattr(capabilities, f.name)
        facts[f.name] = sorted(value) if isinstance(value, frozenset) else value
    facts["notes"] = dict(capabilities.notes)
    return facts


@dataclass
class Probe:
    """What loading one backend on one device came to: exactly one of info, usage, unavailable
    and crash is set."""

    spec: BackendSpec
    """On its device, where known (a crash before the adapter's devices were read leaves None)."""
    info: dict[str, Any] | None = None
    usage: str | None = None
    """The backend cannot run as asked: a user error."""
    unavailable: str | None = None
    """The device does not exist here (a usage error when asked for by name)."""
    crash: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def device(self) -> str | None:
        return self.spec.device


def probe_backends(
    specs: Sequence[BackendSpec], timeout: float, caller_dir: Path, *, every_device: bool = False
) -> list[Probe]:
    """Load every backend in its own subprocess, all at once; what each said, in order. With
    `every_device`, each backend's every device; else the named device (or the first)."""
    env = worker_env(caller_dir)
    with contextlib.ExitStack() as files:
        scratch = files.enter_context(tempfile.TemporaryDirectory(prefix="conformance-probe-"))
        running = []
        for spec in specs:
            out, log = (files.enter_context(tempfile.TemporaryFile()) for _ in range(2))
            command = [sys.executable, "-m", "conformance.run.probe", spec.to_json()]
            command += ["--every-device"] if every_device else []
            popen = subprocess.Popen(
                command, cwd=scratch, env=env, stdout=out, stderr=log, start_new_session=True
            )
            running.append((spec, popen, out, log))
        deadline = time.monotonic() + timeout
        probes = []
        for spec, popen, out, log in running:
            try:
                popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                died = _death(popen.returncode)
            except subprocess.TimeoutExpired:
                kill_group(popen)
                popen.wait()
                died = ("hang", f"hung while loading (no answer in {timeout:g} s)", None)
            out.seek(0)
            answers = _answers(out.read().decode(errors="replace"))
            probes += _probes(spec, answers, died, log)
    return probes


def _death(returncode: int) -> tuple[str, str, str | None] | None:
    """How a probe that did not finish its answer ended: (kind, message, signal)."""
    if returncode == 0:
        return None
    if returncode < 0:
        name = signal_name(-returncode)
        return ("signal", f"crashed while loading: killed by {name}", name)
    return ("exit", f"crashed while loading: the process exited with code {returncode}", None)


def _answers(out: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[len(PROBE_MARK) :])
        for line in out.splitlines()
        if line.startswith(PROBE_MARK)
    ]


def _probes(
    spec: BackendSpec,
    answers: list[dict[str, Any]],
    died: tuple[str, str, str | None] | None,
    log: IO[bytes],
) -> list[Probe]:
    probes: list[Probe] = []
    pending = [spec.device] if spec.device else []
    for answer in answers:
        if "devices" in answer:
            pending = list(answer["devices"])
            continue
        device = answer.get("device")
        on = spec.on(device) if device else spec
        if device in pending:
            pending.remove(device)
        if "info" in answer:
            probes.append(Probe(on, info=answer["info"]))
        elif "unavailable" in answer:
            probes.append(Probe(on, unavailable=answer["unavailable"]))
        elif "usage" in answer:
            probes.append(Probe(on, usage=answer["usage"]))
        else:
            probes.append(Probe(on, crash=_load_crash("exception", answer["crash"], log)))
    if pending or not probes:
        # The first device without an answer is the one it died loading; the rest were not tried.
        # (A death after every answer, while the interpreter exits, is not a loading problem.)
        kind, what, signal = died or ("exit", "crashed while loading: no answer", None)
        on = spec.on(pending[0]) if pending else spec
        probes.append(Probe(on, crash=_load_crash(kind, what, log, signal)))
    return probes


def _load_crash(
    kind: str, what: str, log: IO[bytes], signal_name: str | None = None
) -> dict[str, Any]:
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


# -- in the probe subprocess ----------------------------------------------------------------------
def _answer(**answer: Any) -> None:
    print(PROBE_MARK + json.dumps(answer, default=str), flush=True)


def _probe_main(spec: BackendSpec, every_device: bool) -> int:
    """Load the backend on its device (or on each device) and answer, one marked line each."""
    from conformance.backends.registry import BackendError, adapter_class

    try:
        devices = list(adapter_class(spec).devices)
    except BackendError as exc:
        if exc.__cause__ is None or isinstance(exc.__cause__, ImportError):
            _answer(usage=str(exc))  # a missing engine or module, a class that is no adapter
        else:  # an adapter module that raises while being imported is the adapter's crash
            _answer(crash=f"crashed while loading: {exc}")
        return 0
    except Exception as exc:  # noqa: BLE001 - any exception of the adapter is its crash
        _answer(crash=f"crashed while loading: {_one_line(exc)}")
        return 0
    tried = devices if every_device else [spec.device or devices[0]]
    _answer(devices=tried)
    for device in tried:
        _load_on(spec.on(device))
    return 0


def _load_on(spec: BackendSpec) -> None:
    from conformance.backends.registry import BackendError, load_backend
    from conformance.protocol import DeviceUnavailable, EngineMissing

    try:
        adapter = load_backend(spec)
        answer: dict[str, Any] = {"info": backend_info(spec, adapter)}
    except BackendError as exc:
        cause = exc.__cause__
        if isinstance(cause, DeviceUnavailable):
            answer = {"unavailable": str(exc)}
        elif cause is None or isinstance(cause, EngineMissing):
            answer = {"usage": str(exc)}
        else:
            answer = {"crash": f"crashed while loading: {exc}"}
    except Exception as exc:  # noqa: BLE001 - any exception of the adapter is its crash
        answer = {"crash": f"crashed while loading: {_one_line(exc)}"}
    _answer(device=spec.device, **answer)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if len(arguments) not in (1, 2) or arguments[1:] not in ([], ["--every-device"]):
        sys.exit("usage: python -m conformance.run.probe SPEC-JSON [--every-device]")
    sys.exit(_probe_main(BackendSpec.from_json(arguments[0]), arguments[1:] == ["--every-device"]))
