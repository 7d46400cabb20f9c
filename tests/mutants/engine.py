"""Bugs in the backward *engine*: how gradients flow through the graph, not any op's formula.

`FaultyEngine` re-runs backward over the wrapped engine's own graph (its nodes' local VJPs,
called one node at a time), with one of three classic engine bugs switched on:

- per-path recursion: a node reached along several paths is run once per path, each time
  sending on everything it has accumulated so far (class 6);
- assignment: a node's incoming gradients are stored with `=` instead of summed (class 7);
- stale buffers: intermediate nodes keep their gradient between backward calls (class 8).

Side effects are left to the real engine, so only the gradients differ: a backward first runs
the real one with the graph retained (which raises exactly where the engine would, and fills
retained non-leaf grads), then the faulty pass, then overwrites the leaves' `.grad` with their
old value plus the faulty contribution, then frees the graph through the engine if asked to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from conformance.protocol import Node, Tensor
from tests.mutants.base import Bug
from tests.mutants.graph import graph_leaves
from tests.mutants.storage import set_grad

Arrivals = dict[int, np.ndarray]
"""Gradient arriving at each leaf, keyed by id(leaf)."""


class FaultyEngine(Bug):
    """Base of the engine bugs; subclasses implement `propagate`."""

    def node_vjp(self, node: Node, grad: np.ndarray) -> list[np.ndarray | None]:
        """One node's backward, called directly on the engine's node object."""
        if not callable(node) and getattr(node, "saved", ()) is None:
            from autograd_conformance_reference.autograd import FREED_MSG

            raise RuntimeError(FREED_MSG)
        # PyTorch's nodes are called; the reference engine's have .apply. Both take a tensor.
        with self.m.no_grad():
            raw = node(self.tensor(grad)) if callable(node) else node.apply(self.tensor(grad))
        raw = raw if isinstance(raw, tuple | list) else (raw,)
        return [None if g is None else self.to_numpy(g) for g in raw]

    def leaf_of(self, node: Node) -> Tensor | None:
        return self.accumulated_tensor(node)

    def propagate(self, roots: list[tuple[Node, np.ndarray]]) -> Arrivals:
        raise NotImplementedError

    # -- the adapter methods that compute gradients -----------------------------------------------
    def _roots(
        self, outputs: Sequence[Tensor], seeds: Sequence[np.ndarray | None]
    ) -> tuple[list[tuple[Node, np.ndarray]], Arrivals]:
        roots: list[tuple[Node, np.ndarray]] = []
        direct: Arrivals = {}
        for out, seed in zip(outputs, seeds, strict=True):
            value = self.to_numpy(out)
            grad = np.ones_like(value) if seed is None else np.asarray(seed, dtype=value.dtype)
            node = self.grad_fn(out)
            if node is None:  # a leaf differentiated directly
                direct[id(out)] = direct.get(id(out), 0) + grad
            else:
                roots.append((node, grad))
        return roots, direct

    def _faulty(self, outputs: Sequence[Tensor], seeds: Sequence[np.ndarray | None]) -> Arrivals:
        roots, direct = self._roots(outputs, seeds)
        arrivals = self.propagate(roots) if roots else {}
        for key, grad in direct.items():
            arrivals[key] = arrivals.get(key, 0) + grad
        return arrivals

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        leaves = graph_leaves(self, tensor)
        read = super().grad
        before = {id(leaf): read(leaf) for leaf in leaves}
        super().backward(tensor, gradient, retain_graph=True, inputs=inputs)
        arrivals = self._faulty([tensor], [gradient])
        chosen = None if inputs is None else {id(t) for t in inputs}
        for leaf in leaves:
            key = id(leaf)
            if not leaf.requires_grad or key not in arrivals:
                continue
            if chosen is not None and key not in chosen:
                continue
            old = before[key]
            set_grad(self, leaf, _sum_to(arrivals[key], leaf.shape) + (0 if old is None else old))
        if not retain_graph:
            self._free([tensor], [gradient], [leaf for leaf in leaves if leaf.requires_grad])

    def _free(
        self, outputs: Sequence[Tensor], seeds: Sequence[np.ndarray | None], leaves: list[Tensor]
    ) -> None:
        """Release saved values through the engine, without touching `.grad`."""
        if leaves and any(self.grad_fn(o) is not None for o in outputs):
            grad_outputs = None if any(s is None for s in seeds) else list(seeds)
            super().grad_of(outputs, leaves, grad_outputs, allow_unused=True)  # type: ignore[arg-type]

    def grad_of(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray] | None = None,
        *,
        retain_graph: bool = False,
        allow_unused: bool = False,
    ) -> list[np.ndarray | None]:
        correct = super().grad_of(
            outputs, inputs, grad_outputs, retain_graph=True, allow_unused=allow_unused
        )
        seeds = [None] * len(outputs) if grad_outputs is None else list(grad_outputs)
        arrivals = self._faulty(outputs, seeds)
        result: list[np.ndarray | None] = []
        for tensor, grad in zip(inputs, correct, strict=True):
            faulty = arrivals.get(id(tensor)) if self.grad_fn(tensor) is None else None
            # Non-leaf inputs keep the engine's answer: the bug is modelled at leaves.
            result.append(grad if faulty is None or grad is None else _cast(faulty, grad))
        if not retain_graph:
            super().grad_of(outputs, inputs, grad_outputs, allow_unused=True)
        return result

    def vjp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        leaves = [self.tensor(p, requires_grad=p.dtype.kind == "f") for p in primals]
        outputs = list(fn(leaves))
        values = [self.to_numpy(o) for o in outputs]
        pairs = [(o, c) for o, c in zip(outputs, cotangents, strict=True) if o.requires_grad]
        arrivals = self._faulty([o for o, _ in pairs], [c for _, c in pairs]) if pairs else {}
        grads: list[np.ndarray | None] = []
        for leaf, primal in zip(leaves, primals, strict=True):
            got = arrivals.get(id(leaf))
            grads.append(None if got is None else _cast(_sum_to(got, primal.shape), primal))
        return values, grads


def _sum_to(grad: Any, shape: Sequence[int]) -> np.ndarray:
    grad = np.asarray(grad)
    shape = tuple(int(n) for n in shape)
    lead = grad.ndim - len(shape)
    if lead > 0:
        grad = grad.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _cast(grad: np.ndarray, like: np.ndarray) -> np.ndarray:
    return np.asarray(grad, dtype=like.dtype).reshape(like.shape)


class RecursivePerPathBackward(FaultyEngine):
    """Class 6 (a node reused by several paths is visited more than once): backward recurses
    from the root without a topological order, and each visit of a node sends on the gradient
    it has accumulated so far. Trees come out right; for `b = a + a; c = b + b` it gives
    dc/da = 6 instead of 4 (micrograd#2)."""

    bug_class = "6"
    flagged_by = ("ACC-002",)

    def propagate(self, roots: list[tuple[Node, np.ndarray]]) -> Arrivals:
        totals: dict[int, Any] = {}
        arrivals: Arrivals = {}

        def visit(node: Node, grad: np.ndarray) -> None:
            leaf = self.leaf_of(node)
            if leaf is not None:
                arrivals[id(leaf)] = arrivals.get(id(leaf), 0) + grad
                return
            totals[id(node)] = totals.get(id(node), 0) + grad
            children = self.next_nodes(node)
            for child, child_grad in zip(
                children, self.node_vjp(node, totals[id(node)]), strict=True
            ):
                if child is not None and child_grad is not None:
                    visit(child, child_grad)

        for node, grad in roots:
            visit(node, grad)
        return arrivals


class _Topological(FaultyEngine):
    """Kahn's algorithm over the graph, with the buffer update left to subclasses."""

    def combine(self, buffered: np.ndarray | None, incoming: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def entering(self, node: Node, grad: np.ndarray, is_root: bool) -> np.ndarray:
        return grad

    def propagate(self, roots: list[tuple[Node, np.ndarray]]) -> Arrivals:
        pending: dict[int, int] = {}
        nodes: dict[int, Node] = {}
        stack = [node for node, _ in roots]
        while stack:
            node = stack.pop()
            if id(node) in nodes:
                continue
            nodes[id(node)] = node
            for child in self.next_nodes(node):
                if child is not None:
                    pending[id(child)] = pending.get(id(child), 0) + 1
                    stack.append(child)
        buffers: dict[int, Any] = {}
        root_ids = set()
        for node, grad in roots:
            buffers[id(node)] = buffers.get(id(node), 0) + grad
            root_ids.add(id(node))
        arrivals: Arrivals = {}
        ready = [n for key, n in nodes.items() if pending.get(key, 0) == 0]
        while ready:
            node = ready.pop()
            grad = buffers.pop(id(node), None)
            leaf = self.leaf_of(node)
            grads: list[np.ndarray | None] = []
            if grad is not None and leaf is not None:
                arrivals[id(leaf)] = grad
            elif grad is not None:
                grads = self.node_vjp(node, self.entering(node, grad, id(node) in root_ids))
            for i, child in enumerate(self.next_nodes(node)):
                if child is None:
                    continue
                sent = grads[i] if i < len(grads) else None
                if sent is not None:
                    buffers[id(child)] = self.combine(buffers.get(id(child)), sent)
                pending[id(child)] -= 1
                if pending[id(child)] == 0:
                    ready.append(child)
        return arrivals


class AssignInsteadOfAccumulate(_Topological):
    """Class 7 (local gradient assigned with `=` instead of accumulated with `+=`): a node that
    receives gradients from several consumers keeps only the last one, so `x*x` gives `x`
    instead of `2x`, `x+x` gives 1 and `a-a` gives -1 instead of 0 (nn-zero-to-hero#52)."""

    bug_class = "7"
    flagged_by = ("ACC-002",)

    def combine(self, buffered: np.ndarray | None, incoming: np.ndarray) -> np.ndarray:
        return incoming


class StaleIntermediateGrads(_Topological):
    """Class 8 (intermediate gradients not reset between backward calls): every non-root node
    keeps the gradient it received in earlier backward calls and sends on the running total,
    so a second backward through a retained graph gives more than twice the first at any leaf
    below an intermediate node (micrograd#53). A single backward is right."""

    bug_class = "8"
    flagged_by = ("ACC-001",)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._kept: dict[int, tuple[Node, np.ndarray]] = {}

    def combine(self, buffered: np.ndarray | None, incoming: np.ndarray) -> np.ndarray:
        return incoming if buffered is None else buffered + incoming

    def entering(self, node: Node, grad: np.ndarray, is_root: bool) -> np.ndarray:
        if is_root:  # the root's gradient is set, not accumulated, at the start of backward
            return grad
        kept = self._kept.get(id(node))
        total = grad if kept is None or kept[0] is not node else kept[1] + grad
        self._kept[id(node)] = (node, total)
        return total
