"""Backend specifiers (`NAME[:DEVICE]`, or `package.module:Class[:DEVICE]`) and adapter loading.

Adapters come from three places, in this order: the ones shipped in `conformance.backends`, the
entry-point group `autograd_conformance.adapters` (name = backend name, value = `module:Class`),
and an import path given directly as the specifier.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
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
    name: str
    device: str | None
    target: str
    """`module:Class` to import."""

    @property
    def label(self) -> str:
        return self.name if self.device is None else f"{self.name}:{self.device}"


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


def _import_target(spec: BackendSpec) -> type[Any]:
    module_name, _, class_name = spec.target.partition(":")
    builtin = BUILTINS.get(spec.name)
    if builtin and builtin.extra and importlib.util.find_spec(builtin.engine_module) is None:
        raise BackendError(str(EngineMissing(spec.name, builtin.extra)))
    try:
        module = importlib.import_module(module_name)
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


def load_backend(spec: str | BackendSpec) -> Any:
    """An adapter instance for `spec`; raises BackendError with a one-line message."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    cls = adapter_class(parsed)
    device = parsed.device or cls.devices[0]
    if device.partition(":")[0] not in cls.devices:
        raise BackendError(
            f"backend {parsed.name!r} has no device {device!r}; its devices: "
            f"{', '.join(cls.devices)}"
        )
    try:
        return cls(device)
    except (DeviceUnavailable, EngineMissing) as exc:
        raise BackendError(_first_line(exc)) from exc


def canonical_label(adapter: Any) -> str:
    return f"{adapter.name}:{adapter.device}"


def installed_labels() -> list[str]:
    """The default backends of a run: every installed backend on every available device."""
    labels = []
    for name in known_backends():
        builtin = BUILTINS.get(name)
        if builtin and importlib.util.find_spec(builtin.engine_module) is None:
            continue
        if builtin is None:
            continue  # plugins run only when asked for by name
        try:
            cls = adapter_class(parse_spec(name))
        except BackendError:
            continue
        for device in cls.devices:
            try:
                cls(device)
            except Exception:  # noqa: BLE001 - an unavailable device is not an error here
                continue
            labels.append(f"{name}:{device}")
    return labels
