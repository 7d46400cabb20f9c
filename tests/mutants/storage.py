"""Bugs in `.grad` bookkeeping: where gradients are stored, accumulated, reset and retained.

The gradients the wrapped engine computes are right; the mutants store them wrongly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conformance.protocol import Tensor
from tests.mutants import tools
from tests.mutants.base import Bug
from tests.mutants.graph import graph_leaves


def set_grad(adapter: Bug, tensor: Tensor, value: np.ndarray | None) -> None:
    """Store `value` as `tensor.grad` in the tensor's dtype, through the engine's own setter."""
    tensor.grad = None if value is None else adapter.tensor(value.astype(adapter.dtype(tensor)))


def add_to_grad(adapter: Bug, tensor: Tensor, value: np.ndarray) -> None:
    current = adapter.grad(tensor)
    set_grad(adapter, tensor, value if current is None else current + value)


class RetainGraphIgnored(Bug):
    """Class 9 (`retain_graph` ignored): saved values are never freed, so a second backward
    through a graph that was not retained silently succeeds (and accumulates) where PyTorch
    raises "Trying to backward through the graph a second time" (pytorch#21469)."""

    bug_class = "9"
    flagged_by = ("RETAIN-001",)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        super().backward(tensor, gradient, retain_graph=True, inputs=inputs)

    def grad_of(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray] | None = None,
        *,
        retain_graph: bool = False,
        allow_unused: bool = False,
    ) -> list[np.ndarray | None]:
        return super().grad_of(
            outputs, inputs, grad_outputs, retain_graph=True, allow_unused=allow_unused
        )


class GradUpcastToFloat64(Bug):
    """Class 11 (`.grad` dtype differs from the parameter's): gradients are accumulated in
    float64 whatever the leaf's dtype, so a float32 leaf gets a float64 `.grad`
    (tinygrad PR#3613, chainer#684)."""

    bug_class = "11"
    flagged_by = ("DTYPE-001", "VJP-002")

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        grad = super().grad(tensor)
        return None if grad is None else grad.astype(np.float64)

    def grad_dtype(self, tensor: Tensor) -> str | None:
        return None if super().grad_dtype(tensor) is None else "float64"

    def grad_of(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray] | None = None,
        *,
        retain_graph: bool = False,
        allow_unused: bool = False,
    ) -> list[np.ndarray | None]:
        grads = super().grad_of(
            outputs, inputs, grad_outputs, retain_graph=retain_graph, allow_unused=allow_unused
        )
        return [None if g is None else g.astype(np.float64) for g in grads]


class GradOfWritesGrad(Bug):
    """Own design: `autograd.grad` is implemented as a backward into `.grad` that is read back
    and left there, so the functional gradient also accumulates into the inputs' `.grad`."""

    bug_class = "own: autograd.grad touches .grad"
    flagged_by = ("VJP-001",)

    def grad_of(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray] | None = None,
        *,
        retain_graph: bool = False,
        allow_unused: bool = False,
    ) -> list[np.ndarray | None]:
        grads = super().grad_of(
            outputs, inputs, grad_outputs, retain_graph=retain_graph, allow_unused=allow_unused
        )
        for tensor, grad in zip(inputs, grads, strict=True):
            if grad is not None and super().is_leaf(tensor):
                add_to_grad(self, tensor, grad)
        return grads


class ZeroGradOutOfPlace(Bug):
    """Own design: `grad.zero_()` is implemented out of place (it returns a zeroed copy), so
    `.grad` keeps its old value and the next backward adds to stale gradients."""

    bug_class = "own: zero_grad not in place"
    flagged_by = ("ACC-005",)

    def zero_grad(self, tensor: Tensor) -> None:
        _ = tensor.grad * 0  # the zeroed copy is dropped, as the buggy zero_() drops it


class ClearGradIgnored(Bug):
    """Own design: the `.grad` setter ignores None, so `tensor.grad = None` keeps the old
    gradient and the next backward accumulates onto it."""

    bug_class = "own: grad = None ignored"
    flagged_by = ("ACC-004",)

    def clear_grad(self, tensor: Tensor) -> None:
        return None


class EveryTensorRetainsGrad(Bug):
    """Own design (micrograd-style): every op result keeps its gradient, so a non-leaf's
    `.grad` is populated by backward without `retain_grad()` (PyTorch: None)."""

    bug_class = "own: non-leaf .grad populated without retain_grad"
    flagged_by = ("ACC-006",)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        result = super().apply(op, args, params)
        if tools.records(self, args) and result.requires_grad and not result.is_leaf:
            result.retain_grad()
        return result


class GradOverwrittenNotAccumulated(Bug):
    """Own design: the accumulate node assigns (`leaf.grad = g`) instead of adding, so every
    backward replaces the leaf's gradient: k retained backward calls leave 1x, and the second
    of two losses wipes out the first."""

    bug_class = "own: .grad assigned instead of accumulated"
    flagged_by = ("ACC-001", "ACC-003")

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        leaves = graph_leaves(self, tensor) if inputs is None else list(inputs)
        read = super().grad
        before = {id(leaf): read(leaf) for leaf in leaves}
        super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)
        for leaf in leaves:
            old, new = before[id(leaf)], read(leaf)
            if old is not None and new is not None:
                set_grad(self, leaf, new - old)


class RetainGradIgnored(Bug):
    """Own design: `retain_grad()` is accepted but does nothing (the engine frees every
    non-leaf gradient after backward), so a retained non-leaf's `.grad` stays None."""

    bug_class = "own: retain_grad is a no-op"
    flagged_by = ("RETAIN-002",)

    def retain_grad(self, tensor: Tensor) -> None:
        if not tensor.requires_grad:  # still refuses where the engine would, as PyTorch does
            super().retain_grad(tensor)
