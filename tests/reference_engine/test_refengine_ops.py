"""Differential tests: every op's value and gradient against torch CPU, on hypothesis-drawn
shapes (0-d, size-1 and broadcast pairs included), float64 to 1e-12 and float32 dtype-aware."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from re_helpers import FAST, arrays, assert_same, dtypes, pair_shapes, shapes

import autograd_conformance_reference as re

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")

BINARY = {
    "add": lambda lib, a, b: a + b,
    "sub": lambda lib, a, b: a - b,
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / b,
    "fn_add": lambda lib, a, b: lib.add(a, b),
    "fn_sub": lambda lib, a, b: lib.sub(a, b),
    "fn_mul": lambda lib, a, b: lib.mul(a, b),
    "fn_div": lambda lib, a, b: lib.div(a, b),
    "pow_tensor": lambda lib, a, b: a.abs() ** b,
    "diamond": lambda lib, a, b: (a * b + a) * (b - a),
}

UNARY: dict[str, tuple[Any, float, float]] = {
    "neg": (lambda lib, a: -a, -3, 3),
    "fn_neg": (lambda lib, a: lib.neg(a), -3, 3),
    "exp": (lambda lib, a: a.exp(), -3, 3),
    "log": (lambda lib, a: a.log(), 0.1, 5),
    "sigmoid": (lambda lib, a: a.sigmoid(), -8, 8),
    "tanh": (lambda lib, a: a.tanh(), -3, 3),
    "relu": (lambda lib, a: a.relu(), -3, 3),
    "abs": (lambda lib, a: a.abs(), -3, 3),
    "fn_exp": (lambda lib, a: lib.exp(a), -3, 3),
    "fn_log": (lambda lib, a: lib.log(a), 0.1, 5),
    "fn_sigmoid": (lambda lib, a: lib.sigmoid(a), -8, 8),
    "fn_tanh": (lambda lib, a: lib.tanh(a), -3, 3),
    "fn_relu": (lambda lib, a: lib.relu(a), -3, 3),
    "fn_abs": (lambda lib, a: lib.abs(a), -3, 3),
    "square": (lambda lib, a: a**2, -3, 3),
    "cube": (lambda lib, a: a.pow(3), -3, 3),
    "sqrt": (lambda lib, a: a**0.5, 0.1, 4),
    "inverse": (lambda lib, a: a**-1, 0.5, 4),
    "pow0": (lambda lib, a: a**0, -3, 3),
    "fn_pow": (lambda lib, a: lib.pow(a, 2.5), 0.1, 3),
    "radd": (lambda lib, a: 2.5 + a, -3, 3),
    "rsub": (lambda lib, a: 1 - a, -3, 3),
    "rmul": (lambda lib, a: 3 * a, -3, 3),
    "rdiv": (lambda lib, a: 2 / a, 0.5, 3),
    "scalar_div": (lambda lib, a: a / 4, -3, 3),
    "rpow": (lambda lib, a: 2.0**a, -3, 3),
    "sum": (lambda lib, a: a.sum(), -3, 3),
    "mean": (lambda lib, a: a.mean(), -3, 3),
    "fn_sum": (lambda lib, a: lib.sum(a), -3, 3),
    "fn_mean": (lambda lib, a: lib.mean(a), -3, 3),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(data=st.data(), dtype=dtypes)
def test_binary_ops_match_torch(name: str, data: st.DataObject, dtype: Any) -> None:
    sa, sb = data.draw(pair_shapes).input_shapes
    a = data.draw(arrays(sa, dtype, 0.5, 3) if name == "pow_tensor" else arrays(sa, dtype))
    lo = 0.5 if name in ("div", "fn_div") else -2
    b = data.draw(arrays(sb, dtype, lo, 2))
    assert_same(BINARY[name], [a, b])


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(data=st.data(), dtype=dtypes)
def test_unary_ops_match_torch(name: str, data: st.DataObject, dtype: Any) -> None:
    fn, lo, hi = UNARY[name]
    a = data.draw(arrays(data.draw(shapes), dtype, lo, hi))
    assert_same(fn, [a])


@FAST
@given(data=st.data(), dtype=dtypes, keepdim=st.booleans(), mean=st.booleans())
def test_reductions_over_dims_match_torch(
    data: st.DataObject, dtype: Any, keepdim: bool, mean: bool
) -> None:
    shape = data.draw(shapes.filter(lambda s: len(s) >= 1))
    nd = len(shape)
    dims = data.draw(
        st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd, unique_by=lambda d: d % nd)
    )
    dim: int | tuple[int, ...] = dims[0] if len(dims) == 1 else tuple(dims)
    a = data.draw(arrays(shape, dtype))
    if mean:
        assert_same(lambda lib, x: x.mean(dim, keepdim=keepdim), [a])
    else:
        assert_same(lambda lib, x: lib.sum(x, dim=dim, keepdim=keepdim), [a])


MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((2, 2, 3), (3, 4)),
    ((2, 2, 3), (3,)),
    ((3,), (2, 3, 4)),
    ((2, 3), (5, 3, 4)),
    ((2, 2, 3), (2, 3, 4)),
    ((2, 1, 2, 3), (5, 3, 2)),
    ((1, 2, 3), (4, 3, 2)),
]


@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("which", ["operator", "function", "one_side"])
def test_matmul_matches_torch(sa: Any, sb: Any, dtype: Any, which: str) -> None:
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    a, b = rng.standard_normal(sa).astype(dtype), rng.standard_normal(sb).astype(dtype)
    if which == "operator":
        assert_same(lambda lib, x, y: x @ y, [a, b])
    elif which == "function":
        assert_same(lambda lib, x, y: lib.matmul(x, y), [a, b])
    else:
        assert_same(lambda lib, x, y: lib.matmul(x, y), [a, b], requires=[False, True])
        assert_same(lambda lib, x, y: lib.matmul(x, y), [a, b], requires=[True, False])


def test_mm_mv_and_linear_match_torch() -> None:
    rng = np.random.default_rng(1)
    m, v, w = rng.standard_normal((2, 3)), rng.standard_normal(3), rng.standard_normal((4, 3))
    bias = rng.standard_normal(4)
    assert_same(lambda lib, x, y: lib.mm(x, y), [m, w.T.copy()])
    assert_same(lambda lib, x, y: lib.mv(x, y), [m, v])
    F = "nn"
    for x in (v, m, rng.standard_normal((2, 2, 3))):
        assert_same(lambda lib, x, w, b: getattr(lib, F).functional.linear(x, w, b), [x, w, bias])
        assert_same(lambda lib, x, w: getattr(lib, F).functional.linear(x, w), [x, w])


@FAST
@given(data=st.data(), dtype=dtypes)
def test_shape_ops_match_torch(data: st.DataObject, dtype: Any) -> None:
    a = data.draw(arrays((2, 3), dtype))
    assert_same(lambda lib, x: x.T * 2, [a])
    assert_same(lambda lib, x: x.t() * 2, [a])
    assert_same(lambda lib, x: x.transpose(0, 1) * 2, [a])
    assert_same(lambda lib, x: lib.transpose(x, -1, 0) * 2, [a])
    assert_same(lambda lib, x: x.reshape(3, 2) * 2, [a])
    assert_same(lambda lib, x: lib.reshape(x, (-1,)) * 2, [a])
    assert_same(lambda lib, x: x.view(6, 1) * 2, [a])
    assert_same(lambda lib, x: x.reshape(1, 2, 3).expand(4, -1, 3) * 2, [a])
    assert_same(lambda lib, x: x[:, :1].expand(2, 5) * 2, [a])
    assert_same(lambda lib, x: x[1] * 2, [a])
    assert_same(lambda lib, x: x[0:1] * 2, [a])


def test_integer_array_index_accumulates_repeats() -> None:
    a = np.arange(5.0)
    idx = [0, 2, 2, 4, 2]
    assert_same(lambda lib, x: x[lib.tensor(idx)] * 2, [a])
    assert_same(lambda lib, x: x[idx] * 2, [a])
    assert_same(lambda lib, x: x[np.array(idx)] * 2, [a])
    m = np.arange(12.0).reshape(4, 3)
    assert_same(lambda lib, x: x[lib.tensor([3, 0, 3])], [m])
    t = re.tensor(a, requires_grad=True)
    y = t[re.tensor(idx)]
    assert y.grad_fn.name() == "IndexBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1.0, 0.0, 3.0, 0.0, 1.0])


@pytest.mark.parametrize("op", ["gt", "lt", "ge", "le", "eq", "ne"])
def test_comparisons_are_bool_and_outside_the_graph(op: str) -> None:
    a = np.array([0.0, 1.0, 2.0])
    for lib in (torch, re):
        x = lib.tensor(a, requires_grad=True)
        for r in (getattr(lib, op)(x, 1.0), getattr(x, f"__{op}__")(lib.tensor([1.0, 1.0, 1.0]))):
            assert r.dtype == lib.bool and not r.requires_grad and r.grad_fn is None
    ours = getattr(re, op)(re.tensor(a), 1.0).numpy()
    np.testing.assert_array_equal(ours, getattr(torch, op)(torch.tensor(a), 1.0).numpy())


@pytest.mark.parametrize(
    ("expr"),
    [
        "lib.ones(3) + lib.ones(3, dtype=lib.float64)",
        "lib.ones(3) * 2.5",
        "lib.ones(3, dtype=lib.float64) * 2",
        "lib.ones(3, dtype=lib.int64) * 2.5",
        "lib.ones(3, dtype=lib.int64) / 2",
        "lib.ones(3, dtype=lib.int64) + lib.ones(3)",
        "lib.ones(3) + lib.tensor(1.0, dtype=lib.float64)",
        "lib.ones(3, dtype=lib.int32) + lib.ones(3, dtype=lib.int64)",
        "lib.ones(3, dtype=lib.bool) + 1",
        "lib.ones(3, dtype=lib.int64).sum()",
        "lib.ones(3, dtype=lib.int64).exp()",
        "lib.tensor([1, 2])",
        "lib.tensor([1.0, 2])",
        "lib.tensor(True)",
        "lib.tensor(np.ones(2))",
        "lib.tensor(np.ones(2, dtype=np.int32))",
        "lib.Tensor([1, 2, 3])",
        "lib.randn(2, dtype=lib.float64)",
        "lib.zeros(2, 3, dtype=lib.int64)",
        "lib.ones_like(lib.ones(2, dtype=lib.float64))",
    ],
)
def test_type_promotion_and_inference_match_torch(expr: str) -> None:
    t = eval(expr, {"lib": torch, "np": np})
    r = eval(expr, {"lib": re, "np": np})
    assert r.dtype.name == str(t.dtype).removeprefix("torch.")
    assert tuple(r.shape) == tuple(t.shape)


def test_float32_math_stays_float32_with_python_scalars() -> None:
    x = re.tensor([1.5, 2.5], requires_grad=True)
    y = ((x * 0.1 + 1e-3) / 3.0 - 2) ** 2
    assert y.dtype is re.float32
    y.sum().backward()
    assert x.grad.dtype is re.float32


def test_mixed_dtype_grads_take_each_leaf_dtype() -> None:
    for lib in (torch, re):
        a = lib.ones(3, requires_grad=True)
        b = lib.ones(3, dtype=lib.float64, requires_grad=True)
        (a * b).sum().backward()
        assert a.grad.dtype == lib.float32 and b.grad.dtype == lib.float64


def test_mean_of_empty_is_nan_like_torch() -> None:
    assert np.isnan(re.ones(0).mean().item())
    assert np.isnan(re.ones(0, 3).mean(0).numpy()).all()


def test_special_points_match_torch() -> None:
    """relu and abs at 0, pow at 0, log of 0, sigmoid at +-1e4: torch's subgradient choices."""
    cases = [
        (lambda lib, x: x.relu(), [-1.0, 0.0, 2.0]),
        (lambda lib, x: x.abs(), [-1.0, 0.0, 2.0]),
        (lambda lib, x: x**0, [0.0, 1.0, -2.0]),
        (lambda lib, x: x**2, [0.0, 1.0, -2.0]),
        (lambda lib, x: x**0.5, [0.0, 1.0, 4.0]),
        (lambda lib, x: x**-1, [0.0, 1.0, -2.0]),
        (lambda lib, x: x.log(), [0.0, 1.0, 2.0]),
        (lambda lib, x: x.sigmoid(), [-1e4, 0.0, 1e4]),
        (lambda lib, x: x.tanh(), [-1e4, 0.0, 1e4]),
        (lambda lib, x: x.exp(), [-1e4, 0.0, 50.0]),
    ]
    for fn, vals in cases:
        for dtype in (np.float64, np.float32):
            a = np.array(vals, dtype=dtype)
            assert_same(fn, [a], tol=1e-6)


def test_errors_match_torch() -> None:
    exprs = {
        "lib.ones(3) @ lib.ones(4)": (RuntimeError, "inconsistent tensor size"),
        "lib.ones(2, 3) @ lib.ones(4, 2)": (RuntimeError, "cannot be multiplied (2x3 and 4x2)"),
        "lib.ones(3) @ lib.ones(4, 2)": (RuntimeError, "cannot be multiplied (1x3 and 4x2)"),
        "lib.ones(2, 3) @ lib.ones(4)": (RuntimeError, "size mismatch"),
        "lib.matmul(lib.ones(()), lib.ones(3))": (RuntimeError, "at least 1D"),
        "lib.ones(2, 3) @ lib.ones(3, 2, dtype=lib.float64)": (RuntimeError, "same dtype"),
        "lib.ones(3).sum(dim=3)": (IndexError, "Dimension out of range"),
        "lib.ones(2, 3).sum((0, 0))": (RuntimeError, "appears multiple times"),
        "lib.ones(3).view(2, 2)": (RuntimeError, "is invalid for input of size 3"),
        "lib.ones(3).expand(2, 4)": (RuntimeError, "The expanded size of the tensor (4)"),
        "lib.ones(3, 2, 1).t()": (RuntimeError, "t() expects a tensor with <= 2 dimensions"),
        "lib.ones(3)[lib.tensor([5])]": (IndexError, "out of bounds for dimension 0"),
        "lib.ones(3)[lib.tensor([1.0])]": (IndexError, "tensors used as indices must be long"),
        "lib.ones(3).item()": (RuntimeError, "cannot be converted to Scalar"),
        "len(lib.tensor(1.0))": (TypeError, "len() of a 0-d tensor"),
        "lib.ones(3, dtype=lib.int64).mean()": (RuntimeError, "could not infer output dtype"),
        "-lib.ones(3, dtype=lib.bool)": (RuntimeError, "on a bool tensor is not supported"),
        "lib.ones(3, dtype=lib.int64) ** -1": (RuntimeError, "negative integer powers"),
        "lib.ones(3, dtype=lib.int64).add_(1.5)": (RuntimeError, "can't be cast to the desired"),
    }
    for expr, (exc, key) in exprs.items():
        for lib in (torch, re):
            with pytest.raises(exc, match=None) as info:
                eval(expr, {"lib": lib})
            assert key in str(info.value), (lib.__name__, expr, str(info.value))
