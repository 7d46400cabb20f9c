"""binary_cross_entropy_with_logits against torch: values, gradients (input and target),
weight / pos_weight / reduction, extremes |z| in {0, 100, 1e4}, and its errors."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from re_helpers import FAST, arrays, assert_same, dtypes, shapes

import autograd_conformance_reference as re

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")


def bce(**kw: Any) -> Any:
    def fn(lib: Any, z: Any, y: Any, *extra: Any) -> Any:
        args = dict(kw)
        names = [n for n in ("weight", "pos_weight") if n in args]
        for name, t in zip(names, extra, strict=True):
            args[name] = t
        return lib.nn.functional.binary_cross_entropy_with_logits(z, y, **args)

    return fn


@FAST
@given(
    data=st.data(),
    dtype=dtypes,
    reduction=st.sampled_from(["none", "mean", "sum"]),
    use_w=st.booleans(),
    use_pw=st.booleans(),
)
def test_bce_matches_torch(
    data: st.DataObject, dtype: Any, reduction: str, use_w: bool, use_pw: bool
) -> None:
    shape = data.draw(shapes)
    z = data.draw(arrays(shape, dtype, -30, 30))
    y = data.draw(arrays(shape, dtype, 0, 1))
    extra, kw = [], {"reduction": reduction}
    tail = shape[-1:] if shape else ()
    if use_w:
        extra.append(data.draw(arrays(tail, dtype, 0, 3)))
        kw["weight"] = None
    if use_pw:
        extra.append(data.draw(arrays(tail, dtype, 0, 3)))
        kw["pos_weight"] = None
    requires = [True, True] + [False] * len(extra)
    tol = None if dtype == np.float64 else 1e-4
    assert_same(bce(**kw), [z, y, *extra], requires=requires, tol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mag", [0.0, 100.0, 1e4])
def test_bce_extremes_are_finite_and_match_torch(dtype: Any, mag: float) -> None:
    z = np.array([mag, -mag, mag, -mag], dtype=dtype)
    y = np.array([0.0, 0.0, 1.0, 1.0], dtype=dtype)
    w = np.array([2.0, 3.0, 2.0, 3.0], dtype=dtype)
    pw = np.array([4.0, 4.0, 4.0, 4.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from NumPy
        for kw, extra in (({}, []), ({"weight": None, "pos_weight": None}, [w, pw])):
            for reduction in ("none", "mean", "sum"):
                fn = bce(reduction=reduction, **kw)
                assert_same(
                    fn, [z, y, *extra], requires=[True, False] + [False] * len(extra), tol=1e-6
                )
                zt = re.tensor(z, requires_grad=True)
                out = fn(re, zt, re.tensor(y), *[re.tensor(e) for e in extra])
                out.sum().backward()
                assert np.isfinite(out.numpy()).all() if not out.requires_grad else True
                assert np.isfinite(zt.grad.numpy()).all()


def test_bce_gradient_at_zero_is_exactly_half_minus_target() -> None:
    for dtype in (re.float32, re.float64):
        z = re.zeros(4, dtype=dtype, requires_grad=True)
        y = re.tensor([0.0, 1.0, 0.25, 0.5], dtype=dtype)
        re.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="sum").backward()
        np.testing.assert_array_equal(z.grad.numpy(), 0.5 - y.numpy())


def test_bce_output_dtype_follows_torch() -> None:
    for zd, yd in ((np.float32, np.float64), (np.float64, np.float32)):
        z, y = np.zeros(3, dtype=zd), np.ones(3, dtype=yd)
        outs = [
            lib.nn.functional.binary_cross_entropy_with_logits(lib.tensor(z), lib.tensor(y))
            for lib in (torch, re)
        ]
        assert str(outs[0].dtype).removeprefix("torch.") == outs[1].dtype.name


@pytest.mark.parametrize("lib", [torch, re], ids=["torch", "reference_engine"])
def test_bce_errors(lib: Any) -> None:
    F = lib.nn.functional
    z = lib.zeros(3, requires_grad=True)
    cases = [
        (
            lambda: F.binary_cross_entropy_with_logits(z, lib.ones(4)),
            ValueError,
            "Target size (torch.Size([4])) must be the same as input size (torch.Size([3]))",
        ),
        (
            lambda: F.binary_cross_entropy_with_logits(z, lib.ones(3, 1)),
            ValueError,
            "Target size (torch.Size([3, 1]))",
        ),
        (
            lambda: F.binary_cross_entropy_with_logits(z, lib.ones(3), reduction="avg"),
            ValueError,
            "avg is not a valid value for reduction",
        ),
        (
            lambda: F.binary_cross_entropy_with_logits(
                z, lib.ones(3), weight=lib.ones(3, requires_grad=True)
            ),
            RuntimeError,
            "not differentiable with respect to argument 'weight'",
        ),
        (
            lambda: F.binary_cross_entropy_with_logits(z, lib.ones(3), weight=lib.ones(2, 1)),
            RuntimeError,
            "doesn't match the broadcast shape",
        ),
    ]
    for fn, exc, key in cases:
        with pytest.raises(exc) as info:
            fn()
        assert key in str(info.value)


def test_bce_empty_mean_is_nan() -> None:
    out = re.nn.functional.binary_cross_entropy_with_logits(re.zeros(0), re.zeros(0))
    assert np.isnan(out.item())
