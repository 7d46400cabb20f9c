"""Bugs in forward mode: one op's tangent rule wrong (half the product rule, a sum's tangent
averaged, a broadcast operand's tangent dropped), tangents kept in float64, and primals of a
dual run computed in another precision than the plain run's.

Each bug sits in `apply`, on top of the engine's own forward mode (PyTorch's
torch.autograd.forward_ad, or the reference engine's): the correct op runs, and only inside a
dual level, on a result that has a tangent, the tangent (or the primal) is replaced through
make_dual. Outside a dual level nothing changes, so reverse mode stays right and only the
forward-mode requirements can see the bug.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from conformance.protocol import Tensor
from tests.mutants.base import Bug


class _TangentBug(Bug):
    """The op `op`'s result keeps its primal, with the tangent `wrong_tangent` gives."""

    op: ClassVar[str] = ""

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        out = super().apply(op, args, params)
        if self.op and op != self.op:
            return out
        fwd = self.m.autograd.forward_ad
        primal, tangent = fwd.unpack_dual(out)
        if tangent is None:  # outside a dual level, or no tangent reaches the result
            return out
        return fwd.make_dual(primal, self.wrong_tangent(args, primal, tangent))

    def wrong_tangent(self, args: Sequence[Tensor], primal: Tensor, tangent: Tensor) -> Tensor:
        raise NotImplementedError

    def tangent_of(self, t: Tensor) -> Tensor | None:
        return self.m.autograd.forward_ad.unpack_dual(t).tangent


class MulTangentOneSided(_TangentBug):
    """Own design: mul's tangent is d(a*b) = da * b only, the product rule's second half
    (a * db) forgotten: exact where b carries no tangent, wrong wherever both factors do."""

    bug_class = "own: mul's JVP drops the second factor's tangent"
    flagged_by = ("JVP-001", "JVP-002", "JVP-003")
    op = "mul"

    def wrong_tangent(self, args: Sequence[Tensor], primal: Tensor, tangent: Tensor) -> Tensor:
        first = self.tangent_of(args[0])
        b = self.m.autograd.forward_ad.unpack_dual(args[1]).primal
        return tangent * 0 if first is None else (first * b).expand(tuple(primal.shape))


class SumTangentAveraged(_TangentBug):
    """Own design: sum's tangent is the mean of the operand's tangent over the reduced
    elements, as if sum shared mean's rule: right only where nothing is reduced."""

    bug_class = "own: sum's JVP divides by the number of summed elements"
    flagged_by = ("JVP-001", "JVP-002", "JVP-003")
    op = "sum"

    def wrong_tangent(self, args: Sequence[Tensor], primal: Tensor, tangent: Tensor) -> Tensor:
        count = math.prod(args[0].shape) // max(1, math.prod(primal.shape))
        return tangent / max(1, count)


class BroadcastTangentDropped(_TangentBug):
    """Own design: add's JVP ignores broadcasting: the tangent of an operand broadcast to a
    larger shape is left out (as an engine that adds only the tangents of the result's shape)."""

    bug_class = "own: add's JVP drops the tangent of a broadcast operand"
    flagged_by = ("JVP-001", "JVP-002", "JVP-003")
    op = "add"

    def wrong_tangent(self, args: Sequence[Tensor], primal: Tensor, tangent: Tensor) -> Tensor:
        kept = tangent * 0
        for arg in args:
            own = self.tangent_of(arg)
            if own is not None and tuple(own.shape) == tuple(primal.shape):
                kept = kept + own
        return kept


class TangentUpcastToFloat64(_TangentBug):
    """Modelled on engines that keep derivatives in double precision: every op's tangent is
    stored in float64, whatever its primal's dtype (PyTorch keeps the primal's dtype)."""

    bug_class = "own: forward-mode tangents in float64"
    flagged_by = ("JVP-005",)

    def wrong_tangent(self, args: Sequence[Tensor], primal: Tensor, tangent: Tensor) -> Tensor:
        return tangent.double()


class DualPrimalInFloat64(Bug):
    """Own design: on dual tensors the engine computes each op's primal in float64 and rounds it
    back (a fused dual-number kernel), so a float32 program's outputs differ in the last bits
    from its plain run: forward mode must leave the primal values as they are."""

    bug_class = "own: dual primals computed in float64"
    flagged_by = ("JVP-004",)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        out = super().apply(op, args, params)
        fwd = self.m.autograd.forward_ad
        primal, tangent = fwd.unpack_dual(out)
        if tangent is None or str(primal.dtype).rsplit(".", 1)[-1] != "float32":
            return out
        plain = [fwd.unpack_dual(a).primal for a in args]
        wide = [a.double() if self.dtype(a) == "float32" else a for a in plain]
        rounded = super().apply(op, wide, params).float()
        return fwd.make_dual(rounded.detach(), tangent)
