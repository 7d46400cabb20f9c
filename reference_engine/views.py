"""Views of a base tensor, and in-place ops written through them (PyTorch's CopySlices).

A view shares its base's NumPy memory, so a write through it already reaches the base's values;
what this module adds is the base's history. Every view made by shape_ops records its root base
(a view of a view records the first base) and the index map of its elements into the base's
flattened elements, read off the view's strides and offset. An in-place op on a view then does
what torch does:

- on a view of a leaf that requires grad, in grad mode, it raises;
- otherwise the op is recorded on the view's old value, and the base's grad_fn becomes a
  CopySlices node: the base's gradient passes through unchanged outside the view, and inside it
  goes through the in-place op's backward; the op's other operands get their gradients from it;
- the view's grad_fn becomes AsStridedBackward0, which sends its gradient into that CopySlices.

zero_() through a view, and `a[key] = value` for a key of ints and slices (the write of a view of
a, a CopyBackwards node inside CopySlices), are rebased the same way.

Not modelled: torch also regenerates the grad_fn of every OTHER view of the same base when the
base is written (lazily, on the next access of that view's grad_fn); here only the view written
through and its base change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import ops, shape_ops
from .autograd import GradMode, Node, edge, no_grad
from .tensor import Scalar, Tensor
from .versions import bump, share

VIEW_OF_LEAF_MSG = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)
OVERLAPPING_MSG = (
    "unsupported operation: more than one element of the written-to tensor refers to a single"
    " memory location. Please clone() the tensor before performing the operation."
)


class ViewOf:
    """A view's root base, and for each element of the view the flat index of the base element
    it shows."""

    __slots__ = ("base", "index")

    def __init__(self, base: Tensor, index: np.ndarray) -> None:
        self.base = base
        self.index = index


def share_view(view: Tensor, base: Tensor) -> Tensor:
    """What every view op of shape_ops calls on its result: the base's version counter
    (versions.share) and, where the result aliases the base's memory, its view record."""
    share(view, base)
    record = view_of(base)
    root = base if record is None else record.base
    index = _index_map(view._data, root._data)
    if index is not None:
        made: Any = view  # the slot `_view` is made on first need, as `_version_counter`
        made._view = ViewOf(root, index)
    return view


def view_of(t: Tensor) -> ViewOf | None:
    """The tensor's view record, or None for a tensor that is no view."""
    found: ViewOf | None = getattr(t, "_view", None)
    return found


def _index_map(view: Any, root: Any) -> np.ndarray | None:
    """The flat index into `root` of each element of `view`, or None where `view` is not a view
    of it (NumPy copied) or `root` is not laid out row-major (only views have other layouts,
    and a view's root is never a view)."""
    if not (isinstance(view, np.ndarray) and isinstance(root, np.ndarray)):
        return None
    if not np.may_share_memory(view, root) or not root.flags.c_contiguous:
        return None
    size = root.itemsize
    offset = view.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if offset % size or any(s % size for s in view.strides):
        return None
    flat = np.arange(root.size, dtype=np.int64)
    elements = np.lib.stride_tricks.as_strided(
        flat[offset // size :],
        shape=view.shape,
        strides=tuple(s // size * flat.itemsize for s in view.strides),
    )
    return np.array(elements)


def narrow(a: Tensor, dim: int, start: int, length: int) -> Tensor:
    """`a.narrow(dim, start, length)`: the slice start:start+length of dimension dim, a view."""
    d = ops.normalize_dim(dim, a._data.ndim)
    size = a._data.shape[d]
    if not -size <= start <= size:
        raise IndexError(
            f"start out of range (expected to be in range of [{-size}, {size}], but got {start})"
        )
    start = start % size if start < 0 else start
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    # one slice, never skipped: torch records SliceBackward0 even for the whole dimension
    return shape_ops._index_one(a, (slice(None),) * d + (slice(start, start + length),))


# --- in-place through a view -------------------------------------------------------------------
class CopySlices(Node):
    """The base's node after an in-place op on one of its views. next_functions: the base's
    previous history, then the in-place op's other inputs."""

    __slots__ = ("fn", "index", "outside", "shape")
    fn: Node
    """The in-place op's own node, recorded on the view's old value."""
    index: np.ndarray
    outside: np.ndarray
    """1 where a base element is not shown by the view, 0 where it is, in the base's dtype."""
    shape: tuple[int, ...]

    def name(self) -> str:
        return "torch::autograd::CopySlices"

    def apply(self, g: Tensor) -> ops.Grads:
        flat = shape_ops.reshape(g, (-1,))
        inner = self.fn.apply(shape_ops._index_one(flat, self.index))
        base = ops.mul(flat, Tensor._wrap(self.outside.astype(g._data.dtype)))
        if inner[0] is not None:
            base = ops.add(base, _scatter(inner[0], self.outside.size, self.index))
        return (shape_ops.reshape(base, self.shape), *inner[1:])


class AsStridedBackward0(Node):
    """A view's node after an in-place op on it: its gradient goes to its base's elements."""

    __slots__ = ("index", "shape")
    index: np.ndarray
    shape: tuple[int, ...]

    def apply(self, g: Tensor) -> ops.Grads:
        size = int(np.prod(self.shape, dtype=np.int64))
        return (shape_ops.reshape(_scatter(g, size, self.index), self.shape),)


def _scatter(g: Tensor, size: int, index: np.ndarray) -> Tensor:
    """A flat tensor of `size` zeros with g added at `index` (differentiable: its gradient
    gathers at the index again)."""
    return shape_ops._scatter(g, (size,), index, shape_ops.IndexPutBackward0)


def zero_(view: Tensor) -> Tensor:
    """view.zero_(): an in-place op like the others, its own node ZeroBackward0."""
    return inplace(view, _zeros, None)


def _zeros(a: Tensor, _: None) -> Tensor:
    out = np.zeros_like(a._data)
    if not (GradMode.enabled and a._requires_grad):
        return Tensor._wrap(out)
    return Tensor._result(out, ops.ZeroBackward0((edge(a),)))


def inplace(
    view: Tensor, fn: Callable[[Tensor, Any], Tensor], other: Tensor | Scalar | None
) -> Tensor:
    """view.op_(other) for a view made by shape_ops (ops.inplace hands such tensors here)."""
    record = view_of(view)
    assert record is not None  # ops.inplace hands only views here
    base = record.base
    if GradMode.enabled and base._requires_grad and base._grad_fn is None:
        raise RuntimeError(VIEW_OF_LEAF_MSG)
    if np.unique(record.index).size != record.index.size:
        raise RuntimeError(OVERLAPPING_MSG)
    other_req = isinstance(other, Tensor) and other._requires_grad
    if not (GradMode.enabled and (view._requires_grad or other_req)):
        with no_grad():
            result = fn(view, other)
        ops._write(view, result._data)
        return view
    # the op's node must see the view's old value, which the write below would clobber
    old = Tensor._wrap(view._data.copy(), view._requires_grad)
    old._grad_fn = view._grad_fn
    result = fn(old, other)
    ops._write(view, result._data)  # into the base's memory, counted on the shared counter
    assert result._grad_fn is not None  # recorded: grad mode is on and an operand requires grad
    _rebase(base, record.index, result._grad_fn, view)
    return view


def _rebase(base: Tensor, index: np.ndarray, inner: Node, view: Tensor | None) -> None:
    """Give the base a CopySlices node over `inner`, the node of the write to the elements at
    `index`, and the view written through (if one was) an AsStridedBackward0 into it."""
    node = CopySlices((edge(base), *inner.next_functions[1:]))
    node.fn, node.index, node.shape = inner, index, base._data.shape
    outside = np.ones(base._data.size, dtype=base._data.dtype)
    outside[index.ravel()] = 0
    node.outside = outside
    base._grad_fn, base._requires_grad = node, True
    record = None if view is None else view_of(view)
    if view is not None and record is not None:
        view_node = AsStridedBackward0(((node, 0),))
        view_node.index, view_node.shape = record.index, base._data.shape
        view._grad_fn, view._requires_grad = view_node, True


# --- index assignment, a[key] = value ----------------------------------------------------------
class CopyBackwards(Node):
    """The write of `a[key] = value` (copy_ into the selected elements): nothing flows to the
    old elements, and the value gets the gradient summed to its shape."""

    __slots__ = ("shape",)
    shape: tuple[int, ...]

    def apply(self, g: Tensor) -> ops.Grads:
        return (None, ops.sum_to(g, self.shape) if self.needs(1) else None)


def setitem(a: Tensor, key: Any, value: Tensor | Scalar) -> None:
    """a[key] = value for a key of ints and slices: the selected elements of a (a view of them
    in torch) are overwritten, and a's base is rebased onto CopySlices."""
    record = view_of(a)
    base = a if record is None else record.base
    if GradMode.enabled and base._requires_grad and base._grad_fn is None:
        raise RuntimeError(VIEW_OF_LEAF_MSG)
    whole = np.arange(base._data.size).reshape(base._data.shape) if record is None else record.index
    index = np.array(whole[key])
    if np.unique(index).size != index.size:
        raise RuntimeError(OVERLAPPING_MSG)
    v = ops.as_tensor(value)
    ops._writable(a)[key] = v._data
    bump(a)
    if not (GradMode.enabled and (a._requires_grad or v._requires_grad)):
        return
    inner = CopyBackwards(((None, 0), edge(v)))
    inner.shape = v._data.shape
    _rebase(base, index, inner, a if record is not None else None)
