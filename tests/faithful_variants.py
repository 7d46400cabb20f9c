"""Engines that are built differently from PyTorch in ways no requirement forbids: the suites
must not fail them. Loaded as `tests.faithful_variants:Name`; tests/test_faithful_variants.py
runs the requirements each one concerns."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.backends.reference import ReferenceAdapter


class _ConstantLeafNode:
    """An accumulate node of a constant the engine wrapped as a leaf of its own."""

    def __init__(self, leaf: Any) -> None:
        self.leaf = leaf


class FreshConstantLeaves(ReferenceAdapter):
    """Wraps the constants of every op as fresh leaves of its own, each with its own accumulate
    node (engines that turn Python scalars into tensors do). Distinct leaves, one node each: the
    graph of every program leaf still has one accumulate node per leaf."""

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._constants: dict[int, tuple[Any, _ConstantLeafNode]] = {}

    def next_nodes(self, node: Any) -> list[Any]:
        if isinstance(node, _ConstantLeafNode):
            return []
        if id(node) not in self._constants:
            constant = self.tensor(np.array(2.0))
            self._constants[id(node)] = (node, _ConstantLeafNode(constant))
        return [*super().next_nodes(node), self._constants[id(node)][1]]

    def accumulated_tensor(self, node: Any) -> Any:
        if isinstance(node, _ConstantLeafNode):
            return node.leaf
        return super().accumulated_tensor(node)

    def node_name(self, node: Any) -> str:
        if isinstance(node, _ConstantLeafNode):
            return "AccumulateGrad"
        return super().node_name(node)
