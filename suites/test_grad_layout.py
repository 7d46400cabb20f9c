"""What backward() leaves in .grad: the leaf's dtype and shape, and the reference gradient; and
the layout of what grad_of returns."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line
from conformance.judge.numerics import compare
from conformance.spec.render import literal

from .requirement import requirement
from .support import (
    assume_no_ambiguous_kink,
    backward_line,
    draw_cotangent,
    draw_program,
    draw_root,
    grad_expr,
    leaves_requiring_grad,
    per_op,
    program_dtype,
    reference_gradients,
    reference_scale,
    require_op,
    seed_for,
    shape_of,
    single_root,
    tolerance,
)


def _backward(backend: Any, data: st.DataObject, focus: str | None = None) -> tuple[Any, ...]:
    program = draw_program(data, backend, focus=focus)
    root = draw_root(data, program)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    repro = Repro(backend).line("", evaluate_line())
    backward_line(repro, root, seed)
    with engine_must_not_raise(f"backward of {root}", repro, program):
        backend.backward(env[root], seed)
    return program, root, seed, tensors, repro


@requirement("DTYPE-001")
@given(data=st.data())
def test_grad_has_the_leaf_dtype(backend: Any, data: st.DataObject) -> None:
    program, root, _, tensors, repro = _backward(backend, data)
    for inp, tensor in zip(program.inputs, tensors, strict=True):
        got = backend.grad_dtype(tensor)
        if got is not None and got != backend.dtype(tensor):
            torch_got, adapter_got = grad_expr(inp.name)
            repro.line(
                f"assert {torch_got}.dtype == {inp.name}.dtype, "
                f"f'{inp.name}.grad is {{{torch_got}.dtype}}, {inp.name} is {{{inp.name}.dtype}}'",
                f"assert adapter.grad_dtype(env[{inp.name!r}]) == "
                f"adapter.dtype(env[{inp.name!r}]), '{inp.name}.grad has another dtype'",
            )
            raise repro.fail(
                f"{inp.name}.grad has dtype {got}; expected the leaf's {backend.dtype(tensor)} "
                f"(backward of {root})",
                program,
            )


@requirement("SHAPE-001")
@given(data=st.data())
def test_grad_has_the_leaf_shape(backend: Any, data: st.DataObject) -> None:
    program, root, _, tensors, repro = _backward(backend, data)
    for inp, tensor in zip(program.inputs, tensors, strict=True):
        got = backend.grad(tensor)
        if got is not None and got.shape != inp.value.shape:
            torch_got, adapter_got = grad_expr(inp.name)
            repro.line(
                f"assert tuple({torch_got}.shape) == {inp.value.shape!r}, "
                f"f'{inp.name}.grad has shape {{tuple({torch_got}.shape)}}'",
                f"assert {adapter_got}.shape == {inp.value.shape!r}, "
                f"f'{inp.name}.grad has shape {{{adapter_got}.shape}}'",
            )
            raise repro.fail(
                f"{inp.name}.grad has shape {tuple(got.shape)}; expected the leaf's "
                f"{inp.value.shape} (backward of {root})",
                program,
            )


@per_op()
@requirement("TAPE-001")
@given(data=st.data())
def test_backward_leaves_reference_gradients(
    backend: Any, reference: Any, focus: str, data: st.DataObject
) -> None:
    require_op(backend, focus)
    program, root, seed, tensors, repro = _backward(backend, data, focus)
    assume_no_ambiguous_kink(backend, reference, program)
    expected = reference_gradients(reference, single_root(program, root), [seed])
    tol = tolerance(backend, program_dtype(program), "reference")
    repro.scale = reference_scale(reference, single_root(program, root), [seed])
    repro.prelude = True
    for inp, tensor in zip(program.inputs, tensors, strict=True):
        got = backend.grad(tensor)
        want = expected.get(inp.name) if inp.differentiable else None
        torch_got, adapter_got = grad_expr(inp.name)
        if want is None:
            if got is not None:
                why = (
                    "it does not require grad"
                    if not inp.differentiable
                    else (f"{root} does not depend on it")
                )
                repro.line(
                    f"assert {torch_got} is None, '{inp.name}.grad is set'",
                    f"assert {adapter_got} is None, '{inp.name}.grad is set'",
                )
                raise repro.fail(
                    f"{inp.name}.grad is set after backward of {root}; expected None ({why})",
                    program,
                )
            continue
        comparison = compare(got, want, tol, scale=repro.scale)
        if not comparison.ok:
            repro.close(f"{inp.name}.grad", torch_got, adapter_got, np.asarray(want), tol)
            raise repro.fail(
                f"{inp.name}.grad after backward of {root}: {comparison.describe()}", program
            )


@requirement("VJP-002")
@given(data=st.data())
def test_functional_vjp_has_each_input_layout(backend: Any, data: st.DataObject) -> None:
    # Each returned gradient is compared with the input's own host array, so an engine whose
    # host arrays widen a dtype (bfloat16 to float32, say) is judged consistently.
    program = draw_program(data, backend)
    root = draw_root(data, program)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    leaves = leaves_requiring_grad(program, tensors)
    names = [n for n, _ in leaves]
    repro = Repro(backend).line("", evaluate_line())
    repro.line(
        f"returned = torch.autograd.grad([{root}], [{', '.join(names)}], "
        f"[torch.tensor({literal(seed)}, dtype={root}.dtype{repro.device_kw})], "
        "allow_unused=True)",
        f"returned = adapter.grad_of([env[{root!r}]], [{', '.join(f'env[{n!r}]' for n in names)}]"
        f", [np.array({literal(seed)}, dtype={seed.dtype.name!r})], allow_unused=True)",
    )
    with engine_must_not_raise(f"grad_of({root}, {names})", repro, program):
        returned = backend.grad_of([env[root]], [t for _, t in leaves], [seed], allow_unused=True)
    for k, (name, tensor) in enumerate(leaves):
        got, leaf = returned[k], backend.to_numpy(tensor)
        if got is None:  # the root does not reach this input: no gradient to lay out
            continue
        if got.shape != leaf.shape or got.dtype != leaf.dtype:
            repro.line(
                f"assert returned[{k}] is None or (returned[{k}].shape == {name}.shape and "
                f"returned[{k}].dtype == {name}.dtype), 'grad_of -> {name} has another layout'",
                f"assert returned[{k}] is None or (returned[{k}].shape == {leaf.shape!r} and "
                f"returned[{k}].dtype.name == {leaf.dtype.name!r}), "
                f"'grad_of -> {name} has another layout'",
            )
            raise repro.fail(
                f"grad_of({root}) for {name} has shape {got.shape} and dtype {got.dtype.name}; "
                f"expected the input's {leaf.shape} and {leaf.dtype.name}",
                program,
            )
