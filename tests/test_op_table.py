"""The op table (conformance/spec/ops.py) is the engine-independent oracle later checks build on,
so its rows are checked here, not trusted: every differentiable row's NumPy VJP against PyTorch
(float64) and against central differences of the row's own NumPy forward, on one-op programs
drawn from the row's domains by the suites' own strategy; each kink convention against PyTorch;
and the rows' fields against what reads them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from autograd_conformance_suites import strategies
from conformance.backends.opmap import ops_supported
from conformance.backends.torch import TorchAdapter
from conformance.judge.numerics import (
    central_differences,
    compare,
    evaluate_numpy,
    fsum_dot,
    numpy_vjp,
    program_vjp,
)
from conformance.spec.ops import ALL_OPS, KINK_OPS, OP_ORDER, OPS, VIEW_OPS
from conformance.spec.program import Apply, Input, Program
from conformance.spec.tolerances import OP_CLASSES, lookup

pytest.importorskip("torch", reason="the op table is checked against PyTorch")
TORCH = TorchAdapter("cpu")
DIFFERENTIABLE = [name for name in OP_ORDER if OPS[name].differentiable]
KINK_MARGIN = 1e-3
"""Central differences within this (relative) distance of a kink straddle it."""


def _magnitude(*groups: Any) -> float:
    arrays = [np.asarray(a, np.float64) for group in groups for a in group if a is not None]
    return max(
        [1.0] + [float(np.max(np.abs(a), initial=0.0)) for a in arrays if a.dtype.kind == "f"]
    )


def _near_kink(program: Program, env: dict[str, np.ndarray]) -> bool:
    for step in program.steps:
        for kink in OPS[step.op].kinks:
            operand = env[step.args[0]]
            scale = max(1.0, float(np.max(np.abs(operand), initial=0.0)))
            if np.any(np.abs(operand - kink.at) < KINK_MARGIN * scale):
                return True
    return False


@pytest.mark.parametrize("op", DIFFERENTIABLE)
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_row_vjp_matches_torch_and_finite_differences_of_the_row_forward(
    op: str, data: st.DataObject
) -> None:
    row = OPS[op]
    program = data.draw(
        strategies.programs(ops=[op], focus=op, min_steps=1, max_steps=1, requires_grad=True)
    )
    env = evaluate_numpy(program)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    cotangents = [rng.uniform(-1.0, 1.0, np.shape(env[o])) for o in program.outputs]
    outputs, table = numpy_vjp(program, cotangents)
    _, torch_grads = program_vjp(TORCH, program, cotangents)
    # An input the op does not use (a fresh one was drawn for its domain) has no gradient.
    unused = [i.name for i, g in zip(program.inputs, table, strict=True) if g is None]
    assert all(torch_grads.get(name) is None for name in unused)
    wrt = [n for n, i in enumerate(program.inputs) if i.differentiable and table[n] is not None]
    # The domains keep every value and gradient finite: no pole is ever drawn.
    assert all(np.all(np.isfinite(o)) for o in outputs if o.dtype.kind == "f")
    assert all(np.all(np.isfinite(table[n])) for n in wrt)

    scale = _magnitude(env.values(), table, torch_grads.values())
    against_torch = lookup("float64", "cpu", "reference", op_class=row.tolerance)
    for n in wrt:
        name = program.inputs[n].name
        result = compare(table[n], torch_grads[name], against_torch, scale=scale, record=False)
        assert result.ok, f"{op}: d/d{name} table vs torch: {result.describe()}"

    assume(not _near_kink(program, env))

    values = [np.asarray(i.value, np.float64) for i in program.inputs]
    numeric, magnitude = central_differences(_scalarised(program, cotangents), values, wrt)
    against_fd = lookup("float64", "cpu", "finite_difference", op_class=row.tolerance)
    for n, fd in zip(wrt, numeric, strict=True):
        result = compare(table[n], fd, against_fd, scale=max(1.0, magnitude), record=False)
        assert result.ok, f"{op}: d/d{program.inputs[n].name} table vs FD: {result.describe()}"


def _scalarised(program: Program, cotangents: list[np.ndarray]) -> Any:
    """sum_k <output_k, cotangent_k> through the table's NumPy forward."""

    def f(values: Any) -> tuple[float, float]:
        env = evaluate_numpy(program.with_values(values))
        return fsum_dot([env[o] for o in program.outputs], cotangents)

    return f


@pytest.mark.parametrize("op", KINK_OPS)
def test_kink_conventions_are_pytorchs(op: str) -> None:
    for kink in OPS[op].kinks:
        x = np.array([kink.at, kink.at + 1.0, kink.at - 1.0])
        program = Program((Input("x", x, True),), (Apply("y", op, ("x",), {}),), ("y",))
        ones = [np.ones(3)]
        _, (table,) = numpy_vjp(program, ones)
        _, torch_grads = program_vjp(TORCH, program, ones)
        assert table is not None
        assert table[0] == kink.derivative == torch_grads["x"][0], kink.why


def test_rows_are_consistent_with_what_reads_them() -> None:
    assert tuple(OPS) == OP_ORDER and set(OP_ORDER) == ALL_OPS
    for name, row in OPS.items():
        assert row.kind in strategies._BUILDERS, name
        assert row.tolerance in OP_CLASSES, name
        assert len(row.domains) == row.operands, name
        assert len(row.vjps) in (0, row.operands + len(row.optional)), name
        assert not row.param_choices or (row.kind == "unary" and len(row.params) == 1), name
    assert set(VIEW_OPS) == {"transpose", "reshape", "expand"}
    assert set(KINK_OPS) == {"relu", "abs"}
    assert not OPS["gt"].differentiable


def test_the_default_spelling_is_the_name_on_the_namespace() -> None:
    class Namespace:
        add = staticmethod(lambda x, y: ("add", x, y))
        sum = staticmethod(lambda x, dim, keepdim: ("sum", x, dim, keepdim))

    assert ops_supported(Namespace) == {"add", "sum"}
    assert ops_supported(Namespace, {"neg": "add"}, unsupported=("sum",)) == {"add", "neg"}
    custom = ops_supported(Namespace, {"linear": lambda ns, a, p: None})
    assert custom == {"add", "sum", "linear"}
