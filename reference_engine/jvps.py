"""The JVP rules: one row per op, beside the VJPs of ops.py, shape_ops.py, matmul.py and
nn/functional.py, as HIPS autograd keeps numpy_jvps.py beside numpy_vjps.py.

`defjvp(module, name, operand=rule, ...)` gives op `module.name` a rule per differentiable
operand, by parameter name: rule(tangent, ans, **arguments) is that operand's share of the
result's tangent (the wrapper in forward_ad.py adds the shares and broadcasts them to the
result's shape). `LINEAR` is the rule of an op linear in that operand: the op itself, applied
with the tangent in the operand's place (sum, views, indexing, one factor of a product).

Importing this module wraps each op where it is defined, its module attribute, so that every
way of reaching it goes through the wrapper: the package's functions and the Tensor methods
bound by methods.py (several of which look the op up when called), and the ops that
nn/functional.py imports. The package imports this module before methods.py and nn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from . import autograd, forward_ad, inplace_ops, matmul, ops, shape_ops
from .forward_ad import JvpRule, primitive
from .grad_mode import no_grad
from .tensor import Tensor

LINEAR: JvpRule = lambda t, ans, **args: t  # noqa: E731 - a marker; defjvp substitutes the op
DROPPED = None
"""The rule of an operand whose tangent PyTorch ignores (BCE's weight and pos_weight)."""

JVPS: dict[str, dict[str, JvpRule | None]] = {}
"""The rules by op name, for the tests: every op of the op set and every POINTWISE function."""


def defjvp(module: ModuleType, name: str, **rules: JvpRule | None) -> None:
    fn = getattr(module, name)
    table = {arg: _in_place_of(fn, arg) if rule is LINEAR else rule for arg, rule in rules.items()}
    wrapped = primitive(fn, table)
    setattr(module, name, wrapped)
    if module is ops and name in ops.POINTWISE:
        ops.POINTWISE[name] = wrapped
    JVPS[name] = table


def _in_place_of(fn: Callable[..., Tensor], operand: str) -> JvpRule:
    def rule(t: Tensor, ans: Tensor, /, **args: Any) -> Tensor:
        return fn(**{**args, operand: t})

    return rule


def _array(fn: Callable[..., Any]) -> JvpRule:
    """A rule written on the arrays (t, ans, then the arguments' arrays, scalars as they are)."""

    def rule(t: Tensor, ans: Tensor, /, **args: Any) -> Tensor:
        arrays = {k: v._data if isinstance(v, Tensor) else v for k, v in args.items()}
        with np.errstate(all="ignore"):
            out = np.asarray(fn(t._data, ans._data, **arrays))
        # NumPy widens where PyTorch would not (float32 ** an int64 array is float64)
        return Tensor._wrap(out.astype(np.result_type(t._data.dtype, ans._data.dtype), copy=False))

    return rule


# -- arithmetic -------------------------------------------------------------------------------
def _pow_base(t: np.ndarray, ans: np.ndarray, a: np.ndarray, p: Any) -> np.ndarray:
    # d/da a**p = p a**(p-1), and 0 where p == 0 (PyTorch: even where a**-1 is infinite)
    return np.where(p == 0, 0.0, t * p * a ** (p - 1))


def _pow_exponent(t: np.ndarray, ans: np.ndarray, a: np.ndarray, p: Any) -> np.ndarray:
    # d/dp a**p = a**p log(a), and 0 where a == 0 and p >= 0 (PyTorch's convention)
    return np.where((a == 0) & (p >= 0), 0.0, t * ans * np.log(a))


def _rpow(t: np.ndarray, ans: np.ndarray, a: np.ndarray, base: Any) -> np.ndarray:
    if base == 0:
        return np.where(ans >= 0, 0.0, t * ans * np.log(float(base)))
    return t * ans * np.log(np.asarray(base, dtype=ans.dtype))


defjvp(ops, "add", a=lambda t, ans, a, b: t, b=lambda t, ans, a, b: t)
defjvp(ops, "sub", a=lambda t, ans, a, b: t, b=lambda t, ans, a, b: -t)
defjvp(ops, "rsub", a=lambda t, ans, a, s: -t)
defjvp(ops, "mul", a=LINEAR, b=LINEAR)
defjvp(ops, "div", a=lambda t, ans, a, b: t / b, b=lambda t, ans, a, b: -t * a / (b * b))
defjvp(ops, "reciprocal", a=lambda t, ans, a: -t * ans * ans)
defjvp(ops, "pow", a=_array(_pow_base), p=_array(_pow_exponent))
defjvp(ops, "rpow", a=_array(_rpow))
defjvp(ops, "neg", a=LINEAR)

# -- pointwise: derivative(x, ans) times the tangent ----------------------------------------------
defjvp(ops, "exp", a=lambda t, ans, a: t * ans)
defjvp(ops, "log", a=lambda t, ans, a: t / a)
defjvp(ops, "sigmoid", a=lambda t, ans, a: t * ans * (1 - ans))
defjvp(ops, "tanh", a=lambda t, ans, a: t * (1 - ans * ans))
defjvp(ops, "relu", a=_array(lambda t, ans, a: np.where(ans > 0, t, 0.0)))  # 0 at 0
defjvp(ops, "abs", a=_array(lambda t, ans, a: t * np.sign(a)))  # sign(0) = 0
defjvp(ops, "sin", a=_array(lambda t, ans, a: t * np.cos(a)))
defjvp(ops, "cos", a=_array(lambda t, ans, a: -t * np.sin(a)))

# -- conversions, reductions, in-place ------------------------------------------------------------
defjvp(ops, "to", a=LINEAR)
defjvp(ops, "sum", a=LINEAR)
defjvp(ops, "mean", a=LINEAR)
defjvp(
    inplace_ops,
    "zero_",
    t=lambda tangent, ans, /, **args: Tensor._wrap(np.zeros_like(tangent._data)),
)


def _with_tangents(inplace: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """inplace_ops.inplace (x.add_(y) and the others), whose tensor takes the tangent of the
    out-of-place op's result: the op's own rule, computed on the values before the write."""

    @functools.wraps(inplace)
    def run(t: Tensor, fn: Callable[..., Tensor], other: Any) -> Tensor:
        if not forward_ad.in_use():
            return inplace(t, fn, other)
        with no_grad():
            tangent = forward_ad.tangent_of(fn(t, other))  # fn is wrapped: its result has one
        out = inplace(t, fn, other)
        if tangent is not None:
            forward_ad.set_tangent(t, Tensor._wrap(tangent._data.astype(t._data.dtype)))
        return out

    return run


inplace_ops.inplace = _with_tangents(inplace_ops.inplace)

# -- views and indexing: linear ---------------------------------------------------------------
for _view in ("reshape", "transpose", "t", "permute", "expand", "unsqueeze", "squeeze", "index"):
    defjvp(shape_ops, _view, a=LINEAR)

# -- products: bilinear ------------------------------------------------------------------------
for _product in ("dot", "mv", "mm", "matmul"):
    defjvp(matmul, _product, a=LINEAR, b=LINEAR)
# bias + a @ b is affine, not linear, in a and in b: their shares are products alone
defjvp(
    matmul,
    "addmm",
    bias=lambda t, ans, bias, a, b: t,
    a=lambda t, ans, bias, a, b: matmul.mm(t, b),
    b=lambda t, ans, bias, a, b: matmul.mm(a, t),
)

# -- nn.functional (imported now: it binds ops.relu and the others, wrapped above) ----------------
from .nn import functional  # noqa: E402

functional.relu, functional.sigmoid, functional.tanh = ops.relu, ops.sigmoid, ops.tanh


def _bce_input(t: np.ndarray, ans: np.ndarray, **a: Any) -> np.ndarray:
    z, y, w, pw = a["input"], a["target"], a.get("weight"), a.get("pos_weight")
    s = ops.stable_sigmoid(z)
    local = s - y if pw is None else (pw * y + 1 - y) * s - pw * y
    return _bce_reduce(t * (local if w is None else local * w), a["reduction"])


def _bce_target(t: np.ndarray, ans: np.ndarray, **a: Any) -> np.ndarray:
    z, pw, w = a["input"], a.get("pos_weight"), a.get("weight")
    local = -z if pw is None else -z - (pw - 1) * functional._log_sigmoid(z)
    return _bce_reduce(t * (local if w is None else local * w), a["reduction"])


def _bce_reduce(terms: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return terms
    total = np.asarray(terms.sum())
    return total / terms.size if reduction == "mean" else total


defjvp(
    functional,
    "linear",
    input=lambda t, ans, input, weight, bias=None: functional.linear(t, weight),  # noqa: A006
    weight=lambda t, ans, input, weight, bias=None: functional.linear(input, t),  # noqa: A006
    bias=lambda t, ans, **args: t,
)
defjvp(
    functional,
    "binary_cross_entropy_with_logits",
    input=_array(_bce_input),
    target=_array(_bce_target),
    weight=DROPPED,  # PyTorch 2.13: a tangent on weight or pos_weight does not reach the loss
    pos_weight=DROPPED,
)

NOT_DIFFERENTIABLE = ("gt", "lt", "ge", "le", "eq", "ne")
"""Comparisons: their results are bool, which carry no tangent."""

autograd.forward_ad = forward_ad  # type: ignore[attr-defined]  # torch.autograd.forward_ad
