"""Forward-mode AD as `torch.autograd.forward_ad` offers it: a dual level, dual tensors (a primal
with a tangent), and the wrapper through which every op gives its result a tangent.

A tangent lives only while its dual level is open: leaving the level drops every tangent, as
PyTorch does. PyTorch has one level at a time (nesting is refused), always level 0. The tangent
of each dual tensor is kept here, by the tensor's identity, rather than on the tensor: the
tensor keeps no forward-mode state, and an op result with no dual operand costs nothing.

`primitive` wraps an op with its JVP rules (jvps.py holds them, one row per op, as HIPS
autograd's `defjvp` table). Outside a dual level the wrapper costs one check of the level.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextlib import ContextDecorator
from typing import Any, NamedTuple

import numpy as np

from . import shape_ops
from .dtypes import to_dtype
from .grad_mode import no_grad
from .tensor import Tensor

JvpRule = Callable[..., Tensor]
"""(tangent, ans, **arguments) -> the result's tangent from one operand's tangent. `ans` and
the arguments are plain tensors (no tangent, no graph): the rule runs in no-grad mode. A rule
of None: PyTorch drops that operand's tangent (BCE's weight)."""

NO_LEVEL_MSG = (
    "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
    "enter_dual_level() first."
)


class _Level:
    """The open dual level (None: none) and the tangents made in it, by tensor id. Each entry
    holds its tensor too, so that no id is reused while the level is open."""

    current: int | None = None
    tangents: dict[int, tuple[Tensor, Tensor]] = {}


class UnpackedDualTensor(NamedTuple):
    primal: Tensor
    tangent: Tensor | None


def enter_dual_level() -> int:
    if _Level.current is not None:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _Level.current = 0
    return 0


def exit_dual_level(*, level: int | None = None) -> None:
    if level is None:
        level = _Level.current
    if level != _Level.current or level is None:
        raise RuntimeError(
            "Trying to exit a forward AD level that was not the last one that was created. "
            "This is not supported."
        )
    _Level.current = None
    _Level.tangents = {}


class dual_level(ContextDecorator):  # noqa: N801 - torch's name
    """`with dual_level():` opens the dual level and closes it on the way out; a decorator too."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc: object) -> None:
        exit_dual_level()


def _check_level(level: int | None, what: str) -> None:
    if level is not None and level != _Level.current:
        raise RuntimeError(f"Invalid level given to {what}")


def _floating(t: Tensor, role: str) -> None:
    if t._data.dtype.kind != "f":
        raise ValueError(
            f"Expected {role} to be floating point or complex, but got: "
            f"torch.{to_dtype(t._data.dtype).name}"
        )


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A view of `tensor` carrying `tangent` (the very object) in the open dual level."""
    if _Level.current is None:
        raise RuntimeError(NO_LEVEL_MSG)
    _check_level(level, "_make_dual")
    _floating(tensor, "primal")
    _floating(tangent, "tangent")
    if id(tensor) in _Level.tangents:
        raise RuntimeError(
            "Making a dual Tensor based on a Tensor that already has a forward gradient at the "
            f"same level {_Level.current} is not supported."
        )
    if tangent._data.shape != tensor._data.shape:
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            f"original Tensor, this is not supported. Tensor is of size "
            f"{list(tensor._data.shape)} while the given forward gradient is of size "
            f"{list(tangent._data.shape)}."
        )
    dual = _view(tensor)
    _Level.tangents[id(dual)] = (dual, tangent)
    return dual


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """(primal, tangent). Inside a dual level the primal is a new view without the tangent;
    outside one it is `tensor` itself, and the tangent None."""
    if _Level.current is None:
        return UnpackedDualTensor(tensor, None)
    _check_level(level, "_unpack_dual")
    return UnpackedDualTensor(_view(tensor), tangent_of(tensor))


def _view(tensor: Tensor) -> Tensor:
    # the op itself, not its wrapper: the view must not take the tangent along
    reshape = getattr(shape_ops.reshape, "__wrapped_op__", shape_ops.reshape)
    return reshape(tensor, tensor._data.shape)


def tangent_of(tensor: Any) -> Tensor | None:
    entry = _Level.tangents.get(id(tensor))
    return None if entry is None else entry[1]


def in_use() -> bool:
    """A dual level is open and some tensor carries a tangent in it."""
    return _Level.current is not None and bool(_Level.tangents)


def set_tangent(tensor: Tensor, tangent: Tensor) -> None:
    """Give `tensor` a new tangent (an in-place op on it wrote its primal)."""
    _Level.tangents[id(tensor)] = (tensor, tangent)


# -- the wrapper ------------------------------------------------------------------------------
def primitive(fn: Callable[..., Any], rules: Mapping[str, JvpRule | None]) -> Callable[..., Any]:
    """`fn`, whose floating result gets a tangent whenever a dual level is open and an operand
    carries one: the sum of the rules of the operands (by parameter name) that do, in the
    result's shape. A tangent on an operand without a rule is refused, as PyTorch refuses an op
    without a forward formula, rather than dropped."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        ans = fn(*args, **kwargs)
        if _Level.current is None or not _Level.tangents:  # the cost outside forward mode
            return ans
        if isinstance(ans, Tensor) and ans._data.dtype.kind == "f":
            tangent = _result_tangent(fn, signature, rules, ans, args, kwargs)
            if tangent is not None:
                _Level.tangents[id(ans)] = (ans, tangent)
        return ans

    wrapped.__wrapped_op__ = fn  # type: ignore[attr-defined]
    return wrapped


def _result_tangent(
    fn: Callable[..., Any],
    signature: inspect.Signature,
    rules: Mapping[str, JvpRule | None],
    ans: Tensor,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Tensor | None:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    arguments = bound.arguments
    tangents = {name: tangent_of(value) for name, value in arguments.items()}
    duals = [
        name for name, t in tangents.items() if t is not None and rules.get(name, 0) is not None
    ]
    if not duals:
        return None
    plain = {name: _plain(value) for name, value in arguments.items()}
    total: np.ndarray | None = None
    with no_grad():
        for name in duals:
            rule = rules.get(name)
            if rule is None:  # no rule at all: dropped ones were left out above
                raise NotImplementedError(
                    f"Trying to use forward AD with {fn.__name__} that does not support it "
                    f"for its argument {name!r}."
                )
            part = np.asarray(rule(tangents[name], _plain(ans), **plain)._data)
            total = part if total is None else total + part
    assert total is not None
    # An operand's tangent broadcasts with it (a rule written for the operand gives its shape),
    # and takes the wider of its own dtype and the result's, as PyTorch's formulas promote.
    dtype = np.result_type(total.dtype, ans._data.dtype)
    return Tensor._wrap(np.array(np.broadcast_to(total, ans._data.shape), dtype=dtype))


def _plain(value: Any) -> Any:
    """The value without its tangent or graph: what a rule computes with."""
    return Tensor._wrap(value._data) if isinstance(value, Tensor) else value
