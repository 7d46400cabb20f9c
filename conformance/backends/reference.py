"""The reference engine (reference_engine/, NumPy): the executable specification."""

from __future__ import annotations

from typing import ClassVar

from conformance.backends.torchlike import TorchLikeAdapter


class ReferenceAdapter(TorchLikeAdapter):
    name: ClassVar[str] = "reference"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    def __init__(self, device: str = "cpu") -> None:
        import autograd_conformance_reference as reference_engine

        super().__init__(reference_engine, device)

    def version(self) -> str:
        from conformance import __version__

        return __version__
