"""Bugs in the linear layer and in BCE-with-logits, the issue's worked example.

BCE bugs rebuild the loss from elementwise ops the way the buggy engines did, using

    loss = w * ((1 - y) * z + lw * softplus(-z)),   lw = (pos_weight - 1) * y + 1

(PyTorch's formula) with a different, wrong, way of computing `softplus(-z)` or the logistic.
Gradients with respect to the target, weight and pos_weight come out of the same composition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from conformance.protocol import Tensor
from tests.mutants import tools
from tests.mutants.base import Bug
from tests.mutants.gradients import OneOpBug


class LinearWeightGradTransposed(Bug):
    """Class 12 (linear backward, dW transposed): the weight gradient is computed as `x^T g`
    in the layout of `W^T` and stored into W's buffer unchanged, i.e. `dW.T.reshape(W.shape)`.
    With square weights that is exactly the transpose (llm.c PR#410); with non-square ones it
    is a permutation of the right entries. Applies to `linear`'s weight and to the right
    operand of a 2-D `matmul` (`x @ W`)."""

    bug_class = "12"
    flagged_by = ("BCE-001", "RAND-001")

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        correct = super().apply(op, args, params)
        if op not in ("linear", "matmul") or not tools.records(self, args):
            return correct
        weight = args[1]
        if len(weight.shape) != 2 or not weight.requires_grad:
            return correct
        rows, cols = (int(n) for n in weight.shape)
        # T(D) = D.reshape(cols, rows).T has W's shape; its adjoint sends g to g.T.reshape.
        scrambled = weight.detach() + tools.zero_carrier(weight).reshape(cols, rows).transpose(0, 1)
        surrogate = super().apply(op, [args[0], scrambled, *args[2:]], params)
        return tools.with_surrogate(correct, surrogate)


class BiasGradFromFirstRow(Bug):
    """Class 12 (linear backward, bias): the bias gradient is the first row of the incoming
    gradient instead of its sum over the batch (llm.c PR#410). Applies to `linear`'s bias and
    to a 1-D operand added to a batched one (`x @ W + b`)."""

    bug_class = "12"
    flagged_by = ("BCE-001", "BCE-002", "RAND-001")

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        correct = super().apply(op, args, params)
        if not tools.records(self, args) or len(correct.shape) < 2:
            return correct
        if op == "linear" and "bias" in params.get("optional", ()):
            bias = args[2]
            others = [args[0], args[1]]
            unbiased = super().apply("linear", others, {})
        elif op == "add" and sorted(len(a.shape) for a in args)[0] == 1:
            bias, other = (args[0], args[1]) if len(args[0].shape) == 1 else (args[1], args[0])
            unbiased = other
        else:
            return correct
        if not bias.requires_grad:
            return correct
        mask = tools.first_slice_mask(tuple(bias.shape), tuple(correct.shape))
        rows_bias = bias.detach() + tools.constant(self, mask, correct) * tools.zero_carrier(bias)
        return tools.with_surrogate(correct, unbiased + rows_bias)


class BceBug(OneOpBug):
    """A BCE-with-logits bug; `operands` unpacks the op's arguments."""

    op = "bce_with_logits"

    def operands(
        self, args: Sequence[Tensor], params: Mapping[str, Any]
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, str]:
        extra = dict(zip(params.get("optional", ()), args[2:], strict=True))
        reduction = params.get("reduction", "mean")
        return args[0], args[1], extra.get("weight"), extra.get("pos_weight"), reduction

    def composed(
        self,
        args: Sequence[Tensor],
        params: Mapping[str, Any],
        softplus_neg: Callable[[Tensor], Tensor],
    ) -> Tensor:
        z, y, weight, pos_weight, reduction = self.operands(args, params)
        lw: Any = 1.0 if pos_weight is None else (pos_weight - 1.0) * y + 1.0
        loss = (1.0 - y) * z + lw * softplus_neg(z)
        if weight is not None:
            loss = loss * weight
        return _reduce(loss, reduction)

    def relu_without_subgradient(self, u: Tensor) -> Tensor:
        """relu with derivative 0 at 0, whatever the engine's own convention."""
        (values,) = tools.values(self, u)
        return tools.with_local_grads(self, self.m.relu(u), [(u, (values > 0).astype(float))])

    def abs_with_sign_subgradient(self, u: Tensor) -> Tensor:
        """|u| with derivative sign(u), so 0 at 0, whatever the engine's own convention."""
        (values,) = tools.values(self, u)
        return tools.with_local_grads(self, self.m.abs(u), [(u, np.sign(values))])


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


class BceLogitZeroSubgradient(BceBug):
    """Class 3 (BCE subgradient at a logit of exactly 0): the stable form
    `max(z, 0) - z*y + log(1 + exp(-|z|))` differentiated with `max'(0) = 0` and
    `|.|'(0) = 0` gives `dL/dz = 1 - y` at z = 0 instead of `sigmoid(0) - y = 0.5 - y`
    (pytorch#2298, jax#2107). Loss values are unchanged."""

    bug_class = "3"
    flagged_by = ("BCE-005", "BCE-001", "BCE-003")

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        def softplus_neg(z: Tensor) -> Tensor:
            tail = self.m.log(1.0 + self.m.exp(-self.abs_with_sign_subgradient(z)))
            return self.relu_without_subgradient(-z) + tail

        return tools.with_surrogate(correct, self.composed(args, params, softplus_neg))


class BceStableFormSignError(BceBug):
    """Class 4 (sign error in the numerically stable BCE form): the log-sum-exp shift is taken
    as `m = max(z, 0)` instead of `max(-z, 0)`, so `softplus(-z) = m + log(exp(-m) + exp(-z-m))`
    is exact for moderate logits but overflows to inf (and its gradient to nan) at very
    negative ones, and collapses to -inf at very positive ones (pytorch PR#2221)."""

    bug_class = "4"
    flagged_by = ("BCE-004",)

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        def softplus_neg(z: Tensor) -> Tensor:
            shift = self.m.relu(z)
            return shift + self.m.log(self.m.exp(-shift) + self.m.exp(-z - shift))

        return self.composed(args, params, softplus_neg)


class BceClampedLogistic(BceBug):
    """Class 5 (unstable logistic at extreme logits): the loss is computed as
    `BCE(sigmoid(z), y)` with the probability clamped to `[1e-7, 1 - 1e-7]` (keras#9664), so
    for |z| beyond about 16 the loss saturates and the gradient is 0 instead of `sigmoid(z) - y`."""

    bug_class = "5"
    flagged_by = ("BCE-001", "BCE-003")
    epsilon = 1e-7

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        z, y, weight, pos_weight, reduction = self.operands(args, params)
        prob = self.m.sigmoid(z)
        (p,) = tools.values(self, prob)
        low, high = self.epsilon, 1.0 - self.epsilon
        inside = ((p > low) & (p < high)).astype(float)
        clipped = tools.constant(self, np.clip(p, low, high), prob)
        clamped = tools.with_local_grads(self, clipped, [(prob, inside)])
        positive = y * self.m.log(clamped)
        if pos_weight is not None:
            positive = positive * pos_weight
        loss = -(positive + (1.0 - y) * self.m.log(1.0 - clamped))
        if weight is not None:
            loss = loss * weight
        return _reduce(loss, reduction)


class BceMeanReductionIgnoredInBackward(BceBug):
    """Class 2 (`reduction=` ignored in backward): the backward of the 'mean' reduction is the
    'sum' one, so gradients are N times too large while the loss is right (pytorch#28993)."""

    bug_class = "2"
    flagged_by = ("BCE-001", "BCE-002", "BCE-003")

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        if params.get("reduction", "mean") != "mean":
            return correct
        summed = self.plain(self.op, args, {**params, "reduction": "sum"})
        return tools.with_surrogate(correct, summed)


class BcePosWeightIgnoredInBackward(BceBug):
    """Own design: the backward ignores `pos_weight` (`dL/dz = w * (sigmoid(z) - y)` instead of
    `w * ((pw*y + 1 - y) * sigmoid(z) - pw*y)`), while the loss uses it."""

    bug_class = "own: pos_weight ignored in BCE backward"
    flagged_by = ("BCE-001", "BCE-003")

    def mutated(self, correct: Tensor, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        names = list(params.get("optional", ()))
        if "pos_weight" not in names:
            return correct
        keep = [i for i, name in enumerate(names) if name != "pos_weight"]
        plain = self.plain(
            self.op,
            [args[0], args[1], *(args[2 + i] for i in keep)],
            {**params, "optional": tuple(names[i] for i in keep)},
        )
        return tools.with_surrogate(correct, plain)


class BceMeanOverBatchOnly(Bug):
    """Class 2's family, in the forward: the 'mean' reduction divides the summed loss by the
    batch size (the first dim) instead of the number of elements, so a 2-D loss with more than
    one column is too large, and so, consistently, is its gradient."""

    bug_class = "own: BCE mean divides by the batch size"
    flagged_by = ("FWD-001", "BCE-001")

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        # A forward bug: it applies whether or not the op records a backward node.
        mean = params.get("reduction", "mean") == "mean"
        if op != "bce_with_logits" or not mean or len(args[0].shape) < 2:
            return super().apply(op, args, params)
        summed = super().apply(op, args, {**params, "reduction": "sum"})
        return summed / float(args[0].shape[0])
