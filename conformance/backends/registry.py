"""Backend specifiers (`NAME[:DEVICE]`, or `package.module:Class[:DEVICE]`) and adapter loading.

Adapters come from three places, in this order: the ones shipped in `conformance.backends`, the
entry-point group `autograd_conformance.adapters` (name = backend name, value = `module:Class`),
and an import path given directly as the specifier.

A specifier is parsed once, where it enters (`parse_spec`, from the CLI's and the plugin's
options), into a `BackendSpec`; that value crosses process boundaries whole (as JSON) and names the
backend everywhere through `backend_label`. Nothing here imports an adapter until `adapter_class`
or `load_backend` is called, which only probe and worker processes do.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from dataclasses import asdict, dataclass, replace
from importlib.metadata import entry_points
from typing import Any

from conformance.protocol import DeviceUnavailable, EngineMissing, missing_members

ENTRY_POINT_GROUP = "autograd_conformance.adapters"


@dataclass(frozen=True)
class Builtin:
    target: str
    """`module:Class` of the adapter."""
    engine_module: str
    """The module whose presence means the engine is installed."""
    extra: str
    """The pip extra that installs the engine."""


BUILTINS: dict[str, Builtin] = {
    "reference": Builtin("conformance.backends.reference:ReferenceAdapter", "numpy", ""),
    "torch": Builtin("conformance.backends.torch:TorchAdapter", "torch", "torch"),
    "jax": Builtin("conformance.backends.jax:JaxAdapter", "jax", "jax"),
    "mygrad": Builtin("conformance.backends.mygrad:MygradAdapter", "mygrad", "mygrad"),
    "tinygrad": Builtin("conformance.backends.tinygrad:TinygradAdapter", "tinygrad", "tinygrad"),
    "paddle": Builtin("conformance.backends.paddle:PaddleAdapter", "paddle", "paddle"),
}
DEFAULT_BACKEND = "reference"


class BackendError(Exception):
    """A backend specifier that cannot be honoured; its message is one line for the user."""


@dataclass(frozen=True)
class BackendSpec:
    """A backend as the user named it, parsed once where it enters (the CLI, the pytest option)
    and handed whole to every process that needs it (as JSON, see `to_json`)."""

    engine: str
    """A built-in or entry-point name (`torch`), or an adapter's import path (`pkg.mod:Class`)."""
    device: str | None
    """None until resolved: the adapter's first device."""
    target: str
    """`module:Class` to import."""

    @property
    def label(self) -> str:
        return backend_label(self.engine, self.device)

    def on(self, device: str) -> BackendSpec:
        return replace(self, device=device)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BackendSpec:
        fields = json.loads(text)
        return cls(str(fields["engine"]), fields["device"], str(fields["target"]))


def backend_label(engine: str, device: str | None) -> str:
    """How a backend is named everywhere (reports, progress, manifests): `ENGINE:DEVICE`, where an
    import-path adapter's ENGINE is its import path, never the `name` the class declares."""
    return engine if device is None else f"{engine}:{device}"


def _plugins() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_backends() -> dict[str, str]:
    """Backend name -> `module:Class`, built-ins first, then installed plugins."""
    return {**{name: b.target for name, b in BUILTINS.items()}, **_plugins()}


def parse_spec(spec: str) -> BackendSpec:
    """`torch:cuda` -> (torch, cuda); `pkg.mod:Class:cpu` -> an import-path adapter on cpu."""
    name, _, device = spec.strip().partition(":")
    known = known_backends()
    if name in known:
        return BackendSpec(name, device or None, known[name])
    if "." in name or (device and device[:1].isupper()):
        cls, _, device = device.partition(":")
        if not cls:
            raise BackendError(f"backend {spec!r}: an import path needs a class, module:Class")
        return BackendSpec(f"{name}:{cls}", device or None, f"{name}:{cls}")
    raise BackendError(
        f"unknown backend {name!r}; known backends: {', '.join(sorted(known))} "
        "(or give an adapter as package.module:ClassName)"
    )


def spec_argument(text: str) -> BackendSpec:
    """A command-line value: a specifier typed by a user, or a BackendSpec the runner serialised
    for its worker (a JSON object), which is taken as it is rather than parsed again."""
    if text.lstrip().startswith("{"):
        try:
            spec = BackendSpec.from_json(text)
        except (ValueError, KeyError, TypeError):
            spec = None
        if spec is None or not isinstance(spec.device, str | None):
            raise BackendError(
                f"backend {text!r} is not a specifier; give NAME[:DEVICE] or "
                "package.module:Class[:DEVICE]"
            )
        return spec
    return parse_spec(text)


def installed_engines() -> list[BackendSpec]:
    """What a run without --backend covers: every built-in whose engine is installed, and every
    adapter registered by entry point. Nothing is imported here; which devices each one has is
    for a probe subprocess to find out (conformance/run/probe.py)."""
    found = []
    for name, target in known_backends().items():
        builtin = BUILTINS.get(name)
        if builtin is None or importlib.util.find_spec(builtin.engine_module) is not None:
            found.append(BackendSpec(name, None, target))
    return found


def _import_target(spec: BackendSpec) -> type[Any]:
    module_name, _, class_name = spec.target.partition(":")
    builtin = BUILTINS.get(spec.engine)
    if builtin and builtin.extra and importlib.util.find_spec(builtin.engine_module) is None:
        raise BackendError(str(EngineMissing(spec.engine, builtin.extra)))
    try:
        module = _import_from_caller(module_name)
    except ImportError as exc:
        raise BackendError(
            f"backend {spec.label!r}: cannot import {module_name!r}: {_first_line(exc)}"
        ) from exc
    except Exception as exc:  # an adapter module that fails at import is the adapter's bug
        raise BackendError(
            f"backend {spec.label!r}: importing {module_name!r} raised "
            f"{type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise BackendError(f"backend {spec.label!r}: {module_name!r} has no class {class_name!r}")
    return cls


CALLER_DIR_ENV = "CONFORMANCE_CALLER_DIR"
"""Set by the runner for its probes and workers, which run in scratch folders: the directory
`conformance run` was started in, where an import-path adapter is looked for last."""


def _import_from_caller(module_name: str) -> Any:
    """Import an adapter's module as the caller would: from what is installed, else from the
    caller's directory, which goes at the end of sys.path rather than the front so that it
    cannot shadow an installed package."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        caller = os.environ.get(CALLER_DIR_ENV)
        top = module_name.partition(".")[0]
        if not caller or exc.name != top or caller in sys.path:
            raise
        sys.path.append(caller)
        return importlib.import_module(module_name)


def _first_line(exc: BaseException) -> str:
    # Engines' import errors often span lines (build hints); the user gets one line.
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def adapter_class(spec: BackendSpec) -> type[Any]:
    cls = _import_target(spec)
    missing = missing_members(cls)
    if missing:
        raise BackendError(
            f"adapter {spec.target} does not satisfy the adapter protocol: missing "
            f"{', '.join(missing)} (see docs/adapters.md)"
        )
    return cls


def with_device(spec: BackendSpec) -> BackendSpec:
    """`spec` on the device it will run on: the adapter's first device unless one is named."""
    return spec if spec.device is not None else spec.on(adapter_class(spec).devices[0])


def load_backend(spec: str | BackendSpec) -> Any:
    """A new adapter instance for `spec`; raises BackendError with a one-line message."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    cls = adapter_class(parsed)
    device = parsed.device or cls.devices[0]
    if device.partition(":")[0] not in cls.devices:
        raise BackendError(
            f"backend {parsed.engine!r} has no device {device!r}; its devices: "
            f"{', '.join(cls.devices)}"
        )
    try:
        return cls(device)
    except (DeviceUnavailable, EngineMissing) as exc:
        raise BackendError(_first_line(exc)) from exc
