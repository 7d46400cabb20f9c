"""float16 in the reference engine against torch: every op's result dtype and its gradients'
dtypes, mixed-dtype promotion (dimensioned beats 0-d, Python scalars weakly typed) with each
gradient in its own operand's dtype, and .grad's dtype, with the values of float16 gradients
within a few float16 ulps of torch's (both accumulate in float32 and round once).

bfloat16 is left out: NumPy has none, and the reference engine declares it absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from re_helpers import FAST

import autograd_conformance_reference as re

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")

EPS16 = float(np.finfo(np.float16).eps)

UNARY: dict[str, Callable[[Any, Any], Any]] = {
    "sum": lambda lib, x: x.sum(),
    "sum_dim": lambda lib, x: x.sum(dim=1, keepdim=True),
    "mean": lambda lib, x: x.mean(),
    "neg": lambda lib, x: -x,
    "pow": lambda lib, x: x.pow(1.5),
    "pow_int": lambda lib, x: x**2,
    "exp": lambda lib, x: x.exp(),
    "log": lambda lib, x: x.log(),
    "sigmoid": lambda lib, x: x.sigmoid(),
    "tanh": lambda lib, x: x.tanh(),
    "sin": lambda lib, x: x.sin(),
    "relu": lambda lib, x: x.relu(),
    "abs": lambda lib, x: x.abs(),
    "transpose": lambda lib, x: x.transpose(0, 1),
    "reshape": lambda lib, x: x.reshape(6),
    "expand": lambda lib, x: x[:, :1].expand(2, 4),
    "index": lambda lib, x: x[lib.tensor([0, 0, 1])],
    "scalar_mul": lambda lib, x: x * 2.5,
    "scalar_add": lambda lib, x: 1 + x,
    "matmul": lambda lib, x: x @ x.transpose(0, 1),
    "bce": lambda lib, x: lib.nn.functional.binary_cross_entropy_with_logits(x, x.detach().abs()),
}


def _values(seed: int, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.3, 2.0, size=shape).astype(dtype)


def _run(lib: Any, fn: Callable[[Any, Any], Any], x: np.ndarray) -> tuple[Any, Any]:
    t = lib.tensor(x.copy(), requires_grad=True)
    out = fn(lib, t)
    out.backward(lib.ones_like(out))
    return out, t


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(seed=st.integers(0, 2**16))
def test_float16_op_result_and_grad_dtypes_match_torch(name: str, seed: int) -> None:
    x = _values(seed, (2, 3), "float16")
    t_out, t_x = _run(torch, UNARY[name], x)
    r_out, r_x = _run(re, UNARY[name], x)
    assert str(r_out.dtype).rsplit(".", 1)[-1] == str(t_out.dtype).rsplit(".", 1)[-1] == "float16"
    assert r_x.grad.dtype.name == "float16" and t_x.grad.dtype == torch.float16
    want = t_x.grad.numpy().astype(np.float64)
    got = r_x.grad.numpy().astype(np.float64)
    scale = max(1.0, float(np.max(np.abs(want))))
    assert np.all(np.abs(got - want) <= 4 * EPS16 * (np.abs(want) + scale)), (got, want)


PAIRS = [
    ("float32", "float64", (2, 3), (3,)),
    ("float16", "float32", (2, 3), (2, 3)),
    ("float16", "float64", (2, 3), ()),
    ("float64", "float16", (), (3,)),
    ("float32", "float64", (), ()),
    ("float16", "float32", (1, 3), (2, 1)),
]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize(("a_dtype", "b_dtype", "a_shape", "b_shape"), PAIRS)
def test_mixed_dtypes_promote_like_torch(
    op: str, a_dtype: str, b_dtype: str, a_shape: tuple[int, ...], b_shape: tuple[int, ...]
) -> None:
    a, b = _values(1, a_shape, a_dtype), _values(2, b_shape, b_dtype)
    found = []
    for lib in (torch, re):
        ta = lib.tensor(a.copy(), requires_grad=True)
        tb = lib.tensor(b.copy(), requires_grad=True)
        y = getattr(lib, op)(ta, tb)
        y.backward(lib.ones_like(y))
        found.append(
            [str(t.dtype).rsplit(".", 1)[-1] for t in (y, ta.grad, tb.grad)]
            + [ta.grad.numpy().astype(np.float64), tb.grad.numpy().astype(np.float64)]
        )
    (t_dtypes, t_grads), (r_dtypes, r_grads) = [(f[:3], f[3:]) for f in found]
    assert r_dtypes == t_dtypes
    assert t_dtypes[1:] == [a_dtype, b_dtype]
    tol = 8 * EPS16 if "float16" in (a_dtype, b_dtype) else 1e-5
    for got, want in zip(r_grads, t_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_python_scalars_are_weakly_typed_like_torch(dtype: str, scalar: Any) -> None:
    x = _values(3, (3,), dtype)
    got = [str((lib.tensor(x) * scalar).dtype).rsplit(".", 1)[-1] for lib in (torch, re)]
    assert got == [dtype, dtype]


def test_float32_seed_for_a_float16_root_is_cast_like_torch() -> None:
    x = _values(4, (3,), "float16")
    found = []
    for lib in (torch, re):
        t = lib.tensor(x.copy(), requires_grad=True)
        (t * 3).backward(lib.tensor(np.ones(3, np.float32)))
        found.append(str(t.grad.dtype).rsplit(".", 1)[-1])
    assert found == ["float16", "float16"]
