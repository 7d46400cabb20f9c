"""The functional VJP of a tape engine, written once.

A tape adapter (PyTorch and the reference engine, mygrad, Paddle) gets `vjp` from `TapeVJP`:
fresh leaves (float inputs require grad), the function applied, the outputs that require grad
seeded with the cotangents in each output's dtype (an engine need not accept a wider seed), and
one pull-back to the leaves that require grad. Each engine supplies two hooks in its own terms:
`_tracks` (the engine's requires_grad, read directly: the VJP must not depend on an adapter's
tape-level methods, which the suites judge separately) and `_pull_back` (the engine's
`autograd.grad`, or what its users write where it has none).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from conformance.protocol import Tensor


class _Engine(Protocol):
    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> Tensor: ...

    def to_numpy(self, tensor: Tensor) -> np.ndarray: ...

    def dtype(self, tensor: Tensor) -> str: ...

    def _tracks(self, tensor: Tensor) -> bool: ...

    def _pull_back(
        self, outputs: Sequence[Tensor], leaves: Sequence[Tensor], seeds: Sequence[np.ndarray]
    ) -> Sequence[np.ndarray | None]: ...


class TapeVJP:
    """`vjp` for tape adapters; they define `_tracks(tensor)` and `_pull_back(outputs, leaves,
    seeds)`: the gradients of sum_k <outputs_k, seeds_k> w.r.t. `leaves` as host arrays (None
    for a leaf no output reaches), `.grad` untouched where the engine allows it."""

    def vjp(
        self: _Engine,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        leaves = [self.tensor(p, requires_grad=p.dtype.kind == "f") for p in primals]
        outputs = list(fn(leaves))
        values = [self.to_numpy(o) for o in outputs]
        seeded = [
            (o, np.asarray(c, dtype=self.dtype(o)))
            for o, c in zip(outputs, cotangents, strict=True)
            if self._tracks(o)
        ]
        wanted = [n for n, leaf in enumerate(leaves) if self._tracks(leaf)]
        grads: list[np.ndarray | None] = [None] * len(leaves)
        if not seeded or not wanted:
            return values, grads
        found = self._pull_back(
            [o for o, _ in seeded], [leaves[n] for n in wanted], [c for _, c in seeded]
        )
        for n, grad in zip(wanted, found, strict=True):
            grads[n] = grad
        return values, grads


class TensorHooks:
    """`register_hook` / `remove_hook` for engines whose tensors take a hook the PyTorch way
    (`tensor.register_hook(fn)` returning a handle with `remove()`: PyTorch, the reference
    engine, Paddle). The suites' hook works on host arrays; this converts on the way in and out."""

    def register_hook(
        self: _Engine, tensor: Tensor, hook: Callable[[np.ndarray], np.ndarray | None]
    ) -> Any:
        def on_tensors(grad: Tensor) -> Tensor | None:
            result = hook(self.to_numpy(grad))
            return None if result is None else self.tensor(np.asarray(result))

        return tensor.register_hook(on_tensors)

    def remove_hook(self, handle: Any) -> None:
        handle.remove()
