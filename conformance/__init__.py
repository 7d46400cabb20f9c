"""autograd-conformance: where an autograd engine's gradients and graph semantics differ from
PyTorch's.

Importing this package imports nothing beyond the standard library; engines are imported when a
backend is loaded.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # The version is said once, in pyproject.toml, and read from the installed distribution on
    # first use: importlib.metadata takes longer to import than `conformance --help` may take.
    if name != "__version__":
        raise AttributeError(f"module 'conformance' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("autograd-conformance")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"
