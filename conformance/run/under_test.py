"""The backends of one pytest process: which one is under test (the plugin's
`--conformance-backend`, default the reference) and their adapters, each constructed once per
process whoever asks for it (the fixtures, the parity counterpart, the report's backend facts)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.backends.registry import (
    DEFAULT_BACKEND,
    BackendError,
    BackendSpec,
    load_backend,
    parse_spec,
    with_device,
)
from conformance.run.options import plugin_value

_ADAPTERS = pytest.StashKey[dict[BackendSpec, Any]]()


def backend_spec(config: pytest.Config) -> BackendSpec:
    """The backend under test, on the device it runs on."""
    return _on_device(plugin_value(config, "backend") or parse_spec(DEFAULT_BACKEND))


def counterpart_spec(config: pytest.Config) -> BackendSpec | None:
    """The parity suite's counterpart (--conformance-parity-with), if one is named."""
    spec: BackendSpec | None = plugin_value(config, "parity-with")
    return None if spec is None else _on_device(spec)


def adapter_for(config: pytest.Config, spec: BackendSpec) -> Any:
    """The adapter of `spec`; a backend that cannot load ends the session (exit 2)."""
    spec = _on_device(spec)
    adapters = config.stash.setdefault(_ADAPTERS, {})
    if spec not in adapters:
        try:
            adapters[spec] = load_backend(spec)
        except BackendError as exc:
            pytest.exit(str(exc), returncode=2)
    return adapters[spec]


def _on_device(spec: BackendSpec) -> BackendSpec:
    try:
        return with_device(spec)
    except BackendError as exc:
        pytest.exit(str(exc), returncode=2)
