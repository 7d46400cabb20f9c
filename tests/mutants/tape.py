"""Bugs in tape semantics: leaves, requires_grad, grad mode.

Gradients are computed correctly by the wrapped engine; what is wrong is which tensors record,
which are leaves, and what the engine reports about them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from conformance.protocol import Tensor
from tests.mutants import tools
from tests.mutants.base import Bug
from tests.mutants.graph import graph_leaves


class IsLeafFromRequiresGrad(Bug):
    """Class 10 (`is_leaf` derived from the wrong field): `is_leaf = not requires_grad`, so a
    user-created tensor with requires_grad=True is reported as a non-leaf (pytorch PR#120349)."""

    bug_class = "10"
    flagged_by = ("LEAF-001",)

    def is_leaf(self, tensor: Tensor) -> bool:
        return not self.requires_grad(tensor)


class NoGradIgnored(Bug):
    """Own design (class 10's family): the engine's no-grad context does not switch recording
    off at all, so results computed in it require grad, have a `grad_fn` and are not leaves."""

    bug_class = "own: no-grad block records (class 10's family)"
    flagged_by = ("NOGRAD-001", "RG-005")

    def no_grad(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()


class EnableGradIgnored(Bug):
    """Own design: `enable_grad()` does not switch recording back on, so inside a `no_grad`
    block an `enable_grad` block still records nothing (PyTorch: it records)."""

    bug_class = "own: enable_grad nested in no_grad"
    flagged_by = ("RG-005",)

    def enable_grad(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()


class NoGradNotRestoredOnException(Bug):
    """Own design: the no-grad context restores the previous grad mode only on a normal exit;
    a block left by an exception leaves recording off for everything after it."""

    bug_class = "own: no_grad not restored after an exception"
    flagged_by = ("RG-006",)

    @contextlib.contextmanager
    def no_grad(self) -> Iterator[None]:
        previous = bool(self.m.is_grad_enabled())
        self.m.set_grad_enabled(False)
        yield  # the bug: no try/finally around the block
        self.m.set_grad_enabled(previous)


class RequiresGradFromFirstOperandOnly(Bug):
    """Own design: an op's result requires grad when its *first* operand does, instead of when
    any operand does; `noreq * req` records nothing and `req` gets no gradient through it."""

    bug_class = "own: requires_grad propagated from the first operand only"
    flagged_by = ("LEAF-002", "RG-005")

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        if len(args) > 1 and not bool(getattr(args[0], "requires_grad", False)):
            with self.m.no_grad():
                return super().apply(op, args, params)
        return super().apply(op, args, params)


class IntegerRequiresGradAccepted(Bug):
    """Own design: the dtype check is missing, so integer and bool tensors accept
    `requires_grad=True` (at creation and through `requires_grad_`) instead of raising."""

    bug_class = "own: integer tensors accept requires_grad"
    flagged_by = ("RG-003", "RG-004")

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._flagged: dict[int, Tensor] = {}

    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> Tensor:
        array = np.asarray(array)
        if array.dtype.kind == "f":
            return super().tensor(array, requires_grad=requires_grad)
        made = super().tensor(array)
        if requires_grad:
            self._flagged[id(made)] = made
        return made

    def set_requires_grad(self, tensor: Tensor, flag: bool) -> Tensor:
        if self.dtype(tensor).startswith("float"):
            return super().set_requires_grad(tensor, flag)
        if flag:
            self._flagged[id(tensor)] = tensor
        else:
            self._flagged.pop(id(tensor), None)
        return tensor

    def requires_grad(self, tensor: Tensor) -> bool:
        return self._flagged.get(id(tensor)) is tensor or super().requires_grad(tensor)


class NonLeafRequiresGradOffAccepted(Bug):
    """Own design: the leaf check in `requires_grad_` is missing, so `requires_grad_(False)` on
    an op result silently succeeds (and the result then reports requires_grad False) instead of
    raising "you can only change requires_grad flags of leaf variables"."""

    bug_class = "own: requires_grad_(False) accepted on a non-leaf"
    flagged_by = ("RG-002",)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._off: dict[int, Tensor] = {}

    def set_requires_grad(self, tensor: Tensor, flag: bool) -> Tensor:
        if super().is_leaf(tensor):
            return super().set_requires_grad(tensor, flag)
        if flag:
            self._off.pop(id(tensor), None)
        else:
            self._off[id(tensor)] = tensor
        return tensor

    def requires_grad(self, tensor: Tensor) -> bool:
        return self._off.get(id(tensor)) is not tensor and super().requires_grad(tensor)


class SwitchedOffLeafStillAccumulates(Bug):
    """Own design: the accumulate node does not check its leaf's requires_grad at backward
    time, so a leaf switched off after it was used still receives a gradient (PyTorch's
    AccumulateGrad returns early; the leaf's `.grad` stays None)."""

    bug_class = "own: accumulate ignores requires_grad switched off after use"
    flagged_by = ("RG-007",)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        switched_off = [leaf for leaf in graph_leaves(self, tensor) if not leaf.requires_grad]
        for leaf in switched_off:
            super().set_requires_grad(leaf, True)
        try:
            super().backward(tensor, gradient, retain_graph=retain_graph, inputs=inputs)
        finally:
            for leaf in switched_off:
                super().set_requires_grad(leaf, False)


class DetachIsIdentity(Bug):
    """Own design: `detach()` returns the tensor itself, so detaching an op result gives a
    non-leaf that still requires grad and keeps its `grad_fn`."""

    bug_class = "own: detach returns a non-leaf"
    flagged_by = ("LEAF-003",)

    def detach(self, tensor: Tensor) -> Tensor:
        return tensor


class RequiresGradFlagIgnored(Bug):
    """Own design: `requires_grad_(flag)` ignores its argument and always switches the flag on,
    so `requires_grad_(False)` on a leaf leaves it requiring grad."""

    bug_class = "own: requires_grad_ ignores its argument"
    flagged_by = ("RG-001",)

    def set_requires_grad(self, tensor: Tensor, flag: bool) -> Tensor:
        return super().set_requires_grad(tensor, True)


class GradFnAttachedUnderNoGrad(Bug):
    """Class 10 (a `grad_fn` attached under `no_grad`): inside a no-grad block results report
    requires_grad False, but the engine still records the op and attaches its `grad_fn`, so the
    result is not a leaf (pytorch PR#120349)."""

    bug_class = "10"
    flagged_by = ("NOGRAD-001",)

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._modes: list[bool] = []
        self._quiet: dict[int, Tensor] = {}

    @contextlib.contextmanager
    def _mode(self, enabled: bool) -> Iterator[None]:
        self._modes.append(enabled)
        try:
            yield
        finally:
            self._modes.pop()

    def no_grad(self) -> AbstractContextManager[Any]:
        return self._mode(False)

    def enable_grad(self) -> AbstractContextManager[Any]:
        return self._mode(True)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        result = super().apply(op, args, params)
        if self._modes and not self._modes[-1] and result.grad_fn is not None:
            self._quiet[id(result)] = result
        return result

    def requires_grad(self, tensor: Tensor) -> bool:
        return self._quiet.get(id(tensor)) is not tensor and super().requires_grad(tensor)


class NonDifferentiableOpRecorded(Bug):
    """Own design: the engine records every op, so a comparison (`gt`) of inputs that require
    grad gets a `grad_fn` (and is not a leaf) although its bool result does not require grad;
    PyTorch gives such a result no `grad_fn`."""

    bug_class = "own: grad_fn on a non-differentiable result"
    flagged_by = ("LEAF-002", "ROOT-001")

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._recorded: dict[int, tuple[Tensor, Any]] = {}

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        result = super().apply(op, args, params)
        if op == "gt" and tools.records(self, args):
            # The node the buggy engine records: one with edges to both operands.
            node = super().grad_fn(super().apply("sub", args, {}))
            self._recorded[id(result)] = (result, node)
        return result

    def grad_fn(self, tensor: Tensor) -> Any:
        entry = self._recorded.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else super().grad_fn(tensor)

    def is_leaf(self, tensor: Tensor) -> bool:
        return self.grad_fn(tensor) is None


class LazyRootGradFn(Bug):
    """Own design: the engine creates an op's backward node only when the result is consumed by
    another op (lazy recording), so a root that requires grad has no `grad_fn` (and reports
    itself a leaf) until then. Backward itself still works."""

    bug_class = "own: roots without grad_fn"
    flagged_by = ("ROOT-001", "LEAF-002")

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self._consumed: dict[int, Tensor] = {}

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        for arg in args:
            self._consumed[id(arg)] = arg
        return super().apply(op, args, params)

    def grad_fn(self, tensor: Tensor) -> Any:
        consumed = self._consumed.get(id(tensor)) is tensor
        return super().grad_fn(tensor) if consumed else None

    def is_leaf(self, tensor: Tensor) -> bool:
        return self.grad_fn(tensor) is None
