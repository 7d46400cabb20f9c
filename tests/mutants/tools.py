"""Building blocks for injecting a wrong gradient while keeping every forward value right.

A mutant must model a real engine bug, and most real gradient bugs live in one op's backward
while its forward is correct. Subclassing the engine is not an option (the mutants sit at the
adapter boundary), so a wrong backward is composed from correct ops:

    value.detach() + sum_i J_i * (x_i - x_i.detach())

has exactly the forward value `value` (each `x - x.detach()` is 0) and, by the chain rule,
sends `sum_to(J_i * grad_out, x_i.shape)` to input `x_i`: any local derivative `J_i` we choose.
`with_surrogate` is the non-elementwise variant: the value of one expression with the gradient
of another.

Everything here uses only PyTorch's Python API on `adapter.m`, so a bug written with these
helpers runs on the reference engine and on PyTorch alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conformance.backends.torchlike import TorchLikeAdapter
from conformance.protocol import Tensor


def records(adapter: TorchLikeAdapter, args: Sequence[Any]) -> bool:
    """Whether an op on `args` records a backward node (grad mode on, some input requires grad).

    Mutated ops fall back to the correct op otherwise, so no-grad results are untouched.
    """
    return bool(adapter.m.is_grad_enabled()) and any(
        bool(getattr(arg, "requires_grad", False)) for arg in args
    )


def constant(adapter: TorchLikeAdapter, array: Any, like: Tensor) -> Tensor:
    """A tensor that does not require grad, holding `array` in `like`'s dtype."""
    return adapter.tensor(np.asarray(array, dtype=adapter.dtype(like)))


def zero_carrier(t: Tensor) -> Tensor:
    """Value exactly 0 (for finite `t`), gradient the identity to `t`."""
    return t - t.detach()


def with_local_grads(
    adapter: TorchLikeAdapter, value: Tensor, local: Sequence[tuple[Tensor, np.ndarray]]
) -> Tensor:
    """`value`'s forward with local derivative `J` for each `(x, J)`; J broadcasts to the output.

    Inputs not listed receive no gradient through this op.
    """
    out = value.detach()
    for x, jacobian in local:
        if bool(getattr(x, "requires_grad", False)):
            out = out + constant(adapter, jacobian, value) * zero_carrier(x)
    return out


def with_surrogate(value: Tensor, surrogate: Tensor) -> Tensor:
    """`value`'s forward with `surrogate`'s backward (they must have the same shape)."""
    return value.detach() + zero_carrier(surrogate)


def values(adapter: TorchLikeAdapter, *tensors: Tensor) -> list[np.ndarray]:
    return [adapter.to_numpy(t) for t in tensors]


def first_slice_mask(source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> np.ndarray:
    """A 0/1 array of `target_shape`: 1 only at index 0 along every axis that broadcasting
    `source_shape` up to `target_shape` repeats. Multiplying the broadcast copies by it keeps
    the gradient of the first copy alone, as an engine that slices instead of summing would."""
    padded = (1,) * (len(target_shape) - len(source_shape)) + tuple(source_shape)
    mask = np.ones(target_shape)
    for axis, (src, dst) in enumerate(zip(padded, target_shape, strict=True)):
        if src == 1 and dst != 1:
            index = [slice(None)] * len(target_shape)
            index[axis] = slice(1, None)
            mask[tuple(index)] = 0.0
    return mask


def broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
