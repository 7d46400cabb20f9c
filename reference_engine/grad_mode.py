"""Grad mode and inference mode: per-thread flags, and the four ways of setting them.

`no_grad`, `enable_grad`, `set_grad_enabled(mode)` and `inference_mode(mode)` are each a context
manager and a function decorator, as in torch, and each restores the modes it found when its
block ends, also by an exception. The modes belong to a thread: every new thread starts with grad
mode on and inference mode off whatever its parent is doing (torch keeps them thread-local).

Ops read one flag, `GradMode.enabled`: whether to record. It is grad mode *and not* inference
mode, because inside `inference_mode()` nothing records even where `enable_grad()` switches grad
mode back on (`is_grad_enabled()` then says True).

Results made in inference mode are inference tensors: their array is an `InferenceArray`, an
ndarray subclass that marks the data without a flag on every tensor. NumPy functions and ufuncs
on it return plain arrays, so only what an op stores as its result carries the mark; a recorded
op that saves one for backward is refused (`refuse_saved_inference`), as torch refuses it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

INFERENCE_SAVED_MSG = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in"
    " inference mode in computation tracked by autograd. To work around this, you can make a"
    " clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` instead of"
    " `torch.inference_mode()`."
)


class _ThreadModes(threading.local):
    """The current thread's modes. The class attributes are what a new thread starts with."""

    grad: bool = True
    """Grad mode, as `is_grad_enabled()` reports it."""
    inference: bool = False
    enabled: bool = True
    """Whether ops record: grad mode on and inference mode off. The one flag ops read."""


GradMode = _ThreadModes()


def _switch(grad: bool, inference: bool) -> None:
    GradMode.grad = grad
    GradMode.inference = inference
    GradMode.enabled = grad and not inference


def is_grad_enabled() -> bool:
    return GradMode.grad


def is_inference_mode_enabled() -> bool:
    return GradMode.inference


class _ModeBlock:
    """A block that switches the modes on entry and puts back the ones it found on exit.

    Calling an instance on a function decorates it: each call runs in a fresh block of the same
    mode (as torch's `_DecoratorContextManager`), so recursion and threads cannot mix up the
    modes each call must restore."""

    _saved: tuple[bool, bool]
    restores_inference = False
    """Grad-mode blocks put back grad mode only; an inference-mode block puts back both."""

    def _enter_modes(self) -> None:
        raise NotImplementedError

    def _fresh(self) -> _ModeBlock:
        return type(self)()

    def __enter__(self) -> None:
        self._saved = (GradMode.grad, GradMode.inference)
        self._enter_modes()

    def __exit__(self, *exc: object) -> None:
        grad, inference = self._saved
        _switch(grad, inference if self.restores_inference else GradMode.inference)

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def in_mode(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return in_mode  # type: ignore[return-value]


class _NoArgumentBlock(_ModeBlock):
    """`@no_grad` without parentheses decorates too, as torch allows since 2.0."""

    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoArgumentBlock):  # noqa: N801
    def _enter_modes(self) -> None:
        _switch(False, GradMode.inference)


class enable_grad(_NoArgumentBlock):  # noqa: N801
    def _enter_modes(self) -> None:
        _switch(True, GradMode.inference)


class set_grad_enabled(_ModeBlock):  # noqa: N801
    """Switches grad mode when constructed, so `set_grad_enabled(False)` works as a plain call;
    as a block it restores, on exit, the grad mode it found when constructed."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._saved = (GradMode.grad, GradMode.inference)
        _switch(self.mode, GradMode.inference)

    def __enter__(self) -> None:
        pass

    def _fresh(self) -> _ModeBlock:
        return set_grad_enabled(self.mode)

    def __call__(self, fn: F) -> F:
        # Used as a decorator the construction must not have switched anything: torch puts the
        # mode back here, and the decorated function switches it at each call instead.
        _switch(self._saved[0], GradMode.inference)
        return super().__call__(fn)


class inference_mode(_ModeBlock):  # noqa: N801
    """`inference_mode(True)` turns grad mode off and inference mode on; `inference_mode(False)`
    turns inference mode off and grad mode *on*, even inside no_grad (torch's InferenceMode
    guard sets grad mode to the opposite of the inference flag). `@inference_mode` without
    parentheses decorates too."""

    restores_inference = True

    def __new__(cls, mode: bool | Callable[..., Any] = True) -> Any:
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def _fresh(self) -> _ModeBlock:
        return inference_mode(self.mode)

    def _enter_modes(self) -> None:
        _switch(not self.mode, self.mode)


# --- inference tensors -----------------------------------------------------------------------
class InferenceArray(np.ndarray):
    """The data of an inference tensor. Ufuncs and NumPy functions give plain arrays, so the
    mark stays on the data the tensor holds (and on its reshapes, slices and astype copies,
    which torch's inference tensors also pass on) and never spreads to an op's result."""

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if "out" in kwargs:
            kwargs["out"] = _plain(kwargs["out"])
        return getattr(ufunc, method)(*_plain(inputs), **kwargs)

    def __array_function__(
        self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any
    ) -> Any:
        return func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()})


def _plain(x: Any) -> Any:
    if isinstance(x, InferenceArray):
        return x.view(np.ndarray)
    if isinstance(x, list | tuple):
        return type(x)(_plain(item) for item in x)
    return x


def mark_if_inference(data: np.ndarray) -> np.ndarray:
    """What a new tensor holds: in inference mode, its data marked as an inference tensor's."""
    if GradMode.inference:
        return np.asarray(data).view(InferenceArray)
    return data


def is_inference(data: np.ndarray) -> bool:
    return isinstance(data, InferenceArray)


def refuse_saved_inference(saved: tuple[Any, ...]) -> None:
    """Raise, as torch does at the op, when a recorded op saves an inference tensor."""
    for value in saved:
        if type(getattr(value, "_data", value)) is InferenceArray:
            raise RuntimeError(INFERENCE_SAVED_MSG)
