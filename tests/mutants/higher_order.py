"""Bugs in higher-order gradients: create_graph accepted and ignored, a backward whose first
derivative is right and whose second is not, a Hessian-vector product that drops the mixed
terms, .grad left out of the graph by backward(create_graph=True), and backward(inputs=...)
that fills every leaf.

Each bug wraps the reference engine's own calls (or PyTorch's), so everything but the bug
behaves as the engine does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from conformance.protocol import Tensor
from tests.mutants import tools
from tests.mutants.base import Bug
from tests.mutants.gradients import OneOpBug


class CreateGraphIgnored(Bug):
    """Own design: autograd.grad accepts create_graph=True and returns the gradients it would
    return without it, detached from the graph: an engine whose backward runs outside any
    recording, so nothing can be differentiated twice."""

    bug_class = "own: create_graph accepted and ignored"
    flagged_by = ("HIGHER-001", "HIGHER-002", "HIGHER-003")

    def grad_graph(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray],
        *,
        create_graph: bool = True,
    ) -> list[Tensor | None]:
        grads = super().grad_graph(outputs, inputs, grad_outputs, create_graph=False)
        return [None if g is None else g.detach() for g in grads]


class MulBackwardSavesConstants(OneOpBug):
    """Own design: mul's backward multiplies the incoming gradient by the other operand's saved
    values as a constant, outside the graph: every first-order gradient is right, but a gradient
    of a gradient misses the path through the saved operand (d/dx of the gradient of x*x is 0
    instead of 2). Engines whose backward formulas read raw arrays have exactly this bug."""

    bug_class = "own: mul's backward reads its saved operands as constants"
    flagged_by = ("HIGHER-002", "HIGHER-003", "HVP-001")
    op = "mul"

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        a, b = tools.values(self, args[0], args[1])
        return tools.with_local_grads(self, correct, [(args[0], b), (args[1], a)])


class HvpWithoutMixedTerms(Bug):
    """Own design: the Hessian-vector product differentiates each input's gradient with respect
    to that input alone (a block-diagonal Hessian), dropping the mixed second derivatives
    d^2 f / dx dy between different inputs."""

    bug_class = "own: Hessian-vector product without the mixed terms"
    flagged_by = ("HVP-001",)

    def hvp(
        self,
        fn: Callable[[Sequence[Tensor]], Tensor],
        primals: Sequence[np.ndarray],
        vectors: Sequence[np.ndarray],
    ) -> list[np.ndarray | None]:
        result: list[np.ndarray | None] = [None] * len(primals)
        for n in range(len(primals)):
            # only input n varies; the others are held at their values (no mixed terms)
            only = [v if k == n else np.zeros_like(v) for k, v in enumerate(vectors)]
            result[n] = super().hvp(fn, primals, only)[n]
        return result


class BackwardCreateGraphDetachesGrad(Bug):
    """Own design: backward(create_graph=True) computes the right gradient but stores a detached
    copy in .grad, so a backward from .grad adds nothing (the engine accepts create_graph and
    ignores it when accumulating)."""

    bug_class = "own: backward(create_graph=True) stores a detached .grad"
    flagged_by = ("HIGHER-004",)

    def backward_graph(self, tensor: Tensor, gradient: np.ndarray | None = None) -> None:
        super().backward_graph(tensor, gradient)
        self._detach_grads(tensor)

    def _detach_grads(self, tensor: Tensor) -> None:
        seen: set[int] = set()
        stack = [tensor.grad_fn]
        while stack:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            leaf = getattr(node, "variable", None)
            if leaf is not None and leaf.grad is not None:
                leaf.grad = leaf.grad.detach()
            stack.extend(nxt for nxt, _ in node.next_functions)


class BackwardInputsIgnored(Bug):
    """Own design: backward(inputs=...) accepts the list and back-propagates to every leaf, as
    an engine that has no notion of chosen inputs does."""

    bug_class = "own: backward(inputs=...) fills every leaf"
    flagged_by = ("HIGHER-005",)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        super().backward(tensor, gradient, retain_graph=retain_graph)
