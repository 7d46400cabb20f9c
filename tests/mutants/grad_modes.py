"""Bugs in grad modes: blocks that restore the wrong mode, a set_grad_enabled that only works as
a block, decorators that leak their mode, a grad mode shared by all threads, an inference mode
that is only no_grad, and inference tensors saved for backward without a word.

Each bug wraps the reference engine's own objects (or PyTorch's), so everything but the bug
behaves as the engine does.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from conformance.protocol import Tensor
from tests.mutants.base import Bug


class NoGradRestoresTrue(Bug):
    """Own design: leaving a no_grad block switches grad mode on, instead of back to the mode
    found on entry, so a no_grad nested in another (or in set_grad_enabled(False)) ends with
    recording on while the outer block is still open."""

    bug_class = "own: no_grad exit sets grad mode on"
    flagged_by = ("MODE-001",)

    def grad_mode(self, name: str, *args: Any) -> Any:
        if name != "no_grad":
            return super().grad_mode(name, *args)
        return _restoring_true(self.m)


@contextlib.contextmanager
def _restoring_true(m: Any) -> Iterator[None]:
    m.set_grad_enabled(False)
    try:
        yield
    finally:
        m.set_grad_enabled(True)


class SetGradEnabledOnlyAsBlock(Bug):
    """Own design: `set_grad_enabled(flag)` is a generator context manager, so it switches the
    mode on `__enter__` only and a plain call `set_grad_enabled(False)` does nothing."""

    bug_class = "own: set_grad_enabled works only as a block"
    flagged_by = ("MODE-002",)

    def grad_mode(self, name: str, *args: Any) -> Any:
        if name != "set_grad_enabled":
            return super().grad_mode(name, *args)
        return _switch_on_enter(self.m, bool(args[0]))


@contextlib.contextmanager
def _switch_on_enter(m: Any, flag: bool) -> Iterator[None]:
    previous = bool(m.is_grad_enabled())
    m.set_grad_enabled(flag)
    try:
        yield
    finally:
        m.set_grad_enabled(previous)


class SetGradEnabledDecoratorSwitchesEarly(Bug):
    """Modelled on Paddle 3.3's `set_grad_enabled` (observed): used as a decorator it keeps the
    mode its construction switched to, so decorating with set_grad_enabled(False) turns grad
    mode off for the caller until the decorated function is first called and returns."""

    bug_class = "own: decorating with set_grad_enabled switches the mode (Paddle 3.3)"
    flagged_by = ("MODE-003",)

    def grad_mode(self, name: str, *args: Any) -> Any:
        if name != "set_grad_enabled":
            return super().grad_mode(name, *args)
        return _EarlySwitch(self.m, bool(args[0]))


class _EarlySwitch:
    def __init__(self, m: Any, flag: bool) -> None:
        self.m, self.previous = m, bool(m.is_grad_enabled())
        m.set_grad_enabled(flag)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        self.m.set_grad_enabled(self.previous)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def in_mode(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self.m.set_grad_enabled(self.previous)

        return in_mode


class GradModeSharedByThreads(Bug):
    """Own design (mygrad 2.5's `no_autodiff` is one such global flag, observed): the no-grad
    block sets a process-wide flag, so a thread started inside it, or running beside it,
    records nothing either."""

    bug_class = "own: grad mode global to the process"
    flagged_by = ("MODE-004",)
    _recording = [True]

    def no_grad(self) -> AbstractContextManager[Any]:
        return _global_off(self._recording)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        if self._recording[0]:
            return super().apply(op, args, params)
        with self.m.no_grad():
            return super().apply(op, args, params)


@contextlib.contextmanager
def _global_off(flag: list[bool]) -> Iterator[None]:
    previous, flag[0] = flag[0], False
    try:
        yield
    finally:
        flag[0] = previous


class InferenceModeIsNoGrad(Bug):
    """Own design: inference_mode(flag) is set_grad_enabled(not flag) under another name: its
    results are ordinary tensors, and an enable_grad block inside it records again."""

    bug_class = "own: inference_mode is only no_grad"
    flagged_by = ("MODE-005", "MODE-007")

    def grad_mode(self, name: str, *args: Any) -> Any:
        if name != "inference_mode":
            return super().grad_mode(name, *args)
        flag = bool(args[0]) if args else True
        return self.m.set_grad_enabled(not flag) if flag else _switch_on_enter(self.m, True)


class InferenceDecoratorLeaksOnRaise(Bug):
    """Own design: the inference_mode decorator enters and leaves the block around the call
    without try/finally, so a decorated function that raises leaves inference mode on (or off)
    for its caller."""

    bug_class = "own: inference_mode decorator not restored after an exception"
    flagged_by = ("MODE-006",)

    def grad_mode(self, name: str, *args: Any) -> Any:
        block = super().grad_mode(name, *args)
        if name != "inference_mode":
            return block
        return _LeakyDecorator(block)


class _LeakyDecorator:
    def __init__(self, block: Any) -> None:
        self.block = block

    def __enter__(self) -> None:
        self.block.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.block.__exit__(*exc)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def in_mode(*args: Any, **kwargs: Any) -> Any:
            block = type(self.block)(self.block.mode)
            block.__enter__()
            result = fn(*args, **kwargs)  # the bug: no try/finally
            block.__exit__(None, None, None)
            return result

        return in_mode


class InferenceTensorSavedSilently(Bug):
    """Own design: an op outside inference mode that needs an inference tensor for its backward
    quietly uses a normal copy of it instead of refusing."""

    bug_class = "own: inference tensors saved for backward"
    flagged_by = ("MODE-008",)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        args = [self._normal_copy(a) for a in args]
        return super().apply(op, args, params)

    def _normal_copy(self, tensor: Tensor) -> Tensor:
        if not hasattr(tensor, "is_inference") or not self.is_inference(tensor):
            return tensor
        return self.tensor(self.to_numpy(tensor), requires_grad=bool(tensor.requires_grad))
