"""matmul as torch.matmul dispatches it, so the recorded nodes match PyTorch's:
1-D@1-D dot, 2-D@1-D mv, 1-D@2-D unsqueeze(0).mm().squeeze_(0), 2-D@2-D mm, N-D@(1|2)-D
by folding the batch into rows, other batched cases a broadcasting bmm.

Each backward is products again, of the gradient with the saved operands (the tensors
themselves, so a backward in grad mode is differentiable in them too)."""

from __future__ import annotations

import math

import numpy as np

from .autograd import GradMode, Node, edge
from .dtypes import short_name
from .ops import mul, sum_to
from .shape_ops import (
    SqueezeBackward4,
    UnsafeViewBackward0,
    reshape,
    squeeze,
    t,
    transpose,
    unsqueeze,
)
from .tensor import Grads, Tensor
from .versions import record


def _same_dtype(a: np.ndarray, b: np.ndarray, op: str) -> None:
    if a.dtype != b.dtype:
        names = {"float32": "float", "float64": "double", "int64": "long int"}
        raise RuntimeError(
            f"{op}: expected m1 and m2 to have the same dtype, but got:"
            f" {names.get(a.dtype.name, a.dtype.name)} != {names.get(b.dtype.name, b.dtype.name)}"
        )


def _node(cls: type[Node], a: Tensor, b: Tensor) -> Node:
    """A two-input node saving each operand only if the *other* operand wants a gradient."""
    node = cls(
        (edge(a), edge(b)),
        (a if b._requires_grad else None, b if a._requires_grad else None),
    )
    record(node, (a if b._requires_grad else None, b if a._requires_grad else None))
    return node


def _wants(*ts: Tensor) -> bool:
    if GradMode.enabled:
        for t in ts:  # a loop, not any(<generator>): this runs for every product
            if t._requires_grad:
                return True
    return False


class DotBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        x, y = self.saved  # type: ignore[misc]
        return (mul(g, y) if self.needs(0) else None, mul(g, x) if self.needs(1) else None)


def dot(a: Tensor, b: Tensor) -> Tensor:
    x, y = a._data, b._data
    if x.dtype != y.dtype:
        raise RuntimeError(
            "dot : expected both vectors to have same dtype, but found"
            f" {short_name(x.dtype)} and {short_name(y.dtype)}"
        )
    if x.shape != y.shape:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{x.size}] and src [{y.size}] to have"
            f" the same number of elements, but got {x.size} and {y.size} elements respectively"
        )
    out = np.asarray(np.dot(x, y))
    return Tensor._result(out, _node(DotBackward0, a, b)) if _wants(a, b) else Tensor._wrap(out)


class MvBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        m, v = self.saved  # type: ignore[misc]
        return (
            mm(unsqueeze(g, 1), unsqueeze(v, 0)) if self.needs(0) else None,  # outer(g, v)
            mv(t(m), g) if self.needs(1) else None,
        )


def mv(a: Tensor, b: Tensor) -> Tensor:
    x, y = a._data, b._data
    _same_dtype(x, y, "mv")
    if x.shape[1] != y.shape[0]:
        raise RuntimeError(
            f"size mismatch, got input ({x.shape[0]}), mat ({x.shape[0]}x{x.shape[1]}),"
            f" vec ({y.shape[0]})"
        )
    out = x @ y
    return Tensor._result(out, _node(MvBackward0, a, b)) if _wants(a, b) else Tensor._wrap(out)


class MmBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        x, y = self.saved  # type: ignore[misc]
        return (mm(g, t(y)) if self.needs(0) else None, mm(t(x), g) if self.needs(1) else None)


def _check_mm(x: np.ndarray, y: np.ndarray) -> None:
    _same_dtype(x, y, "mm")
    if x.shape[1] != y.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({x.shape[0]}x{x.shape[1]} and"
            f" {y.shape[0]}x{y.shape[1]})"
        )


def mm(a: Tensor, b: Tensor) -> Tensor:
    x, y = a._data, b._data
    _check_mm(x, y)
    out = x @ y
    return Tensor._result(out, _node(MmBackward0, a, b)) if _wants(a, b) else Tensor._wrap(out)


class AddmmBackward0(Node):
    """bias + m1 @ m2, the fused op F.linear records for 2-D inputs with a bias."""

    __slots__ = ("bias_shape",)
    bias_shape: tuple[int, ...]

    def apply(self, g: Tensor) -> Grads:
        x, y = self.saved  # type: ignore[misc]
        return (
            sum_to(g, self.bias_shape) if self.needs(0) else None,
            mm(g, t(y)) if self.needs(1) else None,
            mm(t(x), g) if self.needs(2) else None,
        )


def addmm(bias: Tensor, a: Tensor, b: Tensor) -> Tensor:
    x, y = a._data, b._data
    _check_mm(x, y)
    out = x @ y + bias._data
    if not _wants(bias, a, b):
        return Tensor._wrap(out)
    node = AddmmBackward0(
        (edge(bias), edge(a), edge(b)),
        (a if b._requires_grad else None, b if a._requires_grad else None),
    )
    node.bias_shape = bias._data.shape
    record(node, (a if b._requires_grad else None, b if a._requires_grad else None))
    return Tensor._result(out, node)


class BmmBackward0(Node):
    """Broadcasting batched matmul; 1-D operands are treated as a row / column."""

    __slots__ = ("shapes",)
    shapes: tuple[tuple[int, ...], tuple[int, ...]]

    def apply(self, g: Tensor) -> Grads:
        x, y = self.saved  # type: ignore[misc]
        sa, sb = self.shapes
        if len(sa) == 1:
            g = unsqueeze(g, g._data.ndim - 1)
        if len(sb) == 1:
            g = unsqueeze(g, g._data.ndim)
        ga = gb = None
        if self.needs(0):
            y2 = unsqueeze(y, 1) if len(sb) == 1 else y
            ga = sum_to(bmm(g, transpose(y2, -1, -2)), sa if len(sa) > 1 else (1, *sa))
            ga = reshape(ga, sa)
        if self.needs(1):
            x2 = unsqueeze(x, 0) if len(sa) == 1 else x
            gb = sum_to(bmm(transpose(x2, -1, -2), g), sb if len(sb) > 1 else (*sb, 1))
            gb = reshape(gb, sb)
        return ga, gb


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """The broadcasting batched product, recorded as one BmmBackward0."""
    x, y = a._data, b._data
    _same_dtype(x, y, "bmm")
    try:
        out = np.matmul(x, y)
    except ValueError as e:
        raise RuntimeError(str(e)) from None
    if not _wants(a, b):
        return Tensor._wrap(out)
    node = _node(BmmBackward0, a, b)
    node.shapes = (x.shape, y.shape)  # type: ignore[attr-defined]
    return Tensor._result(out, node)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    da, db = a._data.ndim, b._data.ndim
    if da == 0 or db == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {da}D and {db}D"
        )
    if da == 1 and db == 1:
        return dot(a, b)
    if da == 2 and db == 1:
        return mv(a, b)
    if da == 1 and db == 2:
        return squeeze(mm(unsqueeze(a, 0), b), 0, SqueezeBackward4)
    if da == 2 and db == 2:
        return mm(a, b)
    if da >= 3 and db <= 2:
        batch, k = a._data.shape[:-1], a._data.shape[-1]
        rows = reshape(a, (math.prod(batch), k))
        out = mv(rows, b) if db == 1 else mm(rows, b)
        return reshape(out, batch + b._data.shape[1:], UnsafeViewBackward0)
    out = bmm(a, b)
    if out._grad_fn is None:
        return out
    return reshape(out, out._data.shape, UnsafeViewBackward0)
