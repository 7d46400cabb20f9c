"""nn.functional: linear (recorded as torch records it) and a fused, numerically stable
binary_cross_entropy_with_logits with its own backward node, whose formulas (torch's
binary_cross_entropy_with_logits_backward and its target twin) are written with the engine's
ops, so they can be differentiated again."""

from __future__ import annotations

import math

import numpy as np

from ..autograd import GradMode, Node, edge
from ..dtypes import Size, result_type
from ..matmul import addmm, matmul
from ..ops import _unary, add, div, mul, neg, relu, sigmoid, sub, sum_to, tanh, to
from ..shape_ops import reshape, t
from ..tensor import Grads, Tensor
from ..versions import record

__all__ = ["binary_cross_entropy_with_logits", "linear", "relu", "sigmoid", "tanh"]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """input @ weight.T + bias. With a bias torch folds any input to 2-D and uses addmm."""
    if bias is None:
        return matmul(input, t(weight))
    shape = input._data.shape
    if input._data.ndim == 2:
        return addmm(bias, input, t(weight))
    rows = reshape(input, (math.prod(shape[:-1]), shape[-1]))
    out = addmm(bias, rows, t(weight))
    return reshape(out, (*shape[:-1], weight._data.shape[0]))


REDUCTIONS = ("none", "mean", "sum")


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    # min(z, 0) - log1p(exp(-|z|)): exp never sees a positive argument. The same formula as
    # -np.logaddexp(0, -z), spelled out because NumPy's float32 logaddexp is ~40x slower.
    return np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z)))


class LogSigmoidBackward0(Node):
    __slots__ = ()

    def apply(self, g: Tensor) -> Grads:
        (z,) = self.saved  # type: ignore[misc]
        return (mul(g, sigmoid(neg(z))),)  # d/dz log sigmoid(z) = 1 - sigmoid(z) = sigmoid(-z)


def log_sigmoid(z: Tensor) -> Tensor:
    return _unary(z, _log_sigmoid(z._data), LogSigmoidBackward0, saves_input=True)


class BinaryCrossEntropyWithLogitsBackward0(Node):
    __slots__ = ("reduction", "dtypes")
    reduction: str
    dtypes: tuple[np.dtype, np.dtype]

    def apply(self, g: Tensor) -> Grads:
        input, target, weight, pos_weight = self.saved  # type: ignore[misc]  # noqa: A001
        ct = result_type(input._data, target._data)
        z, y = to(input, ct), to(target, ct)
        w = None if weight is None else to(weight, ct)
        pw = None if pos_weight is None else to(pos_weight, ct)
        if self.reduction == "mean":
            g = div(g, z._data.size)
        gz = gy = None
        if self.needs(0):
            s = sigmoid(z)
            if pw is None:
                gz = sub(s, y)
            else:  # (pw y + 1 - y) s - pw y
                pwy = mul(pw, y)
                gz = sub(mul(sub(add(pwy, 1), y), s), pwy)
            if w is not None:
                gz = mul(gz, w)
            gz = to(sum_to(mul(gz, g), z._data.shape), self.dtypes[0])
        if self.needs(1):
            # d/dy of (1-y)z - ((pw-1)y+1) logsigmoid(z) = -z - (pw-1) logsigmoid(z)
            gy = neg(z) if pw is None else sub(neg(z), mul(sub(pw, 1), log_sigmoid(z)))
            if w is not None:
                gy = mul(gy, w)
            gy = to(sum_to(mul(gy, g), y._data.shape), self.dtypes[1])
        return gz, gy


def binary_cross_entropy_with_logits(
    input: Tensor,  # noqa: A002
    target: Tensor,
    weight: Tensor | None = None,
    size_average: None = None,
    reduce: None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    z, y = input._data, target._data
    if z.shape != y.shape:
        raise ValueError(
            f"Target size ({Size(y.shape)!r}) must be the same as input size ({Size(z.shape)!r})"
        )
    for name, extra in (("weight", weight), ("pos_weight", pos_weight)):
        if extra is not None and extra._requires_grad and GradMode.enabled:
            raise RuntimeError(
                f"The function 'binary_cross_entropy_with_logits' is not differentiable with"
                f" respect to argument '{name}'. This input cannot have requires_grad True."
            )
    ct = result_type(z, y)
    zc, yc = z.astype(ct, copy=False), y.astype(ct, copy=False)
    w = None if weight is None else weight._data.astype(ct, copy=False)
    pw = None if pos_weight is None else pos_weight._data.astype(ct, copy=False)
    for arr in (w, pw):
        if arr is not None and np.broadcast_shapes(arr.shape, z.shape) != z.shape:
            raise RuntimeError(
                f"output with shape {list(z.shape)} doesn't match the broadcast shape"
                f" {list(np.broadcast_shapes(arr.shape, z.shape))}"
            )

    ls = _log_sigmoid(zc)
    loss = (1 - yc) * zc - (ls if pw is None else ((pw - 1) * yc + 1) * ls)
    if w is not None:
        loss = loss * w
    if reduction == "sum":
        loss = np.asarray(loss.sum())
    elif reduction == "mean":  # the mean of nothing is nan, silently, as in torch
        loss = np.asarray(loss.sum() / loss.size if loss.size else np.nan)
    loss = loss.astype(y.dtype, copy=False)  # torch's result takes the target's dtype

    if not (GradMode.enabled and (input._requires_grad or target._requires_grad)):
        return Tensor._wrap(loss)
    node = BinaryCrossEntropyWithLogitsBackward0(
        (edge(input), edge(target)), (input, target, weight, pos_weight)
    )
    node.reduction, node.dtypes = reduction, (z.dtype, y.dtype)
    record(node, (input, target, weight, pos_weight))  # torch saves all four
    return Tensor._result(loss, node)
