"""What every mutant declares, and how a bug is put on top of a correct adapter.

A bug is written once, as a subclass of `TorchLikeAdapter` that overrides the adapter methods
the bug lives in and calls `super()` for everything else. `on_reference(Bug)` and
`on_torch(Bug)` then place it on top of a correct concrete adapter:

    class on_reference(Bug)  ->  Bug, ReferenceAdapter, TorchLikeAdapter

so `super()` inside the bug reaches the correct engine's adapter. The result keeps the wrapped
adapter's capabilities, which is what makes it a structurally valid adapter that the suites
must judge on its behaviour alone.
"""

from __future__ import annotations

import sys
from typing import ClassVar

from conformance.backends.reference import ReferenceAdapter
from conformance.backends.torch import TorchAdapter
from conformance.backends.torchlike import TorchLikeAdapter


class Bug(TorchLikeAdapter):
    """One injected engine bug; subclasses override the adapter methods the bug lives in."""

    bug_class: ClassVar[str] = ""
    """Which entry of docs/bug-classes.md it models ("1".."12"), or "own: ..."."""
    flagged_by: ClassVar[tuple[str, ...]] = ()
    """The requirement IDs whose tests must report it as failed under the `ci` profile."""

    def __init__(self, device: str = "cpu") -> None:
        # At run time the next class in the MRO is the concrete adapter (ReferenceAdapter or
        # TorchAdapter), whose constructor takes the device only.
        super().__init__(device)  # type: ignore[arg-type]


def _mutant(bug: type[Bug], base: type[TorchLikeAdapter], suffix: str, module: str) -> type[Bug]:
    name = bug.__name__ + suffix
    cls: type[Bug] = type(
        name,
        (bug, base),
        {
            "__doc__": bug.__doc__,
            "__module__": module,
            "__qualname__": name,
            # Not base.name: a suite may treat the backend named "reference" as the oracle.
            "name": f"mutant-{name}",
        },
    )
    setattr(sys.modules[module], name, cls)
    return cls


def on_reference(bug: type[Bug], module: str) -> type[Bug]:
    """`bug` on top of the reference engine's adapter, published as `module.<BugName>`."""
    return _mutant(bug, ReferenceAdapter, "", module)


def on_torch(bug: type[Bug], module: str) -> type[Bug]:
    """`bug` on top of the PyTorch adapter, published as `module.<BugName>Torch`."""
    return _mutant(bug, TorchAdapter, "Torch", module)
