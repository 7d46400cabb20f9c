"""Numerical ground truth: finite differences, the directional check, comparisons, the linear +
BCE closed form, and the tolerance table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from conformance.judge import evidence
from conformance.judge.numerics import (
    DIRECTION_SEED,
    LinearBCE,
    central_differences,
    compare,
    directional_derivative,
    fsum_dot,
    numpy_apply,
    unit_direction,
)
from conformance.spec.tolerances import CHECKS, TABLE, Tolerance, device_kind, lookup

RNG = np.random.default_rng(7)


def cubic(values: Sequence[np.ndarray]) -> tuple[float, float]:
    """f(a, b) = sum(a^3 * c) + sum(exp(b) * a[0])."""
    a, b = values
    c = np.linspace(-1.0, 2.0, a.size).reshape(a.shape)
    terms = [a**3 * c, np.exp(b) * a.ravel()[0]]
    return fsum_dot(terms, [np.ones_like(t) for t in terms])


def cubic_grad(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    c = np.linspace(-1.0, 2.0, a.size).reshape(a.shape)
    ga = 3 * a**2 * c
    ga.ravel()[0] += np.exp(b).sum()
    return [ga, np.exp(b) * a.ravel()[0]]


def test_central_differences_of_a_known_function() -> None:
    a, b = RNG.uniform(-2, 2, (3, 2)), RNG.uniform(-1, 1, (4,))
    numeric, magnitude = central_differences(cubic, [a, b], [0, 1])
    tol = lookup("float64", "cpu", "finite_difference")
    for got, want in zip(numeric, cubic_grad(a, b), strict=True):
        result = compare(got, want, tol, scale=max(1.0, magnitude), record=False)
        assert result.ok, result.describe()
        assert result.max_rel < 1e-7  # far inside the tolerance: the step size is right


def test_central_differences_only_for_requested_inputs() -> None:
    a, b = RNG.uniform(-2, 2, (2,)), RNG.uniform(-1, 1, (2,))
    numeric, _ = central_differences(cubic, [a, b], [1])
    assert len(numeric) == 1 and numeric[0].shape == b.shape


def test_directional_check_passes_the_right_gradient() -> None:
    a, b = RNG.uniform(-2, 2, (4, 3)), RNG.uniform(-1, 1, (5,))
    tol = lookup("float64", "cpu", "directional")
    rng = np.random.default_rng(DIRECTION_SEED)
    for _ in range(3):
        u = unit_direction([a.shape, b.shape], rng)
        r = directional_derivative(cubic, [a, b], [0, 1], cubic_grad(a, b), u)
        ok = compare(
            np.array(r.analytical),
            np.array(r.numerical),
            tol,
            scale=max(1.0, r.magnitude),
            record=False,
        )
        assert ok.ok, ok.describe()


@pytest.mark.parametrize("which", [0, 1])
def test_directional_check_flags_a_single_wrong_element(which: int) -> None:
    """One direction suffices, whichever element is wrong (by 1%): every weight is >= 1/3 of
    the mean weight, so no element hides."""
    a, b = RNG.uniform(0.5, 2, (4, 3)), RNG.uniform(-1, 1, (5,))
    tol = lookup("float64", "cpu", "directional")
    size = (a if which == 0 else b).size
    for position in range(size):
        grads = cubic_grad(a, b)
        flat = grads[which].reshape(-1)
        flat[position] += 0.01 * max(1.0, abs(flat[position]))
        u = unit_direction([a.shape, b.shape], np.random.default_rng(DIRECTION_SEED))
        r = directional_derivative(cubic, [a, b], [0, 1], grads, u)
        result = compare(
            np.array(r.analytical),
            np.array(r.numerical),
            tol,
            scale=max(1.0, r.magnitude),
            record=False,
        )
        assert not result.ok, f"an error in element {position} of input {which} went unseen"


def test_unit_direction_is_unit_and_bounded_away_from_zero() -> None:
    parts = unit_direction([(3,), (2, 2)], np.random.default_rng(0))
    total = sum(float(np.sum(p * p)) for p in parts)
    assert abs(total - 1.0) < 1e-12
    flat = np.concatenate([p.ravel() for p in parts])
    assert flat.min() >= flat.max() / 3


def test_compare_shapes_nan_inf_and_evidence() -> None:
    tol = Tolerance(1e-10, 1e-12, "test")
    assert not compare(None, np.zeros(2), tol, record=False).ok
    shape = compare(np.zeros(3), np.zeros((3, 1)), tol, record=False)
    assert not shape.ok and "expected shape (3, 1)" in shape.describe()
    assert compare(np.array([np.nan, np.inf]), np.array([np.nan, np.inf]), tol, record=False).ok
    assert not compare(np.array([np.nan]), np.array([1.0]), tol, record=False).ok
    assert not compare(np.array([-np.inf]), np.array([np.inf]), tol, record=False).ok
    collector = evidence.start()
    try:
        result = compare(np.array([1.0, 2.0 + 1e-6]), np.array([1.0, 2.0]), tol)
    finally:
        evidence.stop()
    assert not result.ok and result.worst == (1,)
    assert collector.max_abs_error == pytest.approx(1e-6)
    assert collector.tolerance == {"rtol": 1e-10, "atol": 1e-12}
    assert "at [1]" in result.describe() and "rtol 1e-10" in result.describe()


def test_compare_scales_atol_by_the_magnitude() -> None:
    tol = Tolerance(0.0, 1e-6, "test")
    # 1e-3 off on a value of 1e4 is within 1e-6 * 1e4; the same 1e-3 off 1.0 is not.
    assert compare(np.array([1e4 + 1e-3, 0.0]), np.array([1e4, 0.0]), tol, record=False).ok
    assert not compare(np.array([1.0 + 1e-3]), np.array([1.0]), tol, record=False).ok


def _case(**kwargs: object) -> LinearBCE:
    base: dict[str, object] = dict(
        x=RNG.uniform(-2, 2, (4, 3)),
        W=RNG.uniform(-2, 2, (3, 2)),
        b=RNG.uniform(-1, 1, (2,)),
        y=RNG.uniform(0, 1, (4, 2)),
        weight=RNG.uniform(0.5, 2, (2,)),
        pos_weight=RNG.uniform(0.5, 3, (2,)),
        reduction="mean",
        form="matmul",
        x_requires_grad=True,
        y_requires_grad=True,
    )
    base.update(kwargs)
    return LinearBCE(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("form", ["matmul", "linear"])
def test_closed_form_matches_finite_differences_of_the_numpy_loss(
    reduction: str, form: str
) -> None:
    case = _case(reduction=reduction, form=form)
    if form == "linear":
        case = _case(reduction=reduction, form=form, W=RNG.uniform(-2, 2, (2, 3)))
    cot = RNG.uniform(-1, 1, (4, 2)) if reduction == "none" else np.array(0.7)
    loss, grads = case.closed_form(cot)
    names = ["x", "W", "b", "y"]

    def f(values: Sequence[np.ndarray]) -> tuple[float, float]:
        x, w, b, y = values
        z = x @ (w if form == "matmul" else w.T) + b
        out = numpy_apply(
            "bce_with_logits",
            [z, y, case.weight, case.pos_weight],  # type: ignore[list-item]
            {"reduction": reduction, "optional": ["weight", "pos_weight"]},
        )
        return fsum_dot([out], [cot])

    values = [getattr(case, n) for n in names]
    numeric, magnitude = central_differences(f, values, range(4))
    tol = lookup("float64", "cpu", "finite_difference")
    for name, n in zip(names, numeric, strict=True):
        result = compare(grads[name], n, tol, scale=max(1.0, magnitude), record=False)
        assert result.ok, f"{name}: {result.describe()}"
    assert np.shape(loss) == ((4, 2) if reduction == "none" else ())


def test_closed_form_at_zero_logit_is_half_minus_y() -> None:
    case = _case(
        x=np.zeros((3, 3)),
        b=np.zeros(2),
        weight=None,
        pos_weight=None,
        reduction="sum",
        y=np.array([[0.0, 1.0], [1.0, 0.0], [0.25, 0.5]]),
    )
    _, grads = case.closed_form()
    np.testing.assert_array_equal(grads["b"], (0.5 - case.y).sum(axis=0))


def test_closed_form_finite_and_right_at_extremes() -> None:
    z = np.array([[1e4, -1e4, 100.0, -100.0]])
    case = _case(
        x=np.zeros((1, 3)),
        W=np.zeros((3, 4)),
        b=z[0],
        y=np.array([[0.0, 1.0, 0.0, 1.0]]),
        weight=None,
        pos_weight=None,
        reduction="none",
    )
    loss, grads = case.closed_form()
    assert np.all(np.isfinite(loss)) and all(np.all(np.isfinite(g)) for g in grads.values())
    np.testing.assert_allclose(loss[0, :2], [1e4, 1e4])
    np.testing.assert_allclose(grads["b"][:2], [1.0, -1.0])


def test_tolerance_table_is_complete_and_reasoned() -> None:
    for (dtype, device, check), tol in TABLE.items():
        assert dtype in ("float16", "bfloat16", "float32", "float64")
        assert device in ("cpu", "cuda") and check in CHECKS
        assert tol.reason.strip() and tol.rtol >= 0 and tol.atol >= 0
    for check in CHECKS:
        for device in ("cpu", "cuda"):
            assert ("float64", device, check) in TABLE
    # float64 comparisons against the reference are tight.
    assert lookup("float64", "cpu", "reference").rtol <= 1e-10
    assert lookup("float32", "cuda:1", "reference") == TABLE[("float32", "cuda", "reference")]
    assert device_kind("cpu") == "cpu" and device_kind("mps") == "cuda"
    with pytest.raises(KeyError, match="check=finite_difference"):
        lookup("float32", "cpu", "finite_difference")
