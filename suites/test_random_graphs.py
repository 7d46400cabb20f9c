"""Random programs over the whole op set (broadcasting, reductions, views, indexing, reuse):
forward values and vector-Jacobian products against the reference engine, and against central
finite differences of the backend's own forward. Functional level: no tape needed."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, vjp_must_not_raise, vjp_repro
from conformance.judge.numerics import as_float64, compare, evaluate_numpy, program_vjp
from conformance.spec.program import Program

from .requirement import requirement
from .support import (
    ambiguous_kink,
    check_finite_differences,
    draw_cotangent,
    draw_program,
    host_env,
    near_kink,
    per_op,
    program_dtype,
    reference_scale,
    require_op,
    tolerance,
)


def _cotangents(data: st.DataObject, program: Program) -> list[np.ndarray]:
    env = evaluate_numpy(program)  # shapes do not depend on the engine
    return [
        draw_cotangent(data, np.shape(env[o]), f"cotangent {o}").astype(program_dtype(program))
        for o in program.outputs
    ]


def _differentiable(program: Program) -> list[str]:
    names = [i.name for i in program.inputs if i.differentiable]
    assume(names)
    return names


def _zeros_if_none(grad: np.ndarray | None, program: Program, name: str) -> np.ndarray:
    if grad is not None:
        return grad
    return np.zeros(next(i.value.shape for i in program.inputs if i.name == name))


@per_op()
@requirement("FWD-001")
@given(data=st.data())
def test_forward_values_match_reference(
    backend: Any, reference: Any, focus: str, data: st.DataObject
) -> None:
    require_op(backend, focus)
    program = draw_program(data, backend, focus=focus)
    tol = tolerance(backend, program_dtype(program), "reference")
    repro = Repro(backend).line("", "outputs = program.output_tensors(adapter, tensors)")
    with engine_must_not_raise("the forward of the program", repro, program):
        got_env = host_env(backend, program)
    want_env = host_env(reference, as_float64(program))
    steps = {s.name: s for s in program.steps}
    scale = reference_scale(reference, program)
    for name in program.outputs:
        got, want = got_env[name], want_env[name]
        repro = Repro(backend).line("", "outputs = program.output_tensors(adapter, tensors)")
        index = list(program.outputs).index(name)
        if want.dtype == np.bool_:
            step = steps[name]
            a, b = want_env[step.args[0]], want_env[step.args[1]]
            scale = max(1.0, float(np.max(np.abs(np.broadcast_arrays(a, b)[1]), initial=0.0)))
            # Where the operands are equal within rounding, either answer is right.
            clear = np.abs(a - b) > tol.atol * scale + tol.rtol * np.abs(b)
            if got.shape != want.shape or np.any((got != want) & clear):
                repro.line(
                    f"got = outputs[{index}].tolist(); assert got == {want.tolist()!r}, "
                    f"'{name} differs'",
                    f"got = adapter.to_numpy(outputs[{index}]).tolist(); "
                    f"assert got == {want.tolist()!r}, '{name} differs'",
                )
                raise repro.fail(f"output {name} (bool) differs from the reference", program)
            continue
        comparison = compare(got, want, tol, scale=scale)
        if not comparison.ok:
            repro.scale = scale
            repro.close(
                f"output {name}",
                f"outputs[{index}]",
                f"adapter.to_numpy(outputs[{index}])",
                want,
                tol,
            )
            raise repro.fail(f"output {name}: {comparison.describe()}", program)


@per_op()
@requirement("RAND-001")
@given(data=st.data())
def test_random_graph_gradients_match_reference(
    backend: Any, reference: Any, focus: str, data: st.DataObject
) -> None:
    require_op(backend, focus)
    program = draw_program(data, backend, requires_grad=True, focus=focus)
    names = _differentiable(program)
    tol = tolerance(backend, program_dtype(program), "reference")
    cotangents = _cotangents(data, program)
    with vjp_must_not_raise(backend, program, cotangents):
        backend_env = host_env(backend, program)
        _, got = program_vjp(backend, program, cotangents)
    reference_env = host_env(reference, as_float64(program))
    assume(not ambiguous_kink(program, backend_env, reference_env, tol))
    _, want = program_vjp(reference, as_float64(program), cotangents)
    expected = {n: _zeros_if_none(want[n], program, n) for n in names}
    scale = reference_scale(reference, program, cotangents)
    for name in names:
        got_grad = _zeros_if_none(got.get(name), program, name)
        comparison = compare(got_grad, expected[name], tol, scale=scale)
        if not comparison.ok:
            repro = vjp_repro(backend, program, cotangents, expected, tol, "gradient of", scale)
            raise repro.fail(f"gradient of {name}: {comparison.describe()}", program)


@per_op()
@requirement("RAND-002")
@given(data=st.data())
def test_random_graph_gradients_match_finite_differences(
    backend: Any, focus: str, data: st.DataObject
) -> None:
    require_op(backend, focus)
    program = draw_program(
        data, backend, requires_grad=True, dtypes={"float64"}, zeros=False, focus=focus
    )
    names = _differentiable(program)
    cotangents = _cotangents(data, program)
    with vjp_must_not_raise(backend, program, cotangents):
        env = host_env(backend, program)
        _, got = program_vjp(backend, program, cotangents)
    assume(not near_kink(program, env))
    analytic = {n: _zeros_if_none(got.get(n), program, n) for n in names}
    check_finite_differences(
        backend,
        program,
        cotangents,
        analytic,
        subject="sum(output * cotangent)",
        label="gradient vs finite differences of",
    )
