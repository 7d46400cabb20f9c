"""Bugs in refusals: an engine that accepts what PyTorch refuses, refuses what PyTorch accepts, or
refuses with an unrelated exception. Several are what real engines do (mygrad and Paddle seed
ones for a non-scalar backward and ignore backward on a constant; Paddle gives None for an input
that does not require grad when allow_unused is set)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from conformance.protocol import Tensor
from tests.mutants.base import Bug


def _shape(adapter: Bug, tensor: Tensor) -> tuple[int, ...]:
    return tuple(adapter.to_numpy(tensor).shape)


class ImplicitOnesForAnyShape(Bug):
    """Own design (mygrad, Paddle): backward() without a gradient seeds ones whatever the
    output's shape, where PyTorch refuses every output but a one-element one."""

    bug_class = "own: non-scalar backward seeded with ones"
    flagged_by = ("ERR-001",)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        if gradient is None and self.requires_grad(tensor):
            gradient = np.ones(_shape(self, tensor), dtype=self.dtype(tensor))
        super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)


class ImplicitGradientOnlyForZeroDim(Bug):
    """Own design: the implicit-gradient check tests `ndim == 0` instead of one element, so a
    (1,) or (1, 1) output is refused where PyTorch seeds it with one."""

    bug_class = "own: implicit gradient only for 0-d outputs"
    flagged_by = ("ERR-002",)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        if gradient is None and _shape(self, tensor) != ():
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)


class BackwardWithoutGradIsNoOp(Bug):
    """Own design (mygrad, Paddle): backward() on a tensor that does not require grad returns
    silently, where PyTorch refuses it."""

    bug_class = "own: backward from a constant does nothing"
    flagged_by = ("ERR-003",)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        if not self.requires_grad(tensor):
            return
        super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)


class GradientFittedToOutput(Bug):
    """Own design (mygrad broadcasts): a gradient of the wrong shape is broadcast to the
    output's shape, or reshaped to it when the sizes match, instead of refused."""

    bug_class = "own: wrong-shape gradient broadcast or reshaped"
    flagged_by = ("ERR-004",)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        if gradient is not None:
            shape = _shape(self, tensor)
            seed = np.asarray(gradient)
            if seed.shape != shape:
                try:
                    seed = np.broadcast_to(seed, shape).copy()
                except ValueError:
                    if seed.size == int(np.prod(shape)):
                        seed = seed.reshape(shape)
            gradient = seed
        super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)


class GradientDtypeRefused(Bug):
    """Own design: a gradient of another float dtype than the output's is refused, where
    PyTorch casts it to the output's dtype."""

    bug_class = "own: gradient of another dtype refused"
    flagged_by = ("ERR-005",)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        if gradient is not None and np.asarray(gradient).dtype.name != self.dtype(tensor):
            raise RuntimeError(
                f"expected a gradient of dtype {self.dtype(tensor)}, got "
                f"{np.asarray(gradient).dtype.name}"
            )
        super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)


class UnusedInputGivesNone(Bug):
    """Own design: autograd.grad behaves as if allow_unused were always set, returning None for
    an input the outputs do not reach where PyTorch refuses without allow_unused."""

    bug_class = "own: allow_unused always on"
    flagged_by = ("ERR-006",)

    def grad_of(self, outputs: Any, inputs: Any, grad_outputs: Any = None, **kw: Any) -> Any:
        return super().grad_of(outputs, inputs, grad_outputs, **{**kw, "allow_unused": True})


class UnusedInputGivesZeros(Bug):
    """Own design: with allow_unused, an unreached input gets zeros instead of None (the
    materialize_grads behaviour, unasked)."""

    bug_class = "own: allow_unused materializes zeros"
    flagged_by = ("ERR-007",)

    def grad_of(self, outputs: Any, inputs: Any, grad_outputs: Any = None, **kw: Any) -> Any:
        got = super().grad_of(outputs, inputs, grad_outputs, **kw)
        return [
            np.zeros_like(self.to_numpy(t)) if g is None else g
            for g, t in zip(got, inputs, strict=True)
        ]


class MaterializeGradsIgnored(Bug):
    """Own design: materialize_grads=True is dropped (taken as allow_unused), so an unreached
    input's gradient is None instead of zeros."""

    bug_class = "own: materialize_grads ignored"
    flagged_by = ("ERR-008",)

    def grad_of(self, outputs: Any, inputs: Any, grad_outputs: Any = None, **kw: Any) -> Any:
        if kw.pop("materialize_grads", False):
            kw["allow_unused"] = True
        return super().grad_of(outputs, inputs, grad_outputs, **kw)


class InputWithoutGradGivesNone(Bug):
    """Own design (Paddle does this with allow_unused): autograd.grad returns None for an input
    that does not require grad, where PyTorch refuses it."""

    bug_class = "own: input without grad answered with None"
    flagged_by = ("ERR-009",)

    def grad_of(self, outputs: Any, inputs: Any, grad_outputs: Any = None, **kw: Any) -> Any:
        wanted = [t for t in inputs if self.requires_grad(t)]
        got = iter(super().grad_of(outputs, wanted, grad_outputs, **kw) if wanted else ())
        return [next(got) if self.requires_grad(t) else None for t in inputs]


class LeafInplaceAllowed(Bug):
    """Own design (mygrad): an in-place op on a leaf that requires grad is carried out in grad
    mode too, where PyTorch refuses it outside no_grad."""

    bug_class = "own: in-place op on a leaf allowed in grad mode"
    flagged_by = ("ERR-010",)

    def inplace_add(self, tensor: Tensor, other: Tensor) -> Tensor:
        if self.is_leaf(tensor) and self.requires_grad(tensor):
            with self.m.no_grad():
                return super().inplace_add(tensor, other)
        return super().inplace_add(tensor, other)


class InplaceWritesUnversioned(Bug):
    """Own design: in-place adds on non-leaves write the storage behind the version counter's
    back (through `.data`), so a tensor saved for backward changes unnoticed and backward uses
    the new values, where PyTorch refuses."""

    bug_class = "own: in-place writes not counted"
    flagged_by = ("ERR-011",)

    def inplace_add(self, tensor: Tensor, other: Tensor) -> Tensor:
        if self.is_leaf(tensor):
            return super().inplace_add(tensor, other)
        tensor.data.add_(other)
        return tensor


class InplaceOnGraphTensorRefused(Bug):
    """Own design (engines with immutable graph tensors): any in-place op on a tensor that
    requires grad is refused in grad mode, even on a result nothing saved."""

    bug_class = "own: in-place ops on graph tensors refused"
    flagged_by = ("ERR-011", "ERR-012")

    def inplace_add(self, tensor: Tensor, other: Tensor) -> Tensor:
        if self.requires_grad(tensor) and self.m.is_grad_enabled():
            raise RuntimeError("in-place operations on tensors that require grad are not supported")
        return super().inplace_add(tensor, other)


@contextmanager
def _as_type_error() -> Iterator[None]:
    try:
        yield
    except RuntimeError as exc:
        raise TypeError(f"'NoneType' object is not subscriptable ({exc})") from exc


class RefusalsCrashWithTypeError(Bug):
    """Own design: where the engine should refuse, it crashes with an unrelated TypeError (a
    check that dereferences what is missing): creating or switching an integer tensor to require
    grad, a backward through freed values, and backward's argument checks. Any-exception checks
    took such a crash for the refusal."""

    bug_class = "own: refusal replaced by an unrelated TypeError"
    flagged_by = ("RG-003", "RG-004", "RETAIN-001", "ERR-001", "ERR-003", "ERR-004")

    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> Tensor:
        with _as_type_error():
            return super().tensor(array, requires_grad=requires_grad)

    def set_requires_grad(self, tensor: Tensor, flag: bool) -> Tensor:
        with _as_type_error():
            return super().set_requires_grad(tensor, flag)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        with _as_type_error():
            super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)
