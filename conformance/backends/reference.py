"""The reference engine (reference_engine/, NumPy): the executable specification."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from conformance.backends.torchlike import TorchLikeAdapter
from conformance.protocol import Capabilities


class ReferenceAdapter(TorchLikeAdapter):
    name: ClassVar[str] = "reference"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    capabilities: Capabilities = replace(
        TorchLikeAdapter.capabilities,
        dtypes=frozenset({"float16", "float32", "float64"}),
        notes={
            "dtype:bfloat16": "the reference engine depends on NumPy alone, which has no bfloat16",
            "complex_grads": "the reference engine computes in real floating dtypes only",
        },
    )

    def __init__(self, device: str = "cpu") -> None:
        import autograd_conformance_reference as reference_engine

        super().__init__(reference_engine, device)

    def version(self) -> str:
        from conformance import __version__

        return __version__
