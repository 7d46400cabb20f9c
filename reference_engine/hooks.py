"""Tensor hooks: functions a tensor's gradient passes through during backward.

A hook on a non-leaf lives on its grad_fn, a hook on a leaf on its AccumulateGrad node, as in
PyTorch, where both are the node's "tensor pre-hooks". When a node's gradient is complete (summed
over every path), the engine passes it through the node's hooks in registration order, each
taking the previous one's result (None keeps it), then to retain_grad, then to the node
itself. A hook registered before an in-place op therefore stays with the value it was
registered on. Post-accumulate-grad hooks live on the AccumulateGrad node too and run after it
has written .grad, receiving the leaf.

The engine sees a hook as a function from gradient to gradient (`GradHook`, on Tensors);
`tensor_hook` adds the checks torch makes on what the user's function returns.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from .dtypes import short_name

GradHook = Callable[[Any], Any]
"""A gradient (a Tensor) in, the gradient to use out."""

NO_GRAD_MSG = "cannot register a hook on a tensor that doesn't require gradient"
NON_LEAF_POST_MSG = "post accumulate grad hooks cannot be registered on non-leaf tensors"
POST_RETURN_MSG = "Tensor post accumulate grad hooks should return None."

_ids = itertools.count()


class RemovableHandle:
    """What register_hook returns: `remove()` takes the hook out (again: no effect)."""

    def __init__(self, hooks: dict[int, Any]) -> None:
        self.hooks = hooks
        self.id = next(_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def add(hooks: dict[int, Any], hook: Any) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook  # dicts keep insertion order: hooks run in registration order
    return handle


def tensor_hook(hook: GradHook) -> GradHook:
    """The user's hook (tensor in, tensor or None out) as the engine calls it: None keeps the
    gradient; a result of another shape or dtype is refused."""
    name = getattr(hook, "__name__", repr(hook))

    def checked(grad: Any) -> Any:
        result = hook(grad)
        if result is None:
            return grad
        new, old = result._data, grad._data
        if new.shape != old.shape:
            raise RuntimeError(f"hook '{name}' has changed the size of value")
        if new.dtype != old.dtype:
            raise RuntimeError(
                f"hook '{name}' has changed the type of value (was"
                f" torch.{short_name(old.dtype)}Tensor got torch.{short_name(new.dtype)}Tensor)"
            )
        return result

    return checked


def run_tensor_hooks(hooks: dict[int, GradHook] | None, grad: Any) -> Any:
    if hooks:
        for hook in tuple(hooks.values()):  # a hook may remove itself
            grad = hook(grad)
    return grad


def run_post_accumulate_hooks(hooks: dict[int, Callable[[Any], Any]] | None, leaf: Any) -> None:
    if hooks:
        for hook in tuple(hooks.values()):
            if hook(leaf) is not None:
                raise RuntimeError(POST_RETURN_MSG)
