"""Bugs in one op: mostly in its backward (forward right, local derivative wrong), one in its
forward.

A backward bug overrides `apply` for one op and, when the op records a backward node, returns
the correct value with a wrong gradient built by `tools.with_local_grads` / `tools.with_surrogate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conformance.protocol import Tensor
from tests.mutants import tools
from tests.mutants.base import Bug


class OneOpBug(Bug):
    """Routes `apply(op)` to `mutated` for the op named `op` when it records a backward node."""

    op: str = ""

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        correct = super().apply(op, args, params)
        if op != self.op or not tools.records(self, args):
            return correct
        return self.mutated(correct, args, params)

    def plain(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        """The wrapped engine's op, unmutated."""
        return super().apply(op, args, params)

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        raise NotImplementedError


class MeanBackwardNotDivided(OneOpBug):
    """Class 2 (reduction backward scaled wrong): `mean`'s backward reuses `sum`'s and never
    divides by the number of reduced elements, so every gradient through a mean is `count`
    times too large. Flagged by the random-graph gradient requirement."""

    bug_class = "2"
    flagged_by = ("RAND-001", "RAND-002", "TAPE-001")
    op = "mean"

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        return tools.with_surrogate(correct, self.plain("sum", args, params))


class MeanDividesByInputSize(Bug):
    """Own design (class 2's family, in the forward): `mean(x, dim)` is computed as
    `sum(x, dim) / x.numel()`, dividing by every element of the input instead of the reduced
    ones. Right for a full reduction, wrong in value (and, consistently, in gradient) for a
    reduction over some dims."""

    bug_class = "own: mean over dims divides by the input's size"
    flagged_by = ("FWD-001",)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        if op != "mean" or params.get("dim") is None:
            return super().apply(op, args, params)
        size = int(np.prod(tuple(args[0].shape)))
        return super().apply("sum", args, params) / float(size)


class SigmoidGradFromInput(OneOpBug):
    """Own design: sigmoid's backward computes `x * (1 - x)` from the saved *input* instead of
    `s * (1 - s)` from the saved output (the wrong tensor was saved for backward)."""

    bug_class = "own: sigmoid backward uses the saved input"
    flagged_by = ("RAND-001", "RAND-002")
    op = "sigmoid"

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        (x,) = tools.values(self, args[0])
        return tools.with_local_grads(self, correct, [(args[0], x * (1 - x))])


class ReluGradOneAtZero(OneOpBug):
    """Own design: relu's backward uses the mask `x >= 0`, so an input of exactly 0 passes the
    gradient through; PyTorch's relu has derivative 0 at 0."""

    bug_class = "own: relu subgradient at 0"
    flagged_by = ("RAND-001",)
    op = "relu"

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        (x,) = tools.values(self, args[0])
        return tools.with_local_grads(self, correct, [(args[0], (x >= 0).astype(x.dtype))])


class SubSecondOperandSign(OneOpBug):
    """Own design: `a - b` sends `+grad` to `b` (the backward of add was copied for sub)."""

    bug_class = "own: sign of sub's second operand gradient"
    flagged_by = ("RAND-001", "TAPE-001")
    op = "sub"

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        ones = np.ones(tuple(correct.shape))
        return tools.with_local_grads(self, correct, [(args[0], ones), (args[1], ones)])


class DivDenominatorSign(OneOpBug):
    """Own design: `a / b` sends `+a/b**2 * grad` to the denominator instead of `-a/b**2`."""

    bug_class = "own: div denominator gradient sign"
    flagged_by = ("RAND-001", "RAND-002")
    op = "div"

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        a, b = tools.values(self, *args)
        shape = tuple(correct.shape)
        d_a = np.broadcast_to(1.0 / b, shape)
        d_b = np.broadcast_to(a / (b * b), shape)
        return tools.with_local_grads(self, correct, [(args[0], d_a), (args[1], d_b)])


class TransposeBackwardNotTransposed(OneOpBug):
    """Own design: transpose's backward reshapes the incoming gradient to the input's shape
    instead of transposing it back (right for a square matrix's shape, wrong in its values)."""

    bug_class = "own: transpose backward not transposed"
    flagged_by = ("RAND-001",)
    op = "transpose"

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        carried = tools.zero_carrier(args[0])
        return correct.detach() + carried.reshape(tuple(correct.shape))


class ExpandBackwardFirstSlice(OneOpBug):
    """Own design (class 1's family): expand's backward takes the gradient of the first copy
    instead of summing over all broadcast copies."""

    bug_class = "own: expand backward not summed"
    flagged_by = ("RAND-001",)
    op = "expand"

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        mask = tools.first_slice_mask(tuple(args[0].shape), tuple(correct.shape))
        return correct.detach() + tools.constant(self, mask, correct) * tools.zero_carrier(args[0])


class IndexRepeatedOverwrite(OneOpBug):
    """Own design: index's backward scatters with assignment (`grad[idx] = g`) instead of
    accumulation (`index_add`), so with a repeated index only the last occurrence counts."""

    bug_class = "own: index backward overwrites repeated indices"
    flagged_by = ("RAND-001",)
    op = "index"

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        size = int(args[0].shape[0])
        rows = [int(i) % size for i in params["indices"]]
        last = {row: k for k, row in enumerate(rows)}
        keep = np.array([1.0 if last[row] == k else 0.0 for k, row in enumerate(rows)])
        keep = keep.reshape((len(rows),) + (1,) * (len(args[0].shape) - 1))
        picked = self.plain("index", [tools.zero_carrier(args[0])], params)
        return correct.detach() + tools.constant(self, keep, correct) * picked


class BroadcastNotSummed(Bug):
    """Class 1 (broadcast gradient not summed back): an elementwise binary op whose leaf operand
    was broadcast accumulates the *unreduced* gradient, so `.grad` (and the VJP) has the
    broadcast shape instead of the leaf's shape.

    Modelled with one hidden "shadow" leaf of the broadcast shape per broadcast use: the
    engine's own `.grad` of the leaf stays correct, and the adapter reports what the buggy
    engine would hold: the leaf's non-broadcast contributions plus the unreduced ones.
    """

    bug_class = "1"
    flagged_by = ("SHAPE-001", "VJP-002")

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._shadows: dict[int, tuple[Tensor, list[Tensor]]] = {}

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        if op not in ("add", "sub", "mul", "div") or not tools.records(self, args):
            return super().apply(op, args, params)
        shape = tools.broadcast_shape(*(tuple(a.shape) for a in args))
        return super().apply(op, [self._route(a, shape) for a in args], params)

    def _route(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        if tuple(x.shape) == shape or not (x.is_leaf and x.requires_grad):
            return x
        shadow = self.tensor(np.zeros(shape, dtype=self.dtype(x)), requires_grad=True)
        self._shadows.setdefault(id(x), (x, []))[1].append(shadow)
        return x + shadow

    def _shadows_of(self, x: Tensor) -> list[Tensor]:
        entry = self._shadows.get(id(x))
        return entry[1] if entry is not None and entry[0] is x else []

    @staticmethod
    def _unsummed(
        grad: np.ndarray | None, shadow_grads: Sequence[np.ndarray | None]
    ) -> np.ndarray | None:
        present = [g for g in shadow_grads if g is not None]
        if grad is None or not present:
            return grad
        direct = grad - sum(_sum_to(g, grad.shape) for g in present)
        return direct + sum(present)  # NumPy broadcasting, as the buggy engine's `+=` would do

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        read = super().grad
        return self._unsummed(read(tensor), [read(s) for s in self._shadows_of(tensor)])

    def clear_grad(self, tensor: Tensor) -> None:
        for t in [tensor, *self._shadows_of(tensor)]:
            super().clear_grad(t)

    def zero_grad(self, tensor: Tensor) -> None:
        super().zero_grad(tensor)
        for s in self._shadows_of(tensor):
            if s.grad is not None:
                super().zero_grad(s)

    def grad_of(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray] | None = None,
        *,
        retain_graph: bool = False,
        allow_unused: bool = False,
    ) -> list[np.ndarray | None]:
        shadows = [self._shadows_of(x) for x in inputs]
        flat = [s for group in shadows for s in group]
        grads = super().grad_of(
            outputs,
            inputs,
            grad_outputs,
            retain_graph=retain_graph or bool(flat),
            allow_unused=allow_unused,
        )
        if not flat:
            return grads
        shadow_grads = iter(
            super().grad_of(
                outputs, flat, grad_outputs, retain_graph=retain_graph, allow_unused=True
            )
        )
        return [
            self._unsummed(g, [next(shadow_grads) for _ in group])
            for g, group in zip(grads, shadows, strict=True)
        ]

    def vjp(
        self,
        fn: Any,
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        leaves = [self.tensor(p, requires_grad=p.dtype.kind == "f") for p in primals]
        outputs = list(fn(leaves))
        values = [self.to_numpy(o) for o in outputs]
        pairs = [(o, c) for o, c in zip(outputs, cotangents, strict=True) if o.requires_grad]
        wanted = [leaf for leaf in leaves if leaf.requires_grad]
        if not pairs or not wanted:
            return values, [None] * len(leaves)
        seeds = [np.asarray(c, dtype=self.dtype(o)) for o, c in pairs]
        grads = iter(self.grad_of([o for o, _ in pairs], wanted, seeds, allow_unused=True))
        return values, [next(grads) if leaf.requires_grad else None for leaf in leaves]


def _sum_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    lead = grad.ndim - len(shape)
    out = grad.sum(axis=tuple(range(lead))) if lead > 0 else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1)
    return out.sum(axis=axes, keepdims=True) if axes else out


class Float64ForwardInFloat32(Bug):
    """Own design (class 11's family, in the forward): ops on float64 tensors run in float32
    (the engine's default dtype) and are cast back, so float64 results carry float32 rounding
    (relative error about 1e-8 instead of 1e-16). Gradients are unaffected."""

    bug_class = "own: float64 forward computed in float32"
    flagged_by = ("FWD-001",)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        correct = super().apply(op, args, params)
        if self.dtype(correct) != "float64":
            return correct
        (exact,) = tools.values(self, correct)
        rounded = tools.constant(self, exact.astype(np.float32), correct)
        if not tools.records(self, args):
            return rounded
        return rounded + tools.zero_carrier(correct)


class MatmulIsDot(Bug):
    """Own design (from an outside engine): matmul is NumPy's `dot`, which for 3-D operands is a
    tensordot over the last axis of one and the second-to-last of the other, not a batched
    product. Right for every rank below 3-D @ 3-D, which the program strategy must therefore
    draw."""

    bug_class = "own: matmul of batches is a tensordot"
    flagged_by = ("FWD-001",)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        if op == "matmul" and all(len(tuple(a.shape)) == 3 for a in args):
            left, right = (self.to_numpy(a) for a in args)
            return self.tensor(np.asarray(np.dot(left, right)))
        return super().apply(op, args, params)
