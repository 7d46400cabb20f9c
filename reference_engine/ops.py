"""Elementwise ops, reductions and in-place ops: each forward next to its backward.

Every backward returns gradients already reduced to its inputs' shapes with autograd's `sum_to`,
the broadcasting rule run in reverse; binary ops also cast each gradient to its input's dtype,
as PyTorch does per edge when a float32 tensor meets a float64 one.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from .autograd import GradMode, Node, edge, no_grad, sum_to
from .creation import tensor
from .dtypes import DEFAULT_FLOAT, result_type, short_name
from .tensor import Scalar, Tensor
from .versions import bump, record

Grads = tuple[np.ndarray | None, ...]
Meta = tuple[tuple[int, ...], np.dtype]
NO_EDGE = (None, 0)


def _for(g: np.ndarray, meta: Meta | None) -> np.ndarray:
    """The gradient for one input of a binary op (meta None: same shape and dtype as out)."""
    return g if meta is None else sum_to(g, meta[0]).astype(meta[1], copy=False)


# --- operands --------------------------------------------------------------------------------
def as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else tensor(x)


def _args(a: Tensor, b: Tensor | Scalar) -> tuple[np.ndarray, Any, Tensor | None]:
    """Operand arrays in the promoted dtype. Python scalars stay Python scalars: NumPy treats
    them as weakly typed, as torch does, so float32 * 2.0 stays float32."""
    x = a._data
    if isinstance(b, Tensor):
        y = b._data
        if x.dtype != y.dtype:
            rt = result_type(x, y)
            x, y = x.astype(rt, copy=False), y.astype(rt, copy=False)
        return x, y, b
    if not isinstance(b, int | float):
        bt = as_tensor(b)
        return _args(a, bt)
    rt = result_type(x, b)
    return (x if rt == x.dtype else x.astype(rt)), b, None


def _wants(a: Tensor, b: Tensor | None) -> bool:
    return GradMode.enabled and (a._requires_grad or (b is not None and b._requires_grad))


def _meta(x: np.ndarray, out: np.ndarray) -> Meta | None:
    # None in the common case lets the backward hand the gradient through untouched
    return None if x.shape == out.shape and x.dtype == out.dtype else (x.shape, x.dtype)


class BinaryNode(Node):
    __slots__ = ("meta",)
    meta: tuple[Meta | None, Meta | None]

    def __init__(
        self, a: Tensor, b: Tensor | None, out: np.ndarray, saved: tuple[Any, ...] = ()
    ) -> None:
        self.next_functions = (edge(a), NO_EDGE if b is None else edge(b))
        self.saved = saved
        self.versions = ()
        self.retained = None
        self.hooks = None
        self.meta = (_meta(a._data, out), None if b is None else _meta(b._data, out))


# --- add / sub -------------------------------------------------------------------------------
class AddBackward0(BinaryNode):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        ma, mb = self.meta
        return (_for(g, ma) if self.needs(0) else None, _for(g, mb) if self.needs(1) else None)


def add(a: Tensor, b: Tensor | Scalar) -> Tensor:
    x, y, bt = _args(a, b)
    out = x + y
    if _wants(a, bt):
        return Tensor._result(out, AddBackward0(a, bt, out))
    return Tensor._wrap(out)


class SubBackward0(BinaryNode):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        ma, mb = self.meta
        return (_for(g, ma) if self.needs(0) else None, _for(-g, mb) if self.needs(1) else None)


def sub(a: Tensor, b: Tensor | Scalar) -> Tensor:
    x, y, bt = _args(a, b)
    if x.dtype == np.bool_:
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. "
            "Use the `^` or `logical_xor()` operator instead."
        )
    out = x - y
    if _wants(a, bt):
        return Tensor._result(out, SubBackward0(a, bt, out))
    return Tensor._wrap(out)


class RsubBackward1(Node):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        return (-g,)


def rsub(a: Tensor, s: Scalar) -> Tensor:
    """s - a for a Python scalar s."""
    x, y, _ = _args(a, s)
    out = y - x
    if _wants(a, None):
        return Tensor._result(out, RsubBackward1((edge(a),)))
    return Tensor._wrap(out)


# --- mul / div -------------------------------------------------------------------------------
class MulBackward0(BinaryNode):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        x, y = self.saved  # type: ignore[misc]
        ma, mb = self.meta
        return (
            _for(g * y, ma) if self.needs(0) else None,
            _for(g * x, mb) if self.needs(1) else None,
        )


def mul(a: Tensor, b: Tensor | Scalar) -> Tensor:
    x, y, bt = _args(a, b)
    out = x * y
    if _wants(a, bt):
        # save only what a wanted gradient needs: d/da needs b, d/db needs a
        need_b = bt is not None and bt._requires_grad
        saved = (x if need_b else None, y if a._requires_grad else None)
        node = MulBackward0(a, bt, out, saved)
        record(node, (a if need_b else None, bt if a._requires_grad else None))
        return Tensor._result(out, node)
    return Tensor._wrap(out)


class DivBackward0(BinaryNode):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        x, y = self.saved  # type: ignore[misc]
        ma, mb = self.meta
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = _for(g / y, ma) if self.needs(0) else None
            gb = _for(-g * x / (y * y), mb) if self.needs(1) else None
        return ga, gb


def div(a: Tensor, b: Tensor | Scalar) -> Tensor:
    x, y, bt = _args(a, b)
    if x.dtype.kind != "f":  # true division of integers gives the default float dtype
        x = x.astype(DEFAULT_FLOAT)
        if bt is not None:
            y = y.astype(DEFAULT_FLOAT)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x / y
    if _wants(a, bt):
        need_b = bt is not None and bt._requires_grad
        node = DivBackward0(a, bt, out, (x if need_b else None, y))
        record(node, (a if need_b else None, bt))
        return Tensor._result(out, node)
    return Tensor._wrap(out)


class ReciprocalBackward0(Node):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (-g * (y * y),)


def reciprocal(a: Tensor) -> Tensor:
    x = _floating(a._data)
    with np.errstate(divide="ignore"):
        out = 1 / x
    return _unary(a, out, ReciprocalBackward0, (out,), saves_result=True)


# --- pow -------------------------------------------------------------------------------------
class PowBackward0(Node):
    """x ** p for a Python scalar p."""

    __slots__ = ("exponent",)
    exponent: Any

    def apply(self, g: np.ndarray) -> Grads:
        (x,) = self.saved  # type: ignore[misc]
        p = self.exponent
        if p == 0:
            return (np.zeros_like(g),)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (g * (p * x ** (p - 1)),)


class PowBackward1(BinaryNode):
    """x ** e for tensors x and e."""

    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        x, e, out = self.saved  # type: ignore[misc]
        ma, mb = self.meta
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs(0):
                ga = _for(np.where(e == 0, 0.0, g * (e * x ** (e - 1))).astype(g.dtype), ma)
            if self.needs(1):
                zero = (x == 0) & (e >= 0)
                gb = _for(np.where(zero, 0.0, g * (out * np.log(x))).astype(g.dtype), mb)
        return ga, gb


class PowBackward2(Node):
    """s ** e for a Python scalar base s."""

    __slots__ = ("base",)
    base: Any

    def apply(self, g: np.ndarray) -> Grads:
        (out,) = self.saved  # type: ignore[misc]
        s = self.base
        if s == 0:
            return (np.where(out >= 0, 0.0, g * (out * np.log(s))).astype(g.dtype),)
        return (g * (out * np.log(np.asarray(s, dtype=g.dtype))),)


def pow(a: Tensor, p: Tensor | Scalar) -> Tensor:  # noqa: A001 - torch.pow
    x, e, et = _args(a, p)
    if x.dtype.kind in "biu" and np.any(np.asarray(e) < 0):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = x**e
    if not _wants(a, et):
        return Tensor._wrap(out)
    if et is None:
        node = PowBackward0((edge(a),), (x,))
        node.exponent = e
        record(node, (a,))
        return Tensor._result(out, node)
    node1 = PowBackward1(a, et, out, (x, e, out))
    res = Tensor._result(out, node1)
    record(node1, (a, et), res)
    return res


def rpow(a: Tensor, base: Scalar) -> Tensor:
    """base ** a for a Python scalar base."""
    x, s, _ = _args(a, base)
    x = _floating(x) if isinstance(base, float) else x
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.power(np.asarray(s, dtype=x.dtype), x)
    if not _wants(a, None):
        return Tensor._wrap(out)
    node = PowBackward2((edge(a),), (out,))
    node.base = s
    res = Tensor._result(out, node)
    record(node, (a,), res)
    return res


# --- unary -----------------------------------------------------------------------------------
def _floating(x: np.ndarray) -> np.ndarray:
    return x if x.dtype.kind == "f" else x.astype(DEFAULT_FLOAT)


def _unary(
    a: Tensor,
    out: np.ndarray,
    node_cls: type[Node],
    saved: tuple[Any, ...],
    *,
    saves_result: bool = False,
) -> Tensor:
    """Record a one-input op. Its node saves `saved`; for the version check (versions.py) that
    is the op's input, or its result with `saves_result` (what torch's formula uses)."""
    if GradMode.enabled and a._requires_grad:
        node = node_cls((edge(a),), saved)
        res = Tensor._result(out, node)
        if saves_result:
            record(node, (), res)
        elif saved:
            record(node, (a,))
        return res
    return Tensor._wrap(out)


class NegBackward0(Node):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        return (-g,)


def neg(a: Tensor) -> Tensor:
    if a._data.dtype == np.bool_:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying"
            " to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return _unary(a, -a._data, NegBackward0, ())


class ExpBackward0(Node):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (g * y,)


def exp(a: Tensor) -> Tensor:
    with np.errstate(over="ignore"):
        out = np.exp(_floating(a._data))
    return _unary(a, out, ExpBackward0, (out,), saves_result=True)


class LogBackward0(Node):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        (x,) = self.saved  # type: ignore[misc]
        with np.errstate(divide="ignore", invalid="ignore"):
            return (g / x,)


def log(a: Tensor) -> Tensor:
    x = _floating(a._data)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(x)
    return _unary(a, out, LogBackward0, (x,))


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1/(1+exp(-x)) without overflow: exp only ever sees -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e).astype(x.dtype, copy=False) / (1 + e)


class SigmoidBackward0(Node):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (g * (1 - y) * y,)


def sigmoid(a: Tensor) -> Tensor:
    with np.errstate(over="ignore"):  # exp(-x) = inf for x << 0 gives the right limit, 0
        out = 1 / (1 + np.exp(-_floating(a._data)))
    return _unary(a, out, SigmoidBackward0, (out,), saves_result=True)


class TanhBackward0(Node):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (g * (1 - y * y),)


def tanh(a: Tensor) -> Tensor:
    out = np.tanh(_floating(a._data))
    return _unary(a, out, TanhBackward0, (out,), saves_result=True)


class ReluBackward0(Node):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (np.where(y > 0, g, 0).astype(g.dtype, copy=False),)  # 0 at 0, as torch


def relu(a: Tensor) -> Tensor:
    x = a._data
    out = np.maximum(x, 0).astype(x.dtype, copy=False)
    return _unary(a, out, ReluBackward0, (out,), saves_result=True)


class AbsBackward0(Node):
    __slots__ = ()

    def apply(self, g: np.ndarray) -> Grads:
        (x,) = self.saved  # type: ignore[misc]
        return (g * np.sign(x),)  # sign(0) = 0: the subgradient torch picks


def abs(a: Tensor) -> Tensor:  # noqa: A001 - torch.abs
    return _unary(a, np.abs(a._data), AbsBackward0, (a._data,))


# --- pointwise functions: forward and derivative side by side, one line each ----------------
Derivative = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(g, x, out) -> the gradient for x."""


class PointwiseNode(Node):
    __slots__ = ()
    derivative: ClassVar[Derivative]

    def apply(self, g: np.ndarray) -> Grads:
        x, out = self.saved  # type: ignore[misc]
        with np.errstate(all="ignore"):
            return (type(self).derivative(g, x, out),)


POINTWISE: dict[str, Callable[[Tensor], Tensor]] = {}
"""The functions defined with `defpointwise`, by name: the package exports each, and methods.py
makes each a Tensor method too (`torch.sin(x)` and `x.sin()`)."""


def defpointwise(
    name: str,
    forward: Callable[[np.ndarray], Any],
    derivative: Derivative,
    node: str = "",
    *,
    saves_result: bool = False,
) -> Callable[[Tensor], Tensor]:
    """PyTorch's pointwise function `name`: out = forward(x) on x (integers and bools are
    computed in the default float dtype, as PyTorch does), recorded as the node PyTorch names
    (`<Name>Backward0` unless `node` says otherwise), whose gradient is derivative(g, x, out).
    `saves_result`: torch's formula saves the result, not the input (the version check)."""
    node_cls = type(
        node or f"{name.capitalize()}Backward0",
        (PointwiseNode,),
        {"__slots__": (), "derivative": staticmethod(derivative)},
    )

    def fn(a: Tensor) -> Tensor:
        x = _floating(a._data)
        with np.errstate(all="ignore"):
            out = np.asarray(forward(x), dtype=x.dtype)
        return _unary(a, out, node_cls, (x, out), saves_result=saves_result)

    fn.__name__ = fn.__qualname__ = name
    POINTWISE[name] = fn
    return fn


sin = defpointwise("sin", np.sin, lambda g, x, out: g * np.cos(x))


class ToCopyBackward0(Node):
    __slots__ = ("dtype",)
    dtype: np.dtype

    def apply(self, g: np.ndarray) -> Grads:
        return (g.astype(self.dtype),)


def to(a: Tensor, dt: np.dtype) -> Tensor:
    if a._data.dtype == dt:
        return a
    out = a._data.astype(dt)
    if GradMode.enabled and a._requires_grad and dt.kind == "f":
        node = ToCopyBackward0((edge(a),))
        node.dtype = a._data.dtype
        return Tensor._result(out, node)
    return Tensor._wrap(out)


# --- comparisons: bool results, never part of the graph --------------------------------------
def _compare(ufunc: np.ufunc) -> Callable[[Tensor, Tensor | Scalar], Tensor]:
    def compare(a: Tensor, b: Tensor | Scalar) -> Tensor:
        x, y, _ = _args(a, b)
        return Tensor._wrap(np.asarray(ufunc(x, y)))

    compare.__name__ = ufunc.__name__
    return compare


gt = _compare(np.greater)
lt = _compare(np.less)
ge = _compare(np.greater_equal)
le = _compare(np.less_equal)
eq = _compare(np.equal)
ne = _compare(np.not_equal)


# --- reductions ------------------------------------------------------------------------------
def normalize_dim(d: int, ndim: int) -> int:
    lo, hi = -builtins.max(ndim, 1), builtins.max(ndim, 1) - 1
    if not lo <= d <= hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {d})"
        )
    return d % builtins.max(ndim, 1)


def _dims(dim: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    raw = (dim,) if isinstance(dim, int) else tuple(dim)
    if not raw:
        return tuple(range(ndim))  # dim=() reduces everything, as in torch
    dims = tuple(normalize_dim(d, ndim) for d in raw)
    for d in dims:
        if dims.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return tuple(d for d in dims if d < ndim)  # a 0-d tensor accepts dim 0 / -1


class SumBackward0(Node):
    __slots__ = ("shape",)
    shape: tuple[int, ...]

    def apply(self, g: np.ndarray) -> Grads:
        return (np.broadcast_to(g, self.shape),)


class SumBackward1(Node):
    __slots__ = ("shape", "dims", "keepdim")
    shape: tuple[int, ...]
    dims: tuple[int, ...]
    keepdim: bool

    def apply(self, g: np.ndarray) -> Grads:
        if not self.keepdim:
            g = np.expand_dims(g, self.dims)
        return (np.broadcast_to(g, self.shape),)


class MeanBackward0(SumBackward0):
    __slots__ = ("count",)
    count: int

    def apply(self, g: np.ndarray) -> Grads:
        return (np.broadcast_to(g / self.count, self.shape),)


class MeanBackward1(SumBackward1):
    __slots__ = ("count",)
    count: int

    def apply(self, g: np.ndarray) -> Grads:
        if not self.keepdim:
            g = np.expand_dims(g, self.dims)
        return (np.broadcast_to(g / self.count, self.shape),)


def _reduce(a: Tensor, dim: int | Sequence[int] | None, keepdim: bool, mean: bool) -> Tensor:
    x = a._data
    if x.dtype.kind != "f":
        if mean:
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating"
                f" point or complex dtype. Got: {short_name(x.dtype)}"
            )
        x = x.astype(np.int64)  # integer and bool sums are int64 in torch
    dims = None if dim is None else _dims(dim, x.ndim)
    out = x.sum(axis=dims, keepdims=keepdim)
    count = x.size if dims is None else math.prod(x.shape[d] for d in dims)
    if mean:
        with np.errstate(invalid="ignore", divide="ignore"):  # empty mean is nan, silently
            out = out / count
    out = np.asarray(out, dtype=x.dtype)
    if not (GradMode.enabled and a._requires_grad):
        return Tensor._wrap(out)
    node: SumBackward0 | SumBackward1
    if dims is None:
        node = MeanBackward0((edge(a),)) if mean else SumBackward0((edge(a),))
    else:
        node = MeanBackward1((edge(a),)) if mean else SumBackward1((edge(a),))
        node.dims, node.keepdim = dims, keepdim
    node.shape = x.shape
    if mean:
        node.count = count  # type: ignore[union-attr]
    return Tensor._result(out, node)


def sum(a: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return _reduce(a, dim, keepdim, mean=False)


def mean(a: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    return _reduce(a, dim, keepdim, mean=True)


# --- in-place --------------------------------------------------------------------------------
LEAF_INPLACE_MSG = "a leaf Variable that requires grad is being used in an in-place operation."


def check_inplace(t: Tensor, msg: str = LEAF_INPLACE_MSG) -> None:
    if GradMode.enabled and t._requires_grad and t._grad_fn is None:
        raise RuntimeError(msg)


def inplace(t: Tensor, fn: Callable[[Tensor, Any], Tensor], other: Tensor | Scalar) -> Tensor:
    """t.op_(other). On a leaf that requires grad this is only legal under no_grad (an
    optimizer step), and it stays a leaf. Anywhere else the op is recorded and t's history
    is rebased onto the new node, so t becomes a non-leaf, as in torch."""
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

    def apply(self, g: np.ndarray) -> Grads:
        return (np.zeros_like(g),)


def zero_(t: Tensor) -> Tensor:
    check_inplace(t)
    _writable(t)[...] = 0
    bump(t)
    if GradMode.enabled and t._grad_fn is not None:
        t._grad_fn = ZeroBackward0((edge(t),))
    return t
