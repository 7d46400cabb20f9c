"""The op set: every operation a program may apply, with its operands and parameters.

Programs, adapters, strategies and the reference engine all speak in these names. An adapter
declares the subset it supports (`Capabilities.ops`); a program that uses an op outside that
subset is not run on it, and the requirements that need the op are "not applicable".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OpSpec:
    """One operation: its name, how many tensor operands it takes, and its parameters.

    `operands` is the count of tensor operands; ops with optional operands (`linear`'s bias,
    BCE's weight and pos_weight) list them in `optional`, and a program passes only those present,
    naming them in the `optional` parameter.
    """

    name: str
    operands: int
    params: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    differentiable: bool = True
    broadcasts: bool = False


_SPECS = (
    OpSpec("add", 2, broadcasts=True),
    OpSpec("sub", 2, broadcasts=True),
    OpSpec("mul", 2, broadcasts=True),
    OpSpec("div", 2, broadcasts=True),
    OpSpec("neg", 1),
    OpSpec("pow", 1, params=("exponent",)),
    OpSpec("exp", 1),
    OpSpec("log", 1),
    OpSpec("sigmoid", 1),
    OpSpec("tanh", 1),
    OpSpec("relu", 1),
    OpSpec("abs", 1),
    OpSpec("sum", 1, params=("dim", "keepdim")),
    OpSpec("mean", 1, params=("dim", "keepdim")),
    OpSpec("matmul", 2),
    OpSpec("transpose", 1, params=("dim0", "dim1")),
    OpSpec("reshape", 1, params=("shape",)),
    OpSpec("expand", 1, params=("shape",)),
    OpSpec("index", 1, params=("indices",)),
    OpSpec("gt", 2, differentiable=False, broadcasts=True),
    OpSpec("linear", 2, optional=("bias",)),
    OpSpec(
        "bce_with_logits",
        2,
        params=("reduction",),
        optional=("weight", "pos_weight"),
    ),
)

OPS: dict[str, OpSpec] = {spec.name: spec for spec in _SPECS}
ALL_OPS: frozenset[str] = frozenset(OPS)
ELEMENTWISE_UNARY: tuple[str, ...] = ("neg", "exp", "log", "sigmoid", "tanh", "relu", "abs")
ELEMENTWISE_BINARY: tuple[str, ...] = ("add", "sub", "mul", "div")


# -- reading an application's parameters, the same way in every adapter --------------------------
def reduction_dims(params: Mapping[str, Any]) -> int | tuple[int, ...] | None:
    """`sum`/`mean`'s `dim`: None (all), an int, or a tuple (JSON gives lists)."""
    dim = params.get("dim")
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def optional_operands(args: Sequence[Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The optional operands present (`bias`; `weight`, `pos_weight`), by name."""
    return dict(zip(params.get("optional", ()), args[2:], strict=True))


def expanded_shape(shape: Sequence[int], target: Sequence[int]) -> tuple[int, ...]:
    """PyTorch's `expand` sizes, where -1 keeps a dimension, as explicit sizes."""
    lead = len(target) - len(shape)
    return tuple(
        shape[i - lead] if size == -1 and i >= lead else size for i, size in enumerate(target)
    )
