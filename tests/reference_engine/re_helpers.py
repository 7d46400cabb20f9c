"""Shared helpers: run one function under torch and under reference_engine, compare."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_conformance_reference as re

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")

FAST = settings.get_profile("reference_engine")
TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5}


def run(
    lib: Any,
    fn: Callable[..., Any],
    arrays: Sequence[np.ndarray],
    grad_out: np.ndarray | None = None,
    requires: Sequence[bool] | None = None,
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    requires = requires or [True] * len(arrays)
    ts = [lib.tensor(a.copy(), requires_grad=r) for a, r in zip(arrays, requires, strict=True)]
    out = fn(lib, *ts)
    g = np.ones(out.shape, dtype=arrays[0].dtype) if grad_out is None else grad_out
    out.backward(lib.tensor(g.astype(out.detach().numpy().dtype)))
    return out.detach().numpy(), [None if t.grad is None else t.grad.numpy() for t in ts]


def assert_same(
    fn: Callable[..., Any],
    arrays: Sequence[np.ndarray],
    seed: int = 0,
    requires: Sequence[bool] | None = None,
    tol: float | None = None,
) -> None:
    """Values, gradients, dtypes and shapes agree between torch and reference_engine."""
    with torch.no_grad():
        shape = tuple(fn(torch, *[torch.tensor(a) for a in arrays]).shape)
    dtype = arrays[0].dtype
    grad_out = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    t_out, t_grads = run(torch, fn, arrays, grad_out, requires)
    r_out, r_grads = run(re, fn, arrays, grad_out, requires)
    rtol = TOL[np.dtype(dtype)] if tol is None else tol
    assert r_out.dtype == t_out.dtype and r_out.shape == t_out.shape
    np.testing.assert_allclose(r_out, t_out, rtol=rtol, atol=rtol)
    for rg, tg in zip(r_grads, t_grads, strict=True):
        assert (rg is None) == (tg is None)
        if tg is not None:
            assert rg is not None and rg.dtype == tg.dtype and rg.shape == tg.shape
            np.testing.assert_allclose(rg, tg, rtol=rtol, atol=rtol)


def structure(t: Any, leaves: Sequence[Any]) -> Any:
    """grad_fn graph as nested (name, children); leaves as ('AccumulateGrad', index)."""

    def walk(node: Any) -> Any:
        if node is None:
            return None
        name = type(node).__name__
        if name == "AccumulateGrad":
            return (name, next(i for i, x in enumerate(leaves) if x is node.variable))
        return (name, tuple(walk(n) for n, _ in node.next_functions))

    return walk(t.grad_fn)


def arrays(
    shape: tuple[int, ...], dtype: Any = np.float64, lo: float = -3.0, hi: float = 3.0
) -> st.SearchStrategy[np.ndarray]:
    width = 32 if np.dtype(dtype) == np.float32 else 64
    lo, hi = (float(np.float32(lo)), float(np.float32(hi))) if width == 32 else (lo, hi)
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=width)
    return hnp.arrays(dtype, shape, elements=elements)


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
dtypes = st.sampled_from([np.float64, np.float32])
