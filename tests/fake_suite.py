"""A four-requirement suite for the runner's tests (run by a worker, never collected directly:
its name does not match test_*.py). It replaces the catalogue *in the worker process* with the
fake requirements of tests/crashing_adapters.py, so its reports list only those."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograd_conformance_suites.requirement import requirement
from conformance.judge import evidence
from conformance.spec import requirements
from conformance.spec.program import Apply, Input, Program
from tests.crashing_adapters import FAKE_REQUIREMENTS

# Before the tests below are decorated: they take their statements from the swapped catalogue.
requirements.REQUIREMENTS = FAKE_REQUIREMENTS
requirements.BY_ID = {r.id: r for r in FAKE_REQUIREMENTS}

values = hnp.arrays(np.float64, st.integers(1, 4), elements=st.floats(-4, 4, width=64))

CHECK = """\
import numpy as np
from conformance.backends.registry import load_backend
reference = load_backend("reference")
cotangents = [np.ones_like(v) for v in program.forward(reference)]
_, got = program.vjp(adapter, cotangents)
_, want = program.vjp(reference, cotangents)
for g, w in zip(got, want):
    assert np.allclose(g, w, rtol=1e-12, atol=0), f"gradient {g} differs from the reference {w}"
print("no difference")
"""


def product(x: np.ndarray, y: np.ndarray) -> Program:
    return Program(
        (Input("x", x, True), Input("y", y, True)),
        (Apply("p", "mul", ("x", "y")), Apply("s", "sum", ("p",))),
        ("s",),
    )


@requirement("FAKE-001")
@given(x=values)
def test_forward(backend: Any, reference: Any, x: np.ndarray) -> None:
    program = product(x, x[::-1].copy())
    got, want = program.forward(backend)[0], program.forward(reference)[0]
    evidence.measure(float(abs(got - want)), float(abs(got - want) / max(abs(want), 1e-300)), 0, 0)
    assert np.array_equal(got, want)


@requirement("FAKE-002")
@given(x=values)
def test_gradients(backend: Any, reference: Any, x: np.ndarray) -> None:
    program = product(x, x + 1.0)
    _, got = program.vjp(backend, [np.ones(())])
    _, want = program.vjp(reference, [np.ones(())])
    for g, w in zip(got, want, strict=True):
        error = float(np.max(np.abs(g - w)))
        evidence.measure(error, error / max(float(np.max(np.abs(w))), 1e-300), 1e-12, 0.0)
        if not np.allclose(g, w, rtol=1e-12, atol=0):
            raise evidence.Nonconformance(
                f"gradient {g.tolist()} differs from the reference {w.tolist()}",
                program=program,
                check=CHECK,
            )


@requirement("FAKE-003")
def test_float8(backend: Any) -> None:
    raise AssertionError("never runs: no adapter declares float8_e5m2")


@requirement("FAKE-004")
def test_product_rule(backend: Any) -> None:
    x, y = np.array([2.0]), np.array([3.0])
    _, (gx, gy) = product(x, y).vjp(backend, [np.ones(())])
    assert gx is not None and gy is not None
    assert np.array_equal(gx, y) and np.array_equal(gy, x)
