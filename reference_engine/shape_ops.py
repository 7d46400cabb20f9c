"""Views and indexing. None of these save tensors (only shapes), so their nodes survive a
backward without retain_graph; integer-array indexing saves the index, as torch does.

Each backward is the op's adjoint, written with the ops here: reshape undoes reshape, an
index's gradient scatters into zeros (an op of its own, whose gradient is the index again).
expand's gradient is the broadcasting rule run in reverse, ops.py's sum_to, which it calls as
the Tensor method `g.sum_to_size(shape)` (as torch names it; methods.py binds it), so that this
module imports no other op module. Every view records its base as it is made (views.py);
writes through a view, `a[key] = v` among them, are in inplace_ops.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .autograd import GradMode, Node, edge
from .dtypes import Size, normalize_dim
from .tensor import Grads, Tensor
from .views import share_view as share  # views record their base


def size_args(args: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept both f(2, 3) and f((2, 3)), as torch does."""
    if len(args) == 1 and isinstance(args[0], tuple | list | Size):
        return tuple(args[0])
    return tuple(args)


def _record(a: Tensor, out: np.ndarray, node_cls: type[Node], **attrs: Any) -> Tensor:
    # a view shares its base's version counter, so a write through either is seen by both
    if not (GradMode.enabled and a._requires_grad):
        return share(Tensor._wrap(out), a)
    node = node_cls((edge(a),))
    for k, v in attrs.items():
        setattr(node, k, v)
    return share(Tensor._result(out, node), a)


class ViewBackward0(Node):
    __slots__ = ("shape",)
    shape: tuple[int, ...]

    def apply(self, g: Tensor) -> Grads:
        return (reshape(g, self.shape),)


class UnsafeViewBackward0(ViewBackward0):
    __slots__ = ()


def reshape(a: Tensor, shape: tuple[int, ...], node_cls: type[Node] = ViewBackward0) -> Tensor:
    x = a._data
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = math.prod(n for n in shape if n != -1)
    if (-1 not in shape and known != x.size) or (-1 in shape and (known == 0 or x.size % known)):
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {x.size}")
    return _record(a, x.reshape(shape), node_cls, shape=x.shape)


class TransposeBackward0(Node):
    __slots__ = ("dims",)
    dims: tuple[int, ...]

    def apply(self, g: Tensor) -> Grads:
        return (transpose(g, *self.dims),)


class TBackward0(TransposeBackward0):
    __slots__ = ()


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    x = a._data
    d0, d1 = normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim)
    out = np.swapaxes(x, d0, d1) if x.ndim else x
    return _record(a, out, TransposeBackward0, dims=(d0, d1))


def t(a: Tensor) -> Tensor:
    nd = a._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    dims = (0, 1) if nd == 2 else (0, 0)
    return _record(a, a._data.T, TBackward0, dims=dims)


class PermuteBackward0(Node):
    __slots__ = ("dims",)
    dims: tuple[int, ...]

    def apply(self, g: Tensor) -> Grads:
        return (permute(g, tuple(int(d) for d in np.argsort(self.dims))),)


def permute(a: Tensor, dims: tuple[int, ...]) -> Tensor:
    dims = tuple(normalize_dim(d, a._data.ndim) for d in dims)
    return _record(a, np.transpose(a._data, dims), PermuteBackward0, dims=dims)


class ExpandBackward0(Node):
    __slots__ = ("shape",)
    shape: tuple[int, ...]

    def apply(self, g: Tensor) -> Grads:
        return (g.sum_to_size(self.shape),)


def expand(a: Tensor, sizes: tuple[int, ...]) -> Tensor:
    x = a._data
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(x.shape)}}}, size={list(sizes)}): the number of"
            " sizes provided must be greater or equal to the number of dimensions in the tensor"
        )
    target = list(sizes)
    for i, n in enumerate(x.shape):
        want = sizes[lead + i]
        if want == -1:
            target[lead + i] = n
        elif n != 1 and want != n:
            raise RuntimeError(
                f"The expanded size of the tensor ({want}) must match the existing size ({n}) at"
                f" non-singleton dimension {lead + i}.  Target sizes: {list(sizes)}.  Tensor"
                f" sizes: {list(x.shape)}"
            )
    return _record(a, np.broadcast_to(x, tuple(target)), ExpandBackward0, shape=x.shape)


class UnsqueezeBackward0(Node):
    __slots__ = ("dim",)
    dim: int

    def apply(self, g: Tensor) -> Grads:
        return (squeeze(g, self.dim),)


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    x = a._data
    d = normalize_dim(dim, x.ndim + 1)
    return _record(a, x.reshape(x.shape[:d] + (1,) + x.shape[d:]), UnsqueezeBackward0, dim=d)


class SqueezeBackward1(Node):
    __slots__ = ("shape",)
    shape: tuple[int, ...]

    def apply(self, g: Tensor) -> Grads:
        return (reshape(g, self.shape),)


class SqueezeBackward4(SqueezeBackward1):
    """What torch records for the in-place squeeze_(dim) inside matmul."""

    __slots__ = ()


def squeeze(a: Tensor, dim: int, node_cls: type[Node] = SqueezeBackward1) -> Tensor:
    x = a._data
    d = normalize_dim(dim, x.ndim)
    out = x.reshape(x.shape[:d] + x.shape[d + 1 :]) if x.ndim and x.shape[d] == 1 else x
    return _record(a, out, node_cls, shape=x.shape)


# --- indexing --------------------------------------------------------------------------------
class IndexBackward0(Node):
    __slots__ = ("shape",)
    shape: tuple[int, ...]

    def apply(self, g: Tensor) -> Grads:
        (key,) = self.saved  # type: ignore[misc]
        return (_scatter(g, self.shape, key, IndexPutBackward0),)


class SelectBackward0(Node):
    __slots__ = ("shape", "key")
    shape: tuple[int, ...]
    key: Any

    def apply(self, g: Tensor) -> Grads:
        return (_scatter(g, self.shape, self.key, SelectBackwardBackward0),)


class SliceBackward0(SelectBackward0):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        return (_scatter(g, self.shape, self.key, SliceBackwardBackward0),)


class IndexPutBackward0(Node):
    """The gradient of an index, zeros with g added at the index, as an op: its own gradient
    is the index again (torch records index_put_ with accumulate=True)."""

    __slots__ = ("key",)
    key: Any

    def apply(self, g: Tensor) -> Grads:
        return (_index_one(g, self.key),)


class SelectBackwardBackward0(IndexPutBackward0):
    __slots__ = ()


class SliceBackwardBackward0(IndexPutBackward0):
    __slots__ = ()


def _scatter(
    g: Tensor, shape: tuple[int, ...], key: Any, node_cls: type[IndexPutBackward0]
) -> Tensor:
    """Zeros of `shape` with g added at `key`; repeated indices accumulate."""
    out = np.zeros(shape, dtype=g._data.dtype)
    if node_cls is IndexPutBackward0:
        np.add.at(out, key, g._data)  # unbuffered: an index may repeat
    else:
        out[key] = g._data  # ints and slices select each element once
    if not (GradMode.enabled and g._requires_grad):
        return Tensor._wrap(out)
    node = node_cls((edge(g),))
    node.key = key
    return Tensor._result(out, node)


def _key(index: Any) -> Any:
    if isinstance(index, Tensor):
        if index._data.dtype.kind not in "biu":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return index._data
    if isinstance(index, tuple):
        return tuple(_key(i) for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def index(a: Tensor, idx: Any) -> Tensor:
    key = _key(idx)
    if isinstance(key, tuple) and len(key) > 1 and all(isinstance(k, int | slice) for k in key):
        # torch applies a[i, j:k] one dimension at a time (SliceBackward0 <- SelectBackward0)
        # and records nothing for a full slice ':'
        out, dim = a, 0
        for k in key:
            if k != slice(None):
                out = _index_one(out, (slice(None),) * dim + (k,))
            dim += isinstance(k, slice)
        return out
    return _index_one(a, key)


def _index_one(a: Tensor, key: Any) -> Tensor:
    try:
        out = a._data[key]
    except IndexError as e:
        raise IndexError(str(e).replace("axis", "dimension")) from None
    basic = isinstance(key, int | slice) or (
        isinstance(key, tuple) and all(isinstance(k, int | slice) for k in key)
    )
    if basic:
        out = np.array(out) if np.ndim(out) == 0 else out
    if not (GradMode.enabled and a._requires_grad):
        return share(Tensor._wrap(np.asarray(out)), a)
    shape = a._data.shape
    if basic:
        last = key[-1] if isinstance(key, tuple) and key else key
        cls = SelectBackward0 if isinstance(last, int) else SliceBackward0
        sel = cls((edge(a),))
        sel.shape, sel.key = shape, key
        return share(Tensor._result(np.asarray(out), sel), a)
    node = IndexBackward0((edge(a),), (key,))  # saves the index, like torch
    node.shape = shape
    return Tensor._result(np.asarray(out), node)


def narrow(a: Tensor, dim: int, start: int, length: int) -> Tensor:
    """`a.narrow(dim, start, length)`: the slice start:start+length of dimension dim, a view."""
    d = normalize_dim(dim, a._data.ndim)
    size = a._data.shape[d]
    if not -size <= start <= size:
        raise IndexError(
            f"start out of range (expected to be in range of [{-size}, {size}], but got {start})"
        )
    start = start % size if start < 0 else start
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    # one slice, never skipped: torch records SliceBackward0 even for the whole dimension
    return _index_one(a, (slice(None),) * d + (slice(start, start + length),))
