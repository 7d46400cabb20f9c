"""The directional ("fast mode") gradient check flags a gradient that is wrong in one element.

The check (conformance.judge.numerics, as the suites run it) compares v^T J u from two forwards
of the engine against <gradient, u> for one random direction u. Here the forward is the reference
engine's and the gradients are the float64 closed form of the linear + BCE example, so the only
error is the one each test puts in.

An error d in element i moves <gradient, u> by d * u_i, and u's entries are about 1/sqrt(N): at
N = 1M parameters the suites' tolerance (atol 1e-7) resolves single-element errors of about 1e-4,
a few times the gradient's RMS element. So at that size the test flips the sign of the largest
element; at the small sizes it drops an ordinary one. `python -m benchmarks.publish` reports the
share of elements whose error the check sees at 1M.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conformance.backends.reference import ReferenceAdapter
from conformance.judge.numerics import (
    DIRECTION_SEED,
    LinearBCE,
    compare,
    directional_derivative,
    scalarised,
    unit_direction,
)
from conformance.spec.tolerances import lookup

SIZES = {
    "seed 5->3": (None, 5, 3),
    "16x32->16": (16, 32, 16),
    "256x1024->1024 (1M parameters)": (256, 1024, 1024),
}
SMALL = ["seed 5->3", "16x32->16"]


def _case(batch: int | None, n_in: int, n_out: int) -> LinearBCE:
    rng = np.random.default_rng(1)
    x_shape = (n_in,) if batch is None else (batch, n_in)
    return LinearBCE(
        x=rng.standard_normal(x_shape),
        W=rng.standard_normal((n_in, n_out)) / np.sqrt(n_in),
        b=rng.standard_normal(n_out),
        y=(rng.random(x_shape[:-1] + (n_out,)) < 0.5).astype(np.float64),
        weight=None,
        pos_weight=None,
        reduction="mean",
        form="matmul",
    )


class Setup:
    """One size: its program, the reference engine's forward, the closed-form gradients."""

    def __init__(self, size: str) -> None:
        case = _case(*SIZES[size])
        self.program = case.program()
        self.wrt = [k for k, i in enumerate(self.program.inputs) if i.differentiable]
        self.names = [self.program.inputs[k].name for k in self.wrt]
        self.values = [i.value for i in self.program.inputs]
        _, closed = case.closed_form()
        self.grads = {name: np.asarray(closed[name], dtype=np.float64) for name in self.names}

    def flags(self, grads: dict[str, np.ndarray]) -> bool:
        """True when the directional check rejects `grads` (suites' tolerance, one direction)."""
        f = scalarised(ReferenceAdapter(), self.program, [np.ones(())])
        rng = np.random.default_rng(DIRECTION_SEED)
        u = unit_direction([self.values[k].shape for k in self.wrt], rng)
        result = directional_derivative(f, self.values, self.wrt, [grads[n] for n in self.names], u)
        comparison = compare(
            np.array(result.analytical),
            np.array(result.numerical),
            lookup("float64", "cpu", "directional"),
            scale=max(1.0, result.magnitude),
            record=False,
        )
        return not comparison.ok

    def with_element(self, name: str, index: tuple[int, ...], value: float) -> dict[str, Any]:
        grads = {n: g.copy() for n, g in self.grads.items()}
        grads[name][index] = value
        return grads


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


@pytest.fixture(scope="module", params=list(SIZES))
def setup(request: pytest.FixtureRequest) -> Setup:
    return Setup(request.param)


def test_correct_gradients_pass(setup: Setup) -> None:
    assert not setup.flags(setup.grads)


def test_sign_of_the_largest_element_flipped_is_flagged(setup: Setup) -> None:
    weight = setup.grads["W"]
    index = _index(int(np.argmax(np.abs(weight))), weight.shape)
    assert setup.flags(setup.with_element("W", index, -weight[index]))


@pytest.mark.parametrize("size", SMALL)
@pytest.mark.parametrize("name", ["W", "b"])
def test_one_dropped_element_is_flagged_at_small_sizes(size: str, name: str) -> None:
    setup = Setup(size)
    grad = setup.grads[name]
    # an ordinary element: the one of median magnitude, so the check is not handed the easiest
    order = np.argsort(np.abs(grad), axis=None)
    index = _index(int(order[len(order) // 2]), grad.shape)
    assert grad[index] != 0
    assert setup.flags(setup.with_element(name, index, 0.0))
