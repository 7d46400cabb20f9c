"""Parity between two backends, typically one engine on two devices (`torch:cuda` against
`torch:cpu`): the same generated programs, the same values and gradients; `.grad` where the leaf
lives; and repeated backward passes on the device under test that agree with each other."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import vjp_repro
from conformance.judge.evidence import Nonconformance
from conformance.judge.numerics import compare, program_vjp
from conformance.spec.tolerances import lookup

from ..requirement import requirement
from ..strategies import for_backend, programs
from ..support import (
    draw_cotangent,
    float_dtypes,
    host_env,
    program_dtype,
    reference_scale,
)


def _shared_program(data: st.DataObject, backend: Any, counterpart: Any) -> Any:
    dtypes = float_dtypes(backend) & float_dtypes(counterpart)
    ops = backend.capabilities.ops & counterpart.capabilities.ops
    strategy = for_backend(backend, programs, dtypes=dtypes, ops=ops, requires_grad=True)
    return data.draw(strategy, label="program")


def _cotangents(data: st.DataObject, backend: Any, program: Any) -> list[np.ndarray]:
    env = host_env(backend, program)
    return [draw_cotangent(data, np.shape(env[o]), f"cotangent {o}") for o in program.outputs]


def _differentiable_grads(grads: dict[str, np.ndarray | None], program: Any) -> dict:
    shapes = {i.name: i.value.shape for i in program.inputs}
    return {n: np.zeros(shapes[n]) if g is None else g for n, g in grads.items()}


@requirement("PARITY-001")
@given(data=st.data())
def test_values_and_gradients_agree_with_counterpart(
    backend: Any, counterpart: Any, reference: Any, data: st.DataObject
) -> None:
    program = _shared_program(data, backend, counterpart)
    cotangents = _cotangents(data, backend, program)
    dtype = program_dtype(program)
    tol = lookup(dtype, backend.device, "parity")
    outs, grads = program_vjp(backend, program, cotangents)
    want_outs, want_grads = program_vjp(counterpart, program, cotangents)
    expected = _differentiable_grads(want_grads, program)
    # Rounding scales with the largest magnitude the computation passes through, not with a
    # result that happens to cancel to near zero (see tolerances).
    scale = reference_scale(reference, program, cotangents)
    repro = vjp_repro(backend, program, cotangents, expected, tol, "gradient", scale)
    for name, out, want in zip(program.outputs, outs, want_outs, strict=True):
        result = compare(out, want, tol, scale=scale)
        if not result.ok:
            raise repro.fail(f"output {name}: {result.describe()}", program)
    for name, got in _differentiable_grads(grads, program).items():
        result = compare(got, expected[name], tol, scale=scale)
        if not result.ok:
            raise repro.fail(f"gradient of {name}: {result.describe()}", program)


@requirement("PARITY-002")
@given(data=st.data())
def test_grad_lives_with_its_leaf(backend: Any, counterpart: Any, data: st.DataObject) -> None:
    program = _shared_program(data, backend, counterpart)
    tensors = program.make_inputs(backend)
    outputs = program.output_tensors(backend, tensors)
    roots = [o for o in outputs if backend.requires_grad(o)]
    if not roots:
        return
    loss = roots[0]
    cotangent = np.ones(np.shape(backend.to_numpy(loss)), dtype=backend.dtype(loss))
    backend.backward(loss, cotangent)
    for spec, leaf in zip(program.inputs, tensors, strict=True):
        if not spec.differentiable or backend.grad(leaf) is None:
            continue
        where, grad_where = backend.device_of(leaf), backend.grad_device(leaf)
        problems = []
        if grad_where != where:
            problems.append(f"device {grad_where} (leaf on {where})")
        if backend.grad_dtype(leaf) != backend.dtype(leaf):
            problems.append(f"dtype {backend.grad_dtype(leaf)} (leaf {backend.dtype(leaf)})")
        if np.shape(backend.grad(leaf)) != spec.value.shape:
            problems.append(f"shape {np.shape(backend.grad(leaf))} (leaf {spec.value.shape})")
        if problems:
            raise Nonconformance(f".grad of {spec.name}: {', '.join(problems)}", program=program)


@requirement("PARITY-003")
@given(data=st.data())
def test_repeated_backward_is_stable(
    backend: Any, counterpart: Any, reference: Any, data: st.DataObject
) -> None:
    program = _shared_program(data, backend, counterpart)
    cotangents = _cotangents(data, backend, program)
    tol = lookup(program_dtype(program), backend.device, "nondeterminism")
    _, first = program_vjp(backend, program, cotangents)
    _, second = program_vjp(backend, program, cotangents)
    first = _differentiable_grads(first, program)
    scale = reference_scale(reference, program, cotangents)
    repro = vjp_repro(backend, program, cotangents, first, tol, "second gradient", scale)
    for name, got in _differentiable_grads(second, program).items():
        result = compare(got, first[name], tol, scale=scale)
        if not result.ok:
            raise repro.fail(f"second VJP of {name}: {result.describe()}", program)
