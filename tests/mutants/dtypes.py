"""Bugs in floating-point dtypes: a float16 result widened by its float32 accumulator, float16
gradients left in float32, float32 gradients that went through float16, a mixed-dtype op's
gradients returned in the promoted dtype, a float16 leaf's .grad kept in float32, and complex
gradients conjugated (on PyTorch only: the reference engine has no complex tensors).

The values computed are the engine's own; what is wrong is the dtype they are handed back in, or
the precision they were rounded to on the way. Everything goes through PyTorch's Python API on
`adapter.m`, so each bug runs on the reference engine and on PyTorch alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from conformance.protocol import Tensor
from tests.mutants.base import Bug


class HalfReductionReturnsFloat32(Bug):
    """Own design: sum and mean of float16 accumulate in float32, as PyTorch's CPU kernels do,
    but hand the float32 accumulator back instead of rounding it to float16."""

    bug_class = "own: float16 sum/mean returns its float32 accumulator"
    flagged_by = ("DTYPE-002",)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        if op in ("sum", "mean") and args[0].dtype == self.m.float16:
            return super().apply(op, [args[0].float()], params)
        return super().apply(op, args, params)


class HalfGradientsInFloat32(Bug):
    """Own design: the backward of float16 tensors runs in float32 (right values, more
    precision) and its gradients are never cast back to the input's float16."""

    bug_class = "own: float16 gradients returned in float32"
    flagged_by = ("DTYPE-003",)

    def _pull_back(
        self, outputs: Sequence[Tensor], leaves: Sequence[Tensor], seeds: Sequence[np.ndarray]
    ) -> list[np.ndarray | None]:
        grads = super()._pull_back(outputs, leaves, seeds)
        return [
            g.astype(np.float32) if g is not None and g.dtype == np.float16 else g for g in grads
        ]


class Float32GradientsThroughHalf(Bug):
    """Own design: to save memory the backward of float32 tensors stores its gradients in
    float16 and widens them back: the dtype is right, 11 significand bits are left."""

    bug_class = "own: float32 gradients rounded through float16"
    flagged_by = ("DTYPE-003",)

    def _pull_back(
        self, outputs: Sequence[Tensor], leaves: Sequence[Tensor], seeds: Sequence[np.ndarray]
    ) -> list[np.ndarray | None]:
        grads = super()._pull_back(outputs, leaves, seeds)
        return [
            g.astype(np.float16).astype(np.float32)
            if g is not None and g.dtype == np.float32
            else g
            for g in grads
        ]


class MixedGradientInPromotedDtype(Bug):
    """Own design: an op on operands of two float dtypes computes its backward in the promoted
    dtype, as PyTorch does, but skips the cast back: every operand's gradient comes back in the
    result's dtype (a float32 operand of a float64 product gets a float64 gradient)."""

    bug_class = "own: mixed-dtype gradients left in the promoted dtype"
    flagged_by = ("DTYPE-004",)

    def vjp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        outputs, grads = super().vjp(fn, primals, cotangents)
        floats = {p.dtype for p in primals if p.dtype.kind == "f"}
        if len(floats) < 2 or not outputs:
            return outputs, grads
        promoted = outputs[0].dtype
        return outputs, [None if g is None else g.astype(promoted) for g in grads]


class HalfLeafGradInFloat32(Bug):
    """Own design: an engine keeping float32 "master" gradients stores the .grad of a float16
    leaf in float32 (values right, dtype not the leaf's)."""

    bug_class = "own: .grad of a float16 leaf stored in float32"
    flagged_by = ("DTYPE-005",)

    def grad_dtype(self, tensor: Tensor) -> str | None:
        found = super().grad_dtype(tensor)
        return "float32" if found == "float16" else found

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        found = super().grad(tensor)
        return (
            found.astype(np.float32) if found is not None and found.dtype == np.float16 else found
        )


class ComplexGradConjugated(Bug):
    """Modelled on JAX's convention (jax.grad of a real function of complex z is dL/dx - i dL/dy):
    complex gradients come back conjugated, dL/dx - i dL/dy instead of PyTorch's dL/dx + i dL/dy.
    Only PyTorch of the shipped engines has complex tensors, so this bug sits on PyTorch only."""

    bug_class = "own: complex gradients conjugated (JAX's convention)"
    flagged_by = ("DTYPE-006",)

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        found = super().grad(tensor)
        return np.conj(found) if found is not None and found.dtype.kind == "c" else found
