"""Elementwise ops and reductions: each forward next to its backward.

A backward (`Node.apply`) receives the gradient as a Tensor and computes its inputs' gradients
with the ops of this package, from the tensors the node saved, so that a backward run in grad
mode (create_graph=True) records a graph of its own. Gradients reach their inputs' shapes
through `sum_to`, the broadcasting rule run in reverse (itself made of `sum`), and binary ops
cast each gradient to its input's dtype, as PyTorch does per edge when a float32 tensor meets a
float64 one. The reductions' backwards need two view ops, expand and unsqueeze; they call them
as Tensor methods (`g.expand(shape)`), which methods.py binds to shape_ops.py, so that this
module imports no other op module. In-place ops are in inplace_ops.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from .autograd import GradMode, Node, edge
from .creation import tensor
from .dtypes import DEFAULT_FLOAT, normalize_dim, result_type, short_name
from .tensor import Grads, Scalar, Tensor
from .versions import record

Meta = tuple[tuple[int, ...], np.dtype]
NO_EDGE = (None, 0)


def sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Undo broadcasting: sum the leading dims broadcasting added, then the dims that were 1.
    The gradient of every broadcasting op reaches its input's shape through here."""
    have = g._data.shape
    if have == shape:
        return g
    lead = len(have) - len(shape)
    if lead:
        g = sum(g, tuple(range(lead)))
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and have[lead + i] != 1)
    return sum(g, ones, keepdim=True) if ones else g


def _for(g: Tensor, meta: Meta | None) -> Tensor:
    """The gradient for one input of a binary op (meta None: same shape and dtype as out)."""
    return g if meta is None else to(sum_to(g, meta[0]), meta[1])


def zeros_like(g: Tensor) -> Tensor:
    """A gradient that is zero whatever the inputs: outside the graph, as torch's zeros_like."""
    return Tensor._wrap(np.zeros_like(g._data))


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

    def apply(self, g: Tensor) -> Grads:
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

    def apply(self, g: Tensor) -> Grads:
        ma, mb = self.meta
        return (_for(g, ma) if self.needs(0) else None, _for(neg(g), mb) if self.needs(1) else None)


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

    def apply(self, g: Tensor) -> Grads:
        return (neg(g),)


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

    def apply(self, g: Tensor) -> Grads:
        a, b = self.saved  # type: ignore[misc]
        ma, mb = self.meta
        return (
            _for(mul(g, b), ma) if self.needs(0) else None,
            _for(mul(g, a), mb) if self.needs(1) else None,
        )


def mul(a: Tensor, b: Tensor | Scalar) -> Tensor:
    x, y, bt = _args(a, b)
    out = x * y
    if _wants(a, bt):
        # save only what a wanted gradient needs: d/da needs b, d/db needs a
        need_b = bt is not None and bt._requires_grad
        saved = (a if need_b else None, (b if bt is None else bt) if a._requires_grad else None)
        node = MulBackward0(a, bt, out, saved)
        record(node, (a if need_b else None, bt if a._requires_grad else None))
        return Tensor._result(out, node)
    return Tensor._wrap(out)


class DivBackward0(BinaryNode):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        a, b = self.saved  # type: ignore[misc]
        ma, mb = self.meta
        ga = _for(div(g, b), ma) if self.needs(0) else None
        gb = _for(div(mul(neg(g), a), mul(b, b)), mb) if self.needs(1) else None
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
        node = DivBackward0(a, bt, out, (a if need_b else None, b if bt is None else bt))
        record(node, (a if need_b else None, bt))
        return Tensor._result(out, node)
    return Tensor._wrap(out)


class ReciprocalBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (mul(neg(g), mul(y, y)),)


def reciprocal(a: Tensor) -> Tensor:
    x = _floating(a._data)
    with np.errstate(divide="ignore"):
        out = 1 / x
    return _unary(a, out, ReciprocalBackward0, saves_result=True)


# --- pow -------------------------------------------------------------------------------------
class PowBackward0(Node):
    """x ** p for a Python scalar p."""

    __slots__ = ("exponent",)
    exponent: Any

    def apply(self, g: Tensor) -> Grads:
        (x,) = self.saved  # type: ignore[misc]
        p = self.exponent
        if p == 0:  # torch: zeros, even where x ** -1 is infinite
            return (zeros_like(g),)
        return (mul(g, mul(pow(x, p - 1), p)),)


class PowBackward1(BinaryNode):
    """x ** e for tensors x and e."""

    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        x, e, out = self.saved  # type: ignore[misc]
        ma, mb = self.meta
        ga = gb = None
        if self.needs(0):  # where e == 0 the gradient is 0, even at x == 0
            dx = mul(g, mul(e, pow(x, sub(e, 1))))
            ga = _for(where(~(e._data == 0), dx), ma)
        if self.needs(1):  # 0 ** e is constant in e for e >= 0: log(0) must not leak in
            de = mul(g, mul(out, log(x)))
            gb = _for(where(~((x._data == 0) & (e._data >= 0)), de), mb)
        return ga, gb


class PowBackward2(Node):
    """s ** e for a Python scalar base s."""

    __slots__ = ("base",)
    base: Any

    def apply(self, g: Tensor) -> Grads:
        (out,) = self.saved  # type: ignore[misc]
        s = self.base
        # log(s) in the gradient's dtype, as torch computes it
        grad = mul(g, mul(out, float(np.log(np.asarray(s, dtype=g._data.dtype)))))
        return (where(~(out._data >= 0), grad) if s == 0 else grad,)


def pow(a: Tensor, p: Tensor | Scalar) -> Tensor:  # noqa: A001 - torch.pow
    x, e, et = _args(a, p)
    if x.dtype.kind in "biu" and np.any(np.asarray(e) < 0):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = x**e
    if not _wants(a, et):
        return Tensor._wrap(out)
    if et is None:
        node = PowBackward0((edge(a),), (a,))
        node.exponent = e
        record(node, (a,))
        return Tensor._result(out, node)
    node1 = PowBackward1(a, et, out, (a, et))
    res = Tensor._result(out, node1)
    node1.saved = (a, et, res)
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
    node = PowBackward2((edge(a),))
    node.base = s
    res = Tensor._result(out, node)
    node.saved = (res,)
    record(node, (a,), res)
    return res


# --- unary -----------------------------------------------------------------------------------
def _floating(x: np.ndarray) -> np.ndarray:
    return x if x.dtype.kind == "f" else x.astype(DEFAULT_FLOAT)


def _unary(
    a: Tensor,
    out: np.ndarray,
    node_cls: type[Node],
    *,
    saves_input: bool = False,
    saves_result: bool = False,
) -> Tensor:
    """Record a one-input op whose node saves its input and/or its result (in that order).
    The version check (versions.py) watches the result if it is saved (what torch's formula
    uses), else the input."""
    if GradMode.enabled and a._requires_grad:
        node = node_cls((edge(a),), (a,) if saves_input else ())
        res = Tensor._result(out, node)
        if saves_result:
            node.saved = (*node.saved, res)  # type: ignore[misc]
            record(node, (), res)
        elif saves_input:
            record(node, (a,))
        return res
    return Tensor._wrap(out)


class NegBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        return (neg(g),)


def neg(a: Tensor) -> Tensor:
    if a._data.dtype == np.bool_:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying"
            " to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return _unary(a, -a._data, NegBackward0)


class ExpBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (mul(g, y),)


def exp(a: Tensor) -> Tensor:
    with np.errstate(over="ignore"):
        out = np.exp(_floating(a._data))
    return _unary(a, out, ExpBackward0, saves_result=True)


class LogBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        (x,) = self.saved  # type: ignore[misc]
        return (div(g, x),)


def log(a: Tensor) -> Tensor:
    x = _floating(a._data)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(x)
    return _unary(a, out, LogBackward0, saves_input=True)


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1/(1+exp(-x)) without overflow: exp only ever sees -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e).astype(x.dtype, copy=False) / (1 + e)


class SigmoidBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (mul(mul(g, rsub(y, 1)), y),)


def sigmoid(a: Tensor) -> Tensor:
    with np.errstate(over="ignore"):  # exp(-x) = inf for x << 0 gives the right limit, 0
        out = 1 / (1 + np.exp(-_floating(a._data)))
    return _unary(a, out, SigmoidBackward0, saves_result=True)


class TanhBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (mul(g, rsub(mul(y, y), 1)),)


def tanh(a: Tensor) -> Tensor:
    out = np.tanh(_floating(a._data))
    return _unary(a, out, TanhBackward0, saves_result=True)


class ReluBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (threshold_backward(g, y),)


def relu(a: Tensor) -> Tensor:
    x = a._data
    out = np.maximum(x, 0).astype(x.dtype, copy=False)
    return _unary(a, out, ReluBackward0, saves_result=True)


class ThresholdBackwardBackward0(Node):
    """relu's backward as an op of its own (torch's threshold_backward): linear in the
    gradient, and its derivative in relu's result is zero, not absent."""

    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        (y,) = self.saved  # type: ignore[misc]
        return (
            threshold_backward(g, y) if self.needs(0) else None,
            zeros_like(g) if self.needs(1) else None,
        )


def threshold_backward(g: Tensor, y: Tensor) -> Tensor:
    """g where relu's result y is positive, else 0 (also at 0, as torch)."""
    out = np.where(y._data > 0, g._data, 0).astype(g._data.dtype, copy=False)
    if GradMode.enabled and (g._requires_grad or y._requires_grad):
        return Tensor._result(out, ThresholdBackwardBackward0((edge(g), edge(y)), (y,)))
    return Tensor._wrap(out)


class AbsBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        (x,) = self.saved  # type: ignore[misc]
        return (mul(g, sgn(x)),)  # sgn(0) = 0: the subgradient torch picks


def abs(a: Tensor) -> Tensor:  # noqa: A001 - torch.abs
    return _unary(a, np.abs(a._data), AbsBackward0, saves_input=True)


class SgnBackward0(Node):
    """sgn is flat wherever it is differentiable: its gradient is zero (not absent), so
    abs's gradient still depends on x, as in torch."""

    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        return (zeros_like(g),)


def sgn(a: Tensor) -> Tensor:
    return _unary(a, np.sign(a._data), SgnBackward0)


class WhereBackward0(Node):
    __slots__ = ("keep",)
    keep: np.ndarray

    def apply(self, g: Tensor) -> Grads:
        return (where(self.keep, g),)


def where(keep: np.ndarray, a: Tensor) -> Tensor:
    """a where `keep`, else 0: torch.where(keep, a, 0) for a constant mask. Backward formulas
    use it to cut a value out exactly (a product with 0 would keep inf and nan)."""
    out = np.where(keep, a._data, 0).astype(a._data.dtype, copy=False)
    if GradMode.enabled and a._requires_grad:
        node = WhereBackward0((edge(a),))
        node.keep = keep
        return Tensor._result(out, node)
    return Tensor._wrap(out)


# --- pointwise functions: forward and derivative side by side, one line each ----------------
Derivative = Callable[[Tensor, Tensor, Tensor], Tensor]
"""(g, x, out) -> the gradient for x, written with this module's ops."""


class PointwiseNode(Node):
    __slots__ = ()
    derivative: ClassVar[Derivative]

    def apply(self, g: Tensor) -> Grads:
        x, out = self.saved  # type: ignore[misc]
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
        if not (GradMode.enabled and a._requires_grad):
            return Tensor._wrap(out)
        node = node_cls((edge(a),))
        res = Tensor._result(out, node)
        node.saved = (a, res)
        if saves_result:
            record(node, (), res)
        else:
            record(node, (a,))
        return res

    fn.__name__ = fn.__qualname__ = name
    POINTWISE[name] = fn
    return fn


cos: Callable[[Tensor], Tensor]  # sin's derivative, defined next
sin = defpointwise("sin", np.sin, lambda g, x, out: mul(g, cos(x)))
cos = defpointwise("cos", np.cos, lambda g, x, out: mul(g, neg(sin(x))))


class ToCopyBackward0(Node):
    __slots__ = ("dtype",)
    dtype: np.dtype

    def apply(self, g: Tensor) -> Grads:
        return (to(g, self.dtype),)


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

    def apply(self, g: Tensor) -> Grads:
        return (g.expand(self.shape),)


class SumBackward1(Node):
    __slots__ = ("shape", "dims", "keepdim")
    shape: tuple[int, ...]
    dims: tuple[int, ...]
    keepdim: bool

    def apply(self, g: Tensor) -> Grads:
        return (self._unreduced(g).expand(self.shape),)

    def _unreduced(self, g: Tensor) -> Tensor:
        """g with the reduced dims back, as size 1, ready to expand."""
        if not self.keepdim:
            for d in sorted(self.dims):
                g = g.unsqueeze(d)
        return g


class MeanBackward0(SumBackward0):
    __slots__ = ("count",)
    count: int

    def apply(self, g: Tensor) -> Grads:
        return (div(g, self.count).expand(self.shape),)


class MeanBackward1(SumBackward1):
    __slots__ = ("count",)
    count: int

    def apply(self, g: Tensor) -> Grads:
        return (div(self._unreduced(g), self.count).expand(self.shape),)


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
