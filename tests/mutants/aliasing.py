"""Bugs in what `.grad` shares memory with, and in the grad-mode check of single ops.

The gradients themselves are right; what is wrong is that a `.grad` is a tensor some other
tensor also writes to (the seed, another leaf's `.grad`, a buffer of a later pass), or that one
op records a node where grad mode says it must not. Everything goes through PyTorch's Python
API on `adapter.m`, so each bug runs on the reference engine and on PyTorch alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conformance.protocol import Tensor
from tests.mutants.base import Bug
from tests.mutants.graph import graph_leaves


class GradKeepsIncomingGradient(Bug):
    """Own design (an outside mutant that passed `ci`): the first gradient a `.grad` receives is
    stored as it arrived, without a copy. Where an op hands its incoming gradient on unchanged
    (`add`, the first operand of `sub`, a leaf as the root), the leaf's `.grad` is then the seed
    passed to backward itself, the same tensor as another leaf's `.grad`, or a retained
    non-leaf's `.grad`: changing one in place changes the others.

    Modelled at the adapter boundary after the real backward: each tensor whose `.grad` was
    None before takes, instead of its new `.grad`, the seed or an earlier tensor's `.grad` of
    this pass when that holds exactly the same values (which is what "arrived unchanged" leaves).
    """

    bug_class = "own: .grad is the incoming gradient, not a copy"
    flagged_by = ("ALIAS-001", "ALIAS-002", "ALIAS-003", "ALIAS-004")

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._retained: list[Tensor] = []

    def retain_grad(self, tensor: Tensor) -> None:
        super().retain_grad(tensor)
        self._retained.append(tensor)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        fresh = self._without_grad(tensor)
        super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)
        self._keep_incoming(fresh, [])

    def backward_tensor(self, tensor: Tensor, gradient: Tensor) -> None:
        fresh = self._without_grad(tensor)
        super().backward_tensor(tensor, gradient)
        self._keep_incoming(fresh, [gradient])

    def _without_grad(self, root: Tensor) -> list[Tensor]:
        # Retained non-leaves first: along a pass-through the non-leaf is reached first.
        retained, self._retained = self._retained, []
        candidates = [*retained, *graph_leaves(self, root)]
        return [t for t in candidates if t.requires_grad and t.grad is None]

    def _keep_incoming(self, fresh: list[Tensor], given: list[Tensor]) -> None:
        buffers = list(given)
        for tensor in fresh:
            grad = tensor.grad
            if grad is None:
                continue
            same = next((b for b in buffers if self._same_values(b, grad)), None)
            if same is None:
                buffers.append(grad)
            else:
                tensor.grad = same

    def _same_values(self, a: Tensor, b: Tensor) -> bool:
        left, right = self.to_numpy(a), self.to_numpy(b)
        return (
            left.dtype == right.dtype
            and left.shape == right.shape
            and bool(np.array_equal(left, right))
        )


class GradBufferReusedNextPass(Bug):
    """Own design: the engine takes `.grad` buffers from a pool of its own and counts every
    buffer free again once a backward pass ends, so a later pass writes another leaf's gradient
    of the same shape and dtype into a buffer an earlier leaf still holds as its `.grad`. Within
    one pass every leaf has its own buffer, and accumulation into a leaf that already has a
    `.grad` is right."""

    bug_class = "own: .grad buffers reused by the next backward pass"
    flagged_by = ("ALIAS-005",)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._pool: dict[tuple[tuple[int, ...], str], list[Tensor]] = {}

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        fresh = [leaf for leaf in graph_leaves(self, tensor) if leaf.grad is None]
        super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)
        self._hand_out(fresh)

    def backward_tensor(self, tensor: Tensor, gradient: Tensor) -> None:
        fresh = [leaf for leaf in graph_leaves(self, tensor) if leaf.grad is None]
        super().backward_tensor(tensor, gradient)
        self._hand_out(fresh)

    def _hand_out(self, fresh: list[Tensor]) -> None:
        free = {key: list(buffers) for key, buffers in self._pool.items()}
        for leaf in fresh:
            grad = leaf.grad
            if grad is None:
                continue
            key = (tuple(int(n) for n in grad.shape), self.dtype(grad))
            spare = free.get(key)
            if not spare:
                self._pool.setdefault(key, []).append(grad)
                continue
            buffer = spare.pop()
            with self.m.no_grad():
                buffer.zero_()
                buffer.add_(grad)
            leaf.grad = buffer


class NoGradSumRecordsNode(Bug):
    """Own design (an outside mutant that passed `ci`): `sum` and `mean` skip the grad-mode
    check when their operand is a leaf that requires grad, so under no-grad `x.sum()` of such a
    leaf records a node (a non-leaf with a `grad_fn`, requiring grad), while the same reduction
    of an op result, and every other op, records nothing as it must."""

    bug_class = "own: reductions of a leaf record under no_grad"
    flagged_by = ("NOGRAD-001", "RG-005")

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        operand = args[0]
        if (
            op in ("sum", "mean")
            and not self.m.is_grad_enabled()
            and operand.is_leaf
            and operand.requires_grad
        ):
            with self.m.enable_grad():
                return super().apply(op, args, params)
        return super().apply(op, args, params)
