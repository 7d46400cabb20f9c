"""Forward mode: Jacobian-vector products of random programs (the adapter's `jvp`) against the
engine's own reverse mode, central finite differences of its own forward, and the reference
engine; and what a forward-mode run must leave as it is: the primal values, and each tangent's
shape and dtype. Functional level: no tape needed, only the `forward_mode` capability."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, vjp_must_not_raise
from conformance.judge.numerics import (
    as_float64,
    compare,
    evaluate_numpy,
    program_jvp,
    program_vjp,
    rounding_magnitude,
)
from conformance.spec.program import Program
from conformance.spec.render import literal, torch_step_lines
from conformance.spec.tolerances import FD_STEP, Tolerance

from .requirement import requirement
from .support import (
    ambiguous_kink,
    draw_cotangent,
    draw_program,
    host_env,
    leaf_ancestors,
    near_kink,
    per_op,
    program_dtype,
    require_op,
    tolerance,
)


# -- drawing ------------------------------------------------------------------------------------
def _differentiable(program: Program) -> list[str]:
    names = [i.name for i in program.inputs if i.differentiable]
    assume(names)
    return names


def _tangents(data: st.DataObject, program: Program) -> dict[str, np.ndarray]:
    """One tangent per differentiable input, in the input's dtype (values exact in float32)."""
    return {
        i.name: draw_cotangent(data, i.value.shape, f"tangent {i.name}").astype(i.value.dtype)
        for i in program.inputs
        if i.differentiable
    }


def _cotangents(data: st.DataObject, program: Program) -> list[np.ndarray]:
    env = evaluate_numpy(program)
    return [
        draw_cotangent(data, np.shape(env[o]), f"cotangent {o}").astype(program_dtype(program))
        for o in program.outputs
    ]


def _float_outputs(program: Program) -> list[int]:
    env = evaluate_numpy(program)
    return [k for k, o in enumerate(program.outputs) if np.asarray(env[o]).dtype.kind == "f"]


def _or_zeros(tangent: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    # An output no tangent reaches: PyTorch gives it no tangent, JAX zeros; both mean zero.
    return np.zeros(np.shape(like)) if tangent is None else tangent


# -- reproducers --------------------------------------------------------------------------------
def jvp_repro(
    adapter: Any,
    program: Program,
    tangents: Mapping[str, np.ndarray],
    expected: Mapping[int, np.ndarray],
    tol: Tolerance,
    label: str,
    scale: float = 0.0,
    repro: Repro | None = None,
) -> Repro:
    """Source (added to `repro`, if given) that reruns the program on dual tensors, giving
    `values` and `jvps`, and compares the tangent of each output index in `expected` with its
    literal (PyTorch: torch.autograd.forward_ad)."""
    repro = Repro(adapter, scale=scale) if repro is None else repro
    repro.scale = scale
    repro.prelude = True
    literals = ", ".join(
        f"{name!r}: np.array({literal(np.asarray(t, np.float64))}).astype({t.dtype.name!r})"
        for name, t in tangents.items()
    )
    repro.line(f"tangents = {{{literals}}}")
    repro.line("import torch.autograd.forward_ad as fwAD", "")
    repro.line("with fwAD.dual_level():", "from conformance.judge.numerics import program_jvp")
    for name in tangents:
        repro.line(
            f"    {name} = fwAD.make_dual({name}.detach(), "
            f"torch.tensor(tangents[{name!r}]{repro.device_kw}))",
            "",
        )
    for line in torch_step_lines(program):
        repro.line(f"    {line}", "")
    repro.line(
        "    values, jvps = zip(*[fwAD.unpack_dual(o) for o in outputs])",
        "values, jvps = program_jvp(adapter, program, tangents)",
    )
    for k, want in expected.items():
        got = f"jvps[{k}]"
        repro.close(f"{label} {program.outputs[k]}", got, got, want, tol)
    return repro


def _must_not_raise(adapter: Any, program: Program, tangents: Mapping[str, np.ndarray]) -> Any:
    repro = jvp_repro(adapter, program, tangents, {}, Tolerance(0, 0, "unused"), "")
    return engine_must_not_raise("the forward-mode run of the program", repro, program)


def _fsum_dot(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """sum <a, b> over the pairs, and sum <|a|, |b|>: the magnitude its rounding scales with."""
    products = [np.asarray(a, np.float64) * np.asarray(b, np.float64) for a, b in pairs]
    return (
        math.fsum(p.ravel().sum() for p in products),
        math.fsum(np.abs(p).ravel().sum() for p in products),
    )


# -- the requirements ---------------------------------------------------------------------------
@per_op()
@requirement("JVP-001")
@given(data=st.data())
def test_jvp_agrees_with_the_vjp(backend: Any, focus: str, data: st.DataObject) -> None:
    require_op(backend, focus)
    program = draw_program(data, backend, requires_grad=True, focus=focus)
    names = _differentiable(program)
    tangents = _tangents(data, program)
    cotangents = _cotangents(data, program)
    with _must_not_raise(backend, program, tangents):
        _, pushed = program_jvp(backend, program, tangents)
    with vjp_must_not_raise(backend, program, cotangents):
        _, pulled = program_vjp(backend, program, cotangents)
    # A kink's subgradient is a convention per mode; the identity is asked of smooth points.
    assume(not near_kink(program, evaluate_numpy(program)))
    floats = _float_outputs(program)
    forward, forward_size = _fsum_dot(
        [(cotangents[k], _or_zeros(pushed[k], cotangents[k])) for k in floats]
    )
    inputs = {i.name: i.value for i in program.inputs}
    reverse, reverse_size = _fsum_dot(
        [(_or_zeros(pulled[n], inputs[n]), tangents[n]) for n in names]
    )
    tol = tolerance(backend, program_dtype(program), "reference")
    largest_tangent = max(float(np.max(np.abs(t), initial=0.0)) for t in tangents.values())
    scale = max(
        forward_size, reverse_size, rounding_magnitude(program, cotangents) * largest_tangent
    )
    comparison = compare(np.array(forward), np.array(reverse), tol, scale=scale)
    if not comparison.ok:
        raise jvp_repro(backend, program, tangents, {}, tol, "").fail(
            f"<u, J v> from forward mode is {forward!r}, <J^T u, v> from reverse mode is "
            f"{reverse!r} ({comparison.describe()}); u = cotangents "
            f"{[literal(c) for c in cotangents]}",
            program,
        )


@per_op()
@requirement("JVP-002")
@given(data=st.data())
def test_jvp_matches_finite_differences(backend: Any, focus: str, data: st.DataObject) -> None:
    require_op(backend, focus)
    program = draw_program(
        data, backend, requires_grad=True, dtypes={"float64"}, zeros=False, focus=focus
    )
    _differentiable(program)
    tangents = _tangents(data, program)
    with _must_not_raise(backend, program, tangents):
        outputs, pushed = program_jvp(backend, program, tangents)
    values = [np.asarray(i.value, np.float64) for i in program.inputs]
    assume(not near_kink(program, evaluate_numpy(program)))
    # One pair of forwards along the tangents: (f(x + h v) - f(x - h v)) / 2h, output by output.
    h = FD_STEP * max([1.0] + [float(np.max(np.abs(v), initial=0.0)) for v in values])
    plus, minus = list(values), list(values)
    for n, i in enumerate(program.inputs):
        if i.name in tangents:
            plus[n] = values[n] + h * tangents[i.name]
            minus[n] = values[n] - h * tangents[i.name]
    f_plus, f_minus = program.forward(backend, plus), program.forward(backend, minus)
    tol = tolerance(backend, "float64", "directional")
    largest = max(
        [1.0]
        + [
            float(np.max(np.abs(v), initial=0.0))
            for v in evaluate_numpy(program).values()
            if v.dtype.kind == "f" and np.isfinite(v).all()
        ]
    )
    for k in _float_outputs(program):
        numeric = (np.asarray(f_plus[k], np.float64) - np.asarray(f_minus[k], np.float64)) / (2 * h)
        got = _or_zeros(pushed[k], outputs[k])
        comparison = compare(got, numeric, tol, scale=largest)
        if not comparison.ok:
            repro = jvp_repro(backend, program, tangents, {k: numeric}, tol, "tangent of", largest)
            raise repro.fail(
                f"tangent of {program.outputs[k]} vs central differences of the backend's "
                f"forward along the input tangents: {comparison.describe()}",
                program,
            )


@per_op()
@requirement("JVP-003")
@given(data=st.data())
def test_jvp_matches_reference(
    backend: Any, reference: Any, focus: str, data: st.DataObject
) -> None:
    require_op(backend, focus)
    program = draw_program(data, backend, requires_grad=True, focus=focus)
    _differentiable(program)
    tangents = _tangents(data, program)
    tol = tolerance(backend, program_dtype(program), "reference")
    with _must_not_raise(backend, program, tangents):
        backend_env = host_env(backend, program)
        _, got = program_jvp(backend, program, tangents)
    wide = as_float64(program)
    assume(not ambiguous_kink(program, backend_env, host_env(reference, wide), tol))
    wide_tangents = {n: t.astype(np.float64) for n, t in tangents.items()}
    # Every intermediate value and tangent on the reference: rounding scales with the largest.
    everything = Program(wide.inputs, wide.steps, tuple(s.name for s in wide.steps))
    values, inner = program_jvp(reference, everything, wide_tangents)
    scale = max(
        [1.0]
        + [
            float(np.max(np.abs(a), initial=0.0))
            for a in [*values, *inner]
            if a is not None and a.dtype.kind == "f" and np.isfinite(a).all()
        ]
    )
    _, want = program_jvp(reference, wide, wide_tangents)
    for k in _float_outputs(program):
        expected = _or_zeros(want[k], backend_env[program.outputs[k]])
        comparison = compare(_or_zeros(got[k], expected), expected, tol, scale=scale)
        if not comparison.ok:
            repro = jvp_repro(backend, program, tangents, {k: expected}, tol, "tangent of", scale)
            raise repro.fail(f"tangent of {program.outputs[k]}: {comparison.describe()}", program)


@requirement("JVP-004")
@given(data=st.data())
def test_jvp_primals_are_the_plain_forward(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, requires_grad=True)
    _differentiable(program)
    tangents = _tangents(data, program)
    with _must_not_raise(backend, program, tangents):
        outputs, _ = program_jvp(backend, program, tangents)
    plain = host_env(backend, program)
    for k, name in enumerate(program.outputs):
        want, got = plain[name], np.asarray(outputs[k])
        if got.dtype != want.dtype or not np.array_equal(got, want, equal_nan=True):
            repro = Repro(backend).line(
                f"plain = outputs[{k}].detach().clone()",
                f"plain = adapter.to_numpy(program.output_tensors(adapter, tensors)[{k}])",
            )
            jvp_repro(backend, program, tangents, {}, Tolerance(0, 0, "exact"), "", repro=repro)
            repro.line(
                f"assert torch.equal(values[{k}], plain), 'output {name} differs'",
                f"assert np.array_equal(values[{k}], plain, equal_nan=True), "
                f"'output {name} differs'",
            )
            raise repro.fail(
                f"output {name} of the forward-mode run differs from the plain run: "
                f"{got.dtype.name} {got.tolist()!r} against {want.dtype.name} {want.tolist()!r}",
                program,
            )


@requirement("JVP-005")
@given(data=st.data())
def test_jvp_tangents_have_their_primals_shape_and_dtype(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, requires_grad=True)
    _differentiable(program)
    tangents = _tangents(data, program)
    with _must_not_raise(backend, program, tangents):
        outputs, pushed = program_jvp(backend, program, tangents)
    for k in _float_outputs(program):
        name = program.outputs[k]
        if not leaf_ancestors(program, name):
            continue  # no tangent reaches it: none, or zeros, are both right
        out, tangent = np.asarray(outputs[k]), pushed[k]
        if tangent is None or tangent.shape != out.shape or tangent.dtype != out.dtype:
            found = "none" if tangent is None else f"{tangent.dtype.name} {tangent.shape}"
            repro = jvp_repro(backend, program, tangents, {}, Tolerance(0, 0, "exact"), "")
            repro.line(
                f"t = jvps[{k}]; assert t is not None and tuple(t.shape) == {out.shape!r} "
                f"and t.dtype == outputs[{k}].dtype, 'tangent of {name}'",
                f"t = jvps[{k}]; assert t is not None and t.shape == {out.shape!r} "
                f"and t.dtype == {out.dtype.name!r}, 'tangent of {name}'",
            )
            raise repro.fail(
                f"tangent of {name}: {found}, expected {out.dtype.name} {out.shape} "
                "(the output's dtype and shape)",
                program,
            )
