"""The op table: one row per operation a program may apply, holding everything about it.

A row says what the op takes (operands, optional operands, parameters), whether it is
differentiable and broadcasts, where the suites may draw its operands (`Domain`) and which points
are kinks with PyTorch's convention there, its float64 NumPy forward and, side by side, the VJP
of each operand (as HIPS autograd's `defvjp` table: one entry per op and operand, `unbroadcast`
written once, in `vjp`), its tolerance class (a key of `tolerances.OP_CLASSES`) and its `kind`:
the shape rule by which `suites.strategies` builds an application of it.

Everything else derives from the rows: the drawing order (`OP_ORDER`, the table's order), the
program IR's validation, the reproducers' PyTorch spelling (the default is `torch.<name>`), the
ops an adapter supports (`conformance.backends.opmap`: the default is the same name on the
engine's namespace). Adding an op whose kind exists is one row here, its reference-engine entry,
and a line for each engine that spells it differently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

# -- where operands may lie -------------------------------------------------------------------
DOMAIN_MARGIN = 0.25
"""log's argument, a divisor, and the base of a negative or fractional power stay this far from
0: gradients stay below 1/margin**2 and central differences stay away from the singularity."""
EXP_LIMIT = 6.0
"""exp's argument stays below this: exp(6) ~ 403 keeps every value under the strategies' limit."""


@dataclass(frozen=True)
class Domain:
    """Where an operand's values may lie, checked exactly on the float64 values drawn."""

    low: float = -math.inf
    high: float = math.inf
    away_from_zero: float = 0.0

    @property
    def anywhere(self) -> bool:
        return self == ANYWHERE

    def admits(self, values: np.ndarray) -> bool:
        if self.anywhere:
            return True
        return (
            float(np.min(values, initial=np.inf)) >= self.low
            and float(np.max(values, initial=-np.inf)) <= self.high
            and float(np.min(np.abs(values), initial=np.inf)) >= self.away_from_zero
        )


ANYWHERE = Domain()
POSITIVE = Domain(low=DOMAIN_MARGIN)
NONZERO = Domain(away_from_zero=DOMAIN_MARGIN)
BELOW_EXP_LIMIT = Domain(high=EXP_LIMIT)


@dataclass(frozen=True)
class Kink:
    """A point where the op is not differentiable, and the one-sided choice PyTorch makes there.

    Suites read kinks to step around them with finite differences and to excuse a subgradient
    picked by a rounding coin toss; tests/test_op_table.py checks `derivative` against PyTorch.
    """

    at: float
    derivative: float
    why: str


# -- float64 NumPy semantics, forward and VJP side by side ------------------------------------
Arrays = Sequence[np.ndarray]
Params = Mapping[str, Any]
Forward = Callable[[Arrays, Params], np.ndarray]
Vjp = Callable[[np.ndarray, np.ndarray, Arrays, Params], np.ndarray]
"""(g, ans, args, params) -> gradient for one operand, in the broadcast shape (see `vjp`)."""
Local = Callable[[np.ndarray, np.ndarray], Any]
"""(x, ans) -> the local derivative d ans / dx of an elementwise op."""


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient back to an operand's shape: broadcasting run in reverse."""
    grad = np.asarray(grad)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logsigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


def reduction_dims(params: Params) -> int | tuple[int, ...] | None:
    """`sum`/`mean`'s `dim`: None (all), an int, or a tuple (JSON gives lists)."""
    dim = params.get("dim")
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def _axes(params: Params, ndim: int) -> tuple[int, ...]:
    dim = reduction_dims(params)
    dims = range(ndim) if dim is None else (dim,) if isinstance(dim, int) else dim
    return tuple(sorted({d % max(ndim, 1) for d in dims} & set(range(ndim))))


def _reduce(fn: Callable[..., Any]) -> Forward:
    def forward(a: Arrays, p: Params) -> np.ndarray:
        if p.get("dim") is None:
            return np.asarray(fn(a[0]))
        return np.asarray(fn(a[0], axis=_axes(p, a[0].ndim), keepdims=bool(p.get("keepdim"))))

    return forward


def _reduce_vjp(mean: bool) -> Vjp:
    def vjp(g: np.ndarray, ans: np.ndarray, a: Arrays, p: Params) -> np.ndarray:
        axes = _axes(p, a[0].ndim)
        if p.get("dim") is not None and not p.get("keepdim"):
            g = np.expand_dims(g, axes)
        count = math.prod(a[0].shape[d] for d in axes) if mean else 1
        return np.broadcast_to(g / count if mean else g, a[0].shape)

    return vjp


def _matmul_vjp(operand: int) -> Vjp:
    # 1-d operands become matrices (a row, a column), as matmul promotes them, then go back.
    def vjp(g: np.ndarray, ans: np.ndarray, a: Arrays, p: Params) -> np.ndarray:
        x = a[0][None, :] if a[0].ndim == 1 else a[0]
        y = a[1][:, None] if a[1].ndim == 1 else a[1]
        g = np.reshape(g, np.matmul(x, y).shape)  # promotion only added dims of size 1
        own = (x, y)[operand]
        grad = g @ np.swapaxes(y, -1, -2) if operand == 0 else np.swapaxes(x, -1, -2) @ g
        return unbroadcast(grad, own.shape).reshape(a[operand].shape)

    return vjp


def optional_operands(args: Sequence[Any], params: Params) -> dict[str, Any]:
    """The optional operands present (`bias`; `weight`, `pos_weight`), by name."""
    return dict(zip(params.get("optional", ()), args[2:], strict=True))


def _linear(a: Arrays, p: Params) -> np.ndarray:
    out = np.matmul(a[0], a[1].T)
    bias = optional_operands(a, p).get("bias")
    return np.asarray(out if bias is None else out + bias)


def _linear_vjp(operand: int) -> Vjp:
    def vjp(g: np.ndarray, ans: np.ndarray, a: Arrays, p: Params) -> np.ndarray:
        if operand == 0:
            return np.asarray(g @ a[1])
        if operand == 1:  # summed over every batch dim
            return np.reshape(g, (-1, a[1].shape[0])).T @ np.reshape(a[0], (-1, a[1].shape[1]))
        return np.asarray(g)  # the bias: unbroadcast sums over the batch

    return vjp


def _bce_terms(a: Arrays, p: Params) -> tuple[np.ndarray, ...]:
    z, y = a[0], a[1]
    extra = optional_operands(a, p)
    weight = np.asarray(extra.get("weight", 1.0))
    pos_weight = np.asarray(extra.get("pos_weight", 1.0))
    return z, y, weight, pos_weight, (pos_weight - 1.0) * y + 1.0


def _bce(a: Arrays, p: Params) -> np.ndarray:
    z, y, weight, _, log_weight = _bce_terms(a, p)
    loss = np.broadcast_to(weight * ((1.0 - y) * z - log_weight * logsigmoid(z)), z.shape)
    reduction = p.get("reduction", "mean")
    return loss if reduction == "none" else np.asarray(getattr(np, reduction)(loss))


def _bce_vjp(operand: int) -> Vjp:
    # d/dz = w (lw sigmoid(z) - pw y), d/dy = w (-z - (pw - 1) logsigmoid(z)), lw = (pw-1) y + 1
    def vjp(g: np.ndarray, ans: np.ndarray, a: Arrays, p: Params) -> np.ndarray:
        z, y, w, pw, lw = _bce_terms(a, p)
        if operand == 0:
            local = w * (lw * sigmoid(z) - pw * y)
        else:
            local = w * (-z - (pw - 1) * logsigmoid(z))
        scale = 1.0 / z.size if p.get("reduction", "mean") == "mean" else 1.0
        return np.broadcast_to(g * scale, z.shape) * local

    return vjp


def _index_vjp(g: np.ndarray, ans: np.ndarray, a: Arrays, p: Params) -> np.ndarray:
    grad = np.zeros_like(a[0])
    np.add.at(grad, np.asarray(p["indices"], dtype=np.int64), g)  # repeated indices add up
    return grad


def expanded_shape(shape: Sequence[int], target: Sequence[int]) -> tuple[int, ...]:
    """PyTorch's `expand` sizes, where -1 keeps a dimension, as explicit sizes."""
    lead = len(target) - len(shape)
    return tuple(
        shape[i - lead] if size == -1 and i >= lead else size for i, size in enumerate(target)
    )


def _pow_vjp(g: np.ndarray, ans: np.ndarray, a: Arrays, p: Params) -> np.ndarray:
    exponent = float(p["exponent"])
    if exponent == 0:  # PyTorch: zero gradient, even where x ** -1 would be infinite
        return np.zeros_like(g)
    return g * exponent * a[0] ** (exponent - 1)


# -- the rows ---------------------------------------------------------------------------------
Kind = Literal[
    "unary", "binary", "reduction", "matmul", "linear",
    "transpose", "reshape", "expand", "index", "loss",
]  # fmt: skip
"""The shape rule, which `suites.strategies` builds applications by: "unary" is elementwise on
one operand (scalar parameters drawn from `param_choices`); "binary" broadcasts two operands;
the others are one rule each."""
ToleranceClass = Literal["exact", "rounded", "accumulating"]


@dataclass(frozen=True)
class Op:
    """One operation. `operands` counts the tensor operands; `optional` names the optional ones
    (`linear`'s bias, BCE's weight and pos_weight), which a program passes after the others,
    naming those present in its `optional` parameter. `domains` has one entry per operand
    (optional ones are drawn by the loss rule); `vjps` one per operand, None where the op is not
    differentiable in it."""

    name: str
    kind: Kind
    forward: Forward
    vjps: tuple[Vjp | None, ...] = ()
    operands: int = 1
    params: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    broadcasts: bool = False
    view: bool = False
    """The result is a view of the operand in PyTorch (under no-grad it shares requires_grad)."""
    domains: tuple[Domain, ...] = (ANYWHERE,)
    param_choices: tuple[tuple[Domain, tuple[Any, ...]], ...] = ()
    """For a "unary" op with a parameter: the values it may take, by the domain the operand
    must lie in for them (pow: negative exponents only away from 0, fractional on positives)."""
    kinks: tuple[Kink, ...] = ()
    tolerance: ToleranceClass = "rounded"

    @property
    def differentiable(self) -> bool:
        return any(v is not None for v in self.vjps)


def _pointwise(name: str, fn: Callable[[np.ndarray], Any], derivative: Local, **row: Any) -> Op:
    """An elementwise op of one operand: ans = fn(x), with d ans / dx = derivative(x, ans)."""

    def forward(a: Arrays, p: Params) -> np.ndarray:
        return np.asarray(fn(a[0]))

    def vjp(g: np.ndarray, ans: np.ndarray, a: Arrays, p: Params) -> np.ndarray:
        return g * derivative(a[0], ans)

    return Op(name, "unary", forward, (vjp,), **row)


def _broadcasting(
    name: str,
    fn: Callable[[np.ndarray, np.ndarray], Any],
    dx: Callable[[np.ndarray, np.ndarray], Any],
    dy: Callable[[np.ndarray, np.ndarray], Any],
    domains: tuple[Domain, Domain] = (ANYWHERE, ANYWHERE),
) -> Op:
    """A broadcasting op of two operands: ans = fn(x, y), with partial derivatives dx(x, y) and
    dy(x, y); `vjp` sums each gradient back to its operand's shape."""

    def forward(a: Arrays, p: Params) -> np.ndarray:
        return np.asarray(fn(a[0], a[1]))

    def vjp_x(g: np.ndarray, ans: np.ndarray, a: Arrays, p: Params) -> np.ndarray:
        return g * dx(a[0], a[1])

    def vjp_y(g: np.ndarray, ans: np.ndarray, a: Arrays, p: Params) -> np.ndarray:
        return g * dy(a[0], a[1])

    return Op(name, "binary", forward, (vjp_x, vjp_y), 2, broadcasts=True, domains=domains)


_RELU_KINK = Kink(0.0, 0.0, "relu'(0) = 0: PyTorch's threshold_backward passes g where x > 0")
_ABS_KINK = Kink(0.0, 0.0, "abs'(0) = 0: PyTorch's abs backward is g * sign(x), sign(0) = 0")
_EXPONENTS = ((ANYWHERE, (2, 3, 0, 1)), (NONZERO, (-1, -2)), (POSITIVE, (0.5, 1.5, -0.5)))

# In drawing order, simplest first: hypothesis shrinks towards the front.
_ROWS = (
    _broadcasting("add", np.add, lambda x, y: 1.0, lambda x, y: 1.0),
    _broadcasting("mul", np.multiply, lambda x, y: y, lambda x, y: x),
    Op("sum", "reduction", _reduce(np.sum), (_reduce_vjp(mean=False),),
       params=("dim", "keepdim"), tolerance="accumulating"),
    _pointwise("neg", np.negative, lambda x, ans: -1.0, tolerance="exact"),
    _broadcasting("sub", np.subtract, lambda x, y: 1.0, lambda x, y: -1.0),
    Op("mean", "reduction", _reduce(np.mean), (_reduce_vjp(mean=True),),
       params=("dim", "keepdim"), tolerance="accumulating"),
    _broadcasting("div", np.divide, lambda x, y: 1 / y, lambda x, y: -x / (y * y),
                  domains=(ANYWHERE, NONZERO)),
    Op("pow", "unary", lambda a, p: np.asarray(np.power(a[0], float(p["exponent"]))),
       (_pow_vjp,), params=("exponent",), param_choices=_EXPONENTS),
    _pointwise("exp", np.exp, lambda x, ans: ans, domains=(BELOW_EXP_LIMIT,)),
    _pointwise("log", np.log, lambda x, ans: 1 / x, domains=(POSITIVE,)),
    _pointwise("sigmoid", sigmoid, lambda x, ans: ans * (1 - ans)),
    _pointwise("tanh", np.tanh, lambda x, ans: 1 - ans * ans),
    _pointwise("sin", np.sin, lambda x, ans: np.cos(x)),
    _pointwise("relu", lambda x: np.maximum(x, 0.0), lambda x, ans: x > 0,
               kinks=(_RELU_KINK,), tolerance="exact"),
    _pointwise("abs", np.abs, lambda x, ans: np.sign(x), kinks=(_ABS_KINK,), tolerance="exact"),
    Op("matmul", "matmul", lambda a, p: np.asarray(np.matmul(a[0], a[1])),
       (_matmul_vjp(0), _matmul_vjp(1)), 2, domains=(ANYWHERE, ANYWHERE),
       tolerance="accumulating"),
    Op("transpose", "transpose", lambda a, p: np.swapaxes(a[0], p["dim0"], p["dim1"]),
       (lambda g, ans, a, p: np.swapaxes(g, p["dim0"], p["dim1"]),),
       params=("dim0", "dim1"), view=True, tolerance="exact"),
    Op("reshape", "reshape", lambda a, p: np.reshape(a[0], tuple(p["shape"])),
       (lambda g, ans, a, p: np.reshape(g, a[0].shape),),
       params=("shape",), view=True, tolerance="exact"),
    Op("expand", "expand",
       lambda a, p: np.broadcast_to(a[0], expanded_shape(a[0].shape, p["shape"])),
       (lambda g, ans, a, p: unbroadcast(g, a[0].shape),),
       params=("shape",), view=True, tolerance="accumulating"),
    Op("index", "index", lambda a, p: np.asarray(a[0][np.asarray(p["indices"], np.int64)]),
       (_index_vjp,), params=("indices",), tolerance="accumulating"),
    Op("linear", "linear", _linear, (_linear_vjp(0), _linear_vjp(1), _linear_vjp(2)), 2,
       optional=("bias",), domains=(ANYWHERE, ANYWHERE), tolerance="accumulating"),
    Op("bce_with_logits", "loss", _bce, (_bce_vjp(0), _bce_vjp(1), None, None), 2,
       params=("reduction",), optional=("weight", "pos_weight"), domains=(ANYWHERE, ANYWHERE),
       tolerance="accumulating"),
    Op("gt", "binary", lambda a, p: np.asarray(np.greater(a[0], a[1])), (), 2, broadcasts=True,
       domains=(ANYWHERE, ANYWHERE), tolerance="exact"),
)  # fmt: skip

OPS: dict[str, Op] = {row.name: row for row in _ROWS}
ALL_OPS: frozenset[str] = frozenset(OPS)
OP_ORDER: tuple[str, ...] = tuple(OPS)
"""The drawing order, simplest first: hypothesis shrinks towards the front."""
KINK_OPS: tuple[str, ...] = tuple(row.name for row in _ROWS if row.kinks)
VIEW_OPS: tuple[str, ...] = tuple(row.name for row in _ROWS if row.view)
PARAM_DEFAULTS: dict[str, Any] = {"dim": None, "keepdim": False, "reduction": "mean"}
"""What an absent parameter means, the same for every op that takes it."""


# -- applying a row ---------------------------------------------------------------------------
def forward(op: str, args: Arrays, params: Params) -> np.ndarray:
    """The op's float64 NumPy forward (PyTorch's meaning; float64 in, float64 or bool out)."""
    with np.errstate(all="ignore"):
        return OPS[op].forward(args, params)


def vjp(op: str, g: np.ndarray, args: Arrays, params: Params) -> list[np.ndarray | None]:
    """The gradient of sum(op(args) * g) for each operand, summed to the operand's shape (None
    where the op is not differentiable in it)."""
    row = OPS[op]
    ans = forward(op, args, params)
    grads: list[np.ndarray | None] = []
    rules = list(row.vjps) + [None] * (len(args) - len(row.vjps))
    with np.errstate(all="ignore"):
        for arg, rule in zip(args, rules, strict=False):
            grads.append(
                None
                if rule is None
                else np.asarray(unbroadcast(rule(g, ans, args, params), arg.shape), np.float64)
            )
    return grads


def positional_params(op: str, params: Params) -> tuple[Any, ...]:
    """The row's parameters in its order, as the default adapter convention passes them after the
    operands: absent ones take PARAM_DEFAULTS, JSON lists become tuples."""
    values = [params.get(name, PARAM_DEFAULTS.get(name)) for name in OPS[op].params]
    return tuple(tuple(v) if isinstance(v, list) else v for v in values)
