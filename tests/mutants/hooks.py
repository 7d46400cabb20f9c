"""Bugs in gradient hooks: what a hook receives, what its result changes, order, removal,
retain_grad after hooks, refusals, and post-accumulate-grad hooks.

The wrapped engine's hooks are right; each mutant changes how the adapter hands hooks to it, as
an engine with that bug would behave.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.protocol import Tensor
from tests.mutants.base import Bug

ArrayHook = Callable[[np.ndarray], np.ndarray | None]


def _result_dropped(hook: ArrayHook) -> ArrayHook:
    def run(g: np.ndarray) -> None:
        hook(g)

    return run


class _Inert:
    """A handle for a hook the engine accepted but will never call."""

    def remove(self) -> None:
        pass


class HookRunTwice(Bug):
    """Own design: every hook runs twice per backward (as an engine that calls a tensor's hooks
    once per use, not once on the summed gradient, does for a tensor used twice)."""

    bug_class = "own: hook called more than once per backward"
    flagged_by = ("HOOK-001",)

    def register_hook(self, tensor: Tensor, hook: ArrayHook) -> Any:
        super().register_hook(tensor, hook)
        return super().register_hook(tensor, hook)


class LeafHookResultIgnored(Bug):
    """Own design: a hook on a leaf runs, but what it returns is dropped: .grad accumulates the
    original gradient."""

    bug_class = "own: leaf hook result ignored"
    flagged_by = ("HOOK-002",)

    def register_hook(self, tensor: Tensor, hook: ArrayHook) -> Any:
        if not self.is_leaf(tensor):
            return super().register_hook(tensor, hook)
        return super().register_hook(tensor, _result_dropped(hook))


class NonLeafHookResultIgnored(Bug):
    """Own design: a hook on a non-leaf runs, but the original gradient flows on to its inputs."""

    bug_class = "own: non-leaf hook result ignored"
    flagged_by = ("HOOK-003", "HOOK-010")

    def register_hook(self, tensor: Tensor, hook: ArrayHook) -> Any:
        if self.is_leaf(tensor):
            return super().register_hook(tensor, hook)
        return super().register_hook(tensor, _result_dropped(hook))


class HooksRunNewestFirst(Bug):
    """Own design: a tensor's hooks run newest first (a stack instead of a queue), each still
    receiving the previous one's result."""

    bug_class = "own: hooks run in reverse registration order"
    flagged_by = ("HOOK-004",)

    def register_hook(self, tensor: Tensor, hook: ArrayHook) -> Any:
        chains: dict[int, tuple[Tensor, list[ArrayHook]]] = self.__dict__.setdefault("chains", {})
        if id(tensor) not in chains:
            chain: list[ArrayHook] = []
            chains[id(tensor)] = (tensor, chain)  # the tensor is kept so its id stays its own

            def newest_first(g: np.ndarray) -> np.ndarray:
                for h in reversed(chain):
                    result = h(g)
                    g = g if result is None else result
                return g

            super().register_hook(tensor, newest_first)
        chain = chains[id(tensor)][1]
        chain.append(hook)
        return (chain, hook)

    def remove_hook(self, handle: Any) -> None:
        if isinstance(handle, tuple):
            chain, hook = handle
            if hook in chain:
                chain.remove(hook)
        else:
            super().remove_hook(handle)


class HookRemoveIgnored(Bug):
    """Own design: removing a hook through its handle does nothing, so a removed hook keeps
    running (and changing the gradient) in every later backward."""

    bug_class = "own: hook handle remove() ignored"
    flagged_by = ("HOOK-005",)

    def remove_hook(self, handle: Any) -> None:
        pass


class RetainGradBeforeLaterHooks(Bug):
    """Own design: retain_grad() is an ordinary hook taking its place in the queue, so a
    non-leaf's .grad misses the hooks registered after retain_grad() (PyTorch runs it last)."""

    bug_class = "own: retain_grad sees the gradient before later hooks"
    flagged_by = ("HOOK-006",)

    def retain_grad(self, tensor: Tensor) -> None:
        if self.is_leaf(tensor):
            return super().retain_grad(tensor)
        kept: dict[int, list[Any]] = self.__dict__.setdefault("kept", {})
        entry: list[Any] = [tensor, None]
        kept[id(tensor)] = entry

        def keep(g: np.ndarray) -> None:
            entry[1] = np.array(g, copy=True) if entry[1] is None else entry[1] + g

        super().register_hook(tensor, keep)

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        entry = self.__dict__.get("kept", {}).get(id(tensor))
        if entry is not None and entry[0] is tensor:
            return entry[1]
        return super().grad(tensor)


class PostHookBeforeAccumulation(Bug):
    """Own design: post-accumulate-grad hooks run as ordinary hooks, before .grad is written."""

    bug_class = "own: post-accumulate-grad hook runs before accumulation"
    flagged_by = ("HOOK-008",)

    def register_post_accumulate_grad_hook(
        self, tensor: Tensor, hook: Callable[[Tensor], None]
    ) -> Any:
        if not self.is_leaf(tensor):
            return super().register_post_accumulate_grad_hook(tensor, hook)
        return super().register_hook(tensor, lambda g: hook(tensor))


class HookRefusalsSwallowed(Bug):
    """Own design: hooks the engine must refuse (on a tensor that does not require grad, a
    post-accumulate hook on a non-leaf) are accepted silently and never called."""

    bug_class = "own: hook registration never refused"
    flagged_by = ("HOOK-007", "HOOK-009")

    def register_hook(self, tensor: Tensor, hook: ArrayHook) -> Any:
        if not self.requires_grad(tensor):
            return _Inert()
        return super().register_hook(tensor, hook)

    def register_post_accumulate_grad_hook(
        self, tensor: Tensor, hook: Callable[[Tensor], None]
    ) -> Any:
        if not (self.requires_grad(tensor) and self.is_leaf(tensor)):
            return _Inert()
        return super().register_post_accumulate_grad_hook(tensor, hook)


class HookRefusalAsTypeError(Bug):
    """Own design: a refused register_hook raises an unrelated TypeError instead of the
    exception class the adapter declares (the kind of crash "any exception" checks miss)."""

    bug_class = "own: hook refusal of the wrong class"
    flagged_by = ("HOOK-007",)

    def register_hook(self, tensor: Tensor, hook: ArrayHook) -> Any:
        if not self.requires_grad(tensor):
            raise TypeError("'NoneType' object is not callable")
        return super().register_hook(tensor, hook)
