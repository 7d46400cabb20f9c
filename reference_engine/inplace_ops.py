"""In-place ops and index assignment (`x.add_(y)`, `x.zero_()`, `x[key] = v`): writes into a
tensor's memory, and the history they leave.

On a tensor that is no view, the op is recorded on the tensor's old value and the tensor's
history is rebased onto the new node. A view shares its base's memory, so a write through it
already reaches the base's values; what this module adds is the base's history, from the view
records of views.py. An in-place op on a view does what torch does:

- on a view of a leaf that requires grad, in grad mode, it raises;
- otherwise the op is recorded on the view's old value, and the base's grad_fn becomes a
  CopySlices node: the base's gradient passes through unchanged outside the view, and inside it
  goes through the in-place op's backward; the op's other operands get their gradients from it;
- the view's grad_fn becomes AsStridedBackward0, which sends its gradient into that CopySlices.

zero_() through a view, and `a[key] = value` for a key of ints and slices (the write of a view of
a, a CopyBackwards node inside CopySlices), are rebased the same way.

Each write asks first whether its tensor is a view, so the module sits above the op modules
(ops.py, shape_ops.py) whose ops it records, and methods.py binds its functions.

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
from .dtypes import short_name
from .tensor import Grads, Scalar, Tensor
from .versions import bump
from .views import view_of

LEAF_INPLACE_MSG = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF_MSG = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)
OVERLAPPING_MSG = (
    "unsupported operation: more than one element of the written-to tensor refers to a single"
    " memory location. Please clone() the tensor before performing the operation."
)


# --- in-place ops --------------------------------------------------------------------------------
def check_inplace(t: Tensor, msg: str = LEAF_INPLACE_MSG) -> None:
    if GradMode.enabled and t._requires_grad and t._grad_fn is None:
        raise RuntimeError(msg)


def inplace(t: Tensor, fn: Callable[[Tensor, Any], Tensor], other: Tensor | Scalar) -> Tensor:
    """t.op_(other). On a leaf that requires grad this is only legal under no_grad (an
    optimizer step), and it stays a leaf. Anywhere else the op is recorded and t's history
    is rebased onto the new node, so t becomes a non-leaf, as in torch."""
    if view_of(t) is not None:  # through a view, the base is rebased
        return inplace_view(t, fn, other)
    check_inplace(t)
    other_req = isinstance(other, Tensor) and other._requires_grad
    if GradMode.enabled and (t._requires_grad or other_req):
        # the node must save t's old value, which the write below would clobber
        snap = Tensor._wrap(t._data.copy(), t._requires_grad)
        snap._grad_fn = t._grad_fn
        res = fn(snap, other)
        _write(t, res._data)
        t._grad_fn, t._requires_grad = res._grad_fn, True
        return t
    with no_grad():
        res = fn(t, other)
    _write(t, res._data)
    return t


def _write(t: Tensor, values: np.ndarray) -> None:
    cat = {"b": 0, "i": 1, "u": 1, "f": 2}
    if cat[values.dtype.kind] > cat[t._data.dtype.kind]:
        raise RuntimeError(
            f"result type {short_name(values.dtype)} can't be cast to the desired output type"
            f" {short_name(t._data.dtype)}"
        )
    np.copyto(_writable(t), values, casting="unsafe")
    bump(t)


def _writable(t: Tensor) -> np.ndarray:
    """t's array, ready for an in-place write: NumPy hands 0-d results back as scalars, which
    cannot be written; such a tensor gets a 0-d array of its own (aliases made before do not
    see the write)."""
    if not isinstance(t._data, np.ndarray):
        t._data = np.array(t._data)
    return t._data


class ZeroBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        return (ops.zeros_like(g),)


def zero_(t: Tensor) -> Tensor:
    if view_of(t) is not None:  # through a view, an in-place op like the others
        return inplace_view(t, _zeros, None)
    check_inplace(t)
    _writable(t)[...] = 0
    bump(t)
    if GradMode.enabled and t._grad_fn is not None:
        t._grad_fn = ZeroBackward0((edge(t),))
    return t


def _zeros(a: Tensor, _: None) -> Tensor:
    out = np.zeros_like(a._data)
    if not (GradMode.enabled and a._requires_grad):
        return Tensor._wrap(out)
    return Tensor._result(out, ZeroBackward0((edge(a),)))


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

    def apply(self, g: Tensor) -> Grads:
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

    def apply(self, g: Tensor) -> Grads:
        size = int(np.prod(self.shape, dtype=np.int64))
        return (shape_ops.reshape(_scatter(g, size, self.index), self.shape),)


def _scatter(g: Tensor, size: int, index: np.ndarray) -> Tensor:
    """A flat tensor of `size` zeros with g added at `index` (differentiable: its gradient
    gathers at the index again)."""
    return shape_ops._scatter(g, (size,), index, shape_ops.IndexPutBackward0)


def inplace_view(
    view: Tensor, fn: Callable[[Tensor, Any], Tensor], other: Tensor | Scalar | None
) -> Tensor:
    """view.op_(other) for a view made by shape_ops (inplace and zero_ hand such tensors here)."""
    record = view_of(view)
    assert record is not None  # only views are handed here
    base = record.base
    if GradMode.enabled and base._requires_grad and base._grad_fn is None:
        raise RuntimeError(VIEW_OF_LEAF_MSG)
    if np.unique(record.index).size != record.index.size:
        raise RuntimeError(OVERLAPPING_MSG)
    other_req = isinstance(other, Tensor) and other._requires_grad
    if not (GradMode.enabled and (view._requires_grad or other_req)):
        with no_grad():
            result = fn(view, other)
        _write(view, result._data)
        return view
    # the op's node must see the view's old value, which the write below would clobber
    old = Tensor._wrap(view._data.copy(), view._requires_grad)
    old._grad_fn = view._grad_fn
    result = fn(old, other)
    _write(view, result._data)  # into the base's memory, counted on the shared counter
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
def index_put_(a: Tensor, index: Any, value: Tensor | Scalar) -> None:
    """a[index] = value: through a view of a for a key of ints and slices (setitem), else a
    write of the indexed elements, outside any graph."""
    key = shape_ops._key(index)
    if isinstance(key, int | slice) or (
        isinstance(key, tuple) and all(isinstance(k, int | slice) for k in key)
    ):  # a view of a, written: CopySlices
        return setitem(a, key, value)
    check_inplace(a, VIEW_OF_LEAF_MSG)
    v = ops.as_tensor(value)
    if GradMode.enabled and (a._requires_grad or v._requires_grad):
        raise NotImplementedError(
            "reference_engine records no IndexPutBackward0 node: assignment through an integer"
            " or bool index into a tensor that is part of a graph is not supported"
        )
    a._data[key] = v._data
    bump(a)


class CopyBackwards(Node):
    """The write of `a[key] = value` (copy_ into the selected elements): nothing flows to the
    old elements, and the value gets the gradient summed to its shape."""

    __slots__ = ("shape",)
    shape: tuple[int, ...]

    def apply(self, g: Tensor) -> Grads:
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
    _writable(a)[key] = v._data
    bump(a)
    if not (GradMode.enabled and (a._requires_grad or v._requires_grad)):
        return
    inner = CopyBackwards(((None, 0), edge(v)))
    inner.shape = v._data.shape
    _rebase(base, index, inner, a if record is not None else None)
