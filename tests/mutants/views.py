"""Bugs in views and in-place ops: writes that the graph does not see, views that are copies, a
detach() that copies or keeps the graph, a view of a leaf written without a word, and a leaf
written under no-grad that stops requiring grad.

Each bug wraps the reference engine's own ops (or PyTorch's) through its Python API on
`adapter.m`, so everything but the bug behaves as the engine does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conformance.protocol import Tensor
from conformance.spec.ops import VIEW_OPS
from tests.mutants.base import Bug


class InplaceNotRecorded(Bug):
    """Own design: an in-place op on a non-leaf writes the values but records nothing (as if
    run under no-grad), so the tensor keeps its old grad_fn and backward differentiates the
    program without the write."""

    bug_class = "own: in-place ops on non-leaves are not recorded"
    flagged_by = ("VIEW-002", "VIEW-003")

    def inplace(self, op: str, tensor: Tensor, other: Tensor) -> Tensor:
        if tensor.grad_fn is None:
            return super().inplace(op, tensor, other)
        with self.m.no_grad():
            return super().inplace(op, tensor, other)


class _TracksViews(Bug):
    """Remembers which tensor each view (narrow and the op set's views) was taken of."""

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._bases: dict[int, tuple[Tensor, Tensor]] = {}

    def narrow(self, tensor: Tensor, dim: int, start: int, length: int) -> Tensor:
        return self._remember(super().narrow(tensor, dim, start, length), tensor)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        result = super().apply(op, args, params)
        return self._remember(result, args[0]) if op in VIEW_OPS else result

    def _remember(self, view: Tensor, base: Tensor) -> Tensor:
        # the view is kept with its base, so its id names it for as long as the entry lives
        self._bases[id(view)] = (view, self.base_of(base))
        return view

    def base_of(self, tensor: Tensor) -> Tensor:
        entry = self._bases.get(id(tensor))
        return tensor if entry is None else entry[1]


class ViewWriteSkipsBase(_TracksViews):
    """Own design: an in-place op through a view writes the shared storage, so the base holds
    the new values, but the graph records nothing: the base keeps its grad_fn and backward
    through it misses the write (no CopySlices)."""

    bug_class = "own: an in-place op on a view does not rebase its base"
    flagged_by = ("VIEW-004",)

    def inplace(self, op: str, tensor: Tensor, other: Tensor) -> Tensor:
        base = self.base_of(tensor)
        if base is tensor or base.grad_fn is None:
            return super().inplace(op, tensor, other)
        with self.m.no_grad():
            return super().inplace(op, tensor, other)


class ViewOfLeafWrittenSilently(_TracksViews):
    """Own design: the leaf check of in-place ops looks at the tensor written only, so a view of
    a leaf that requires grad (itself a non-leaf) is written without a refusal, changing the
    leaf's values behind the graph's back."""

    bug_class = "own: an in-place op on a view of a leaf is not refused"
    flagged_by = ("VIEW-005",)

    def inplace(self, op: str, tensor: Tensor, other: Tensor) -> Tensor:
        base = self.base_of(tensor)
        if base is tensor or not (base.is_leaf and base.requires_grad):
            return super().inplace(op, tensor, other)
        with self.m.no_grad():
            return super().inplace(op, tensor, other)


class ViewsAreCopies(Bug):
    """Own design: `narrow` copies instead of viewing, so a write through it never reaches the
    base and the base and the "view" each have a version counter of their own."""

    bug_class = "own: narrow returns a copy, not a view"
    flagged_by = ("VIEW-004", "VIEW-008")

    def narrow(self, tensor: Tensor, dim: int, start: int, length: int) -> Tensor:
        return super().narrow(tensor, dim, start, length) * 1  # a new tensor, in the graph


class DetachCopies(Bug):
    """Own design: detach() returns a copy of the values, so a write through the detached
    tensor is not seen by the original (PyTorch's detach shares storage)."""

    bug_class = "own: detach() copies the storage"
    flagged_by = ("VIEW-006",)

    def detach(self, tensor: Tensor) -> Tensor:
        return self.tensor(self.to_numpy(tensor))


class DetachKeepsGraph(Bug):
    """Own design: detach() of a tensor that requires grad returns a view of it that stays in
    the graph (a non-leaf requiring grad), as if detach were `view_as`."""

    bug_class = "own: detach() keeps the graph"
    flagged_by = ("VIEW-006",)

    def detach(self, tensor: Tensor) -> Tensor:
        if not tensor.requires_grad:
            return super().detach(tensor)
        return tensor.reshape(tuple(tensor.shape))


class NoGradWriteDropsRequiresGrad(Bug):
    """Own design: an in-place op on a leaf under no-grad also switches its requires_grad off
    (the no-grad result's flag is copied onto the leaf), so an optimizer step takes the
    parameter out of every later backward."""

    bug_class = "own: a leaf written under no-grad stops requiring grad"
    flagged_by = ("VIEW-007",)

    def inplace(self, op: str, tensor: Tensor, other: Tensor) -> Tensor:
        result = super().inplace(op, tensor, other)
        if not self.m.is_grad_enabled() and tensor.is_leaf:
            tensor.requires_grad_(False)
        return result
