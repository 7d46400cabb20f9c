"""Bugs in the walkable backward graph: which accumulate nodes it has and what they reach."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conformance.protocol import Node, Tensor
from tests.mutants.base import Bug


def graph_leaves(adapter: Bug, root: Tensor) -> list[Tensor]:
    """The leaves whose accumulate nodes the backward graph of `root` reaches, in walk order."""
    start = adapter.grad_fn(root)
    if start is None:
        return [root] if root.requires_grad else []
    leaves: dict[int, Tensor] = {}
    seen: set[int] = set()
    stack: list[Node] = [start]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        variable = adapter.accumulated_tensor(node)
        if variable is not None:
            leaves.setdefault(id(variable), variable)
        stack.extend(n for n in adapter.next_nodes(node) if n is not None)
    return list(leaves.values())


class _PerUseAccumulate:
    """A second accumulate node for the same leaf, as an engine without a per-leaf cache makes."""

    def __init__(self, original: Node) -> None:
        self.original = original
        self.variable = original.variable
        self.next_functions: tuple[Any, ...] = ()


class AccumulateNodePerUse(Bug):
    """Own design: the engine creates a new accumulate node for every use of a leaf instead of
    one per leaf shared by all uses (PyTorch caches it: `(w*1)` reuses the same node), so the
    graph of `w * w` has two accumulate nodes for w. Gradients are still right."""

    bug_class = "own: AccumulateGrad not shared between uses"
    flagged_by = ("GRAPH-002",)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._per_use: dict[tuple[int, int], tuple[Node, _PerUseAccumulate]] = {}

    def next_nodes(self, node: Node) -> list[Node | None]:
        nodes = super().next_nodes(node)
        if isinstance(node, _PerUseAccumulate):
            return []
        out: list[Node | None] = []
        for i, nxt in enumerate(nodes):
            if nxt is None or super().accumulated_tensor(nxt) is None:
                out.append(nxt)
                continue
            key = (id(node), i)
            if key not in self._per_use:
                self._per_use[key] = (node, _PerUseAccumulate(nxt))
            out.append(self._per_use[key][1])
        return out

    def node_name(self, node: Node) -> str:
        if isinstance(node, _PerUseAccumulate):
            return super().node_name(node.original)
        return super().node_name(node)


class _StrayAccumulate:
    """An accumulate node for a leaf that does not require grad."""

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable
        self.next_functions: tuple[Any, ...] = ()


class GraphReachesNonRequiringLeaf(Bug):
    """Own design: the engine gives every op an edge to every operand, so the backward graph
    also reaches accumulate nodes of leaves that do not require grad (PyTorch: a None edge).
    The stray nodes are never sent a gradient, so `.grad` stays right."""

    bug_class = "own: graph edges to leaves that do not require grad"
    flagged_by = ("GRAPH-001",)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._operands: dict[int, tuple[Node, list[Tensor]]] = {}
        self._stray: dict[int, _StrayAccumulate] = {}

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        result = super().apply(op, args, params)
        node = super().grad_fn(result)
        if node is not None:
            self._operands[id(node)] = (node, list(args))
        return result

    def _stray_for(self, leaf: Tensor) -> _StrayAccumulate:
        node = self._stray.get(id(leaf))
        if node is None or node.variable is not leaf:
            node = self._stray[id(leaf)] = _StrayAccumulate(leaf)
        return node

    def next_nodes(self, node: Node) -> list[Node | None]:
        if isinstance(node, _StrayAccumulate):
            return []
        nodes = super().next_nodes(node)
        entry = self._operands.get(id(node))
        if entry is None or entry[0] is not node:
            return nodes
        stray = [
            self._stray_for(a)
            for a in entry[1]
            if not a.requires_grad and a.grad_fn is None and self.dtype(a).startswith("float")
        ]
        return nodes + stray

    def node_name(self, node: Node) -> str:
        return "AccumulateGrad" if isinstance(node, _StrayAccumulate) else super().node_name(node)
