"""Errors that must be raised: where PyTorch refuses a call, the engine must refuse the same call
with the exception class its adapter declares for that kind of refusal (suites/refusals.py), and
where PyTorch quietly accepts (a gradient of another float dtype, an in-place op on a result that
nothing saved), it must accept too."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line, flags_line
from conformance.judge.numerics import compare, evaluate_numpy
from conformance.plugin import NOT_APPLICABLE
from conformance.spec.program import Apply, Input, Program
from conformance.spec.render import literal, torch_step_lines

from .refusals import expect_refusal, refusal_lines
from .requirement import requirement
from .strategies import shapes, values
from .support import (
    draw_cotangent,
    draw_program,
    draw_root,
    expect_flags,
    float_dtypes,
    grad_expr,
    grads,
    leaf_ancestors,
    leaves_requiring_grad,
    program_dtype,
    seed_for,
    shape_of,
    tolerance,
    with_steps,
)


def _require_ops(backend: Any, *ops: str) -> None:
    missing = [op for op in ops if op not in backend.capabilities.ops]
    if missing:
        pytest.skip(f"{NOT_APPLICABLE} the engine does not declare ops {missing}")


def _no_grads(
    backend: Any, program: Program, leaves: list[tuple[str, Any]], repro: Repro, when: str
) -> None:
    """Every leaf's .grad is still None (the leaves are fresh: nothing ran before)."""
    for name, got in grads(backend, leaves).items():
        if got is not None:
            torch_got, adapter_got = grad_expr(name)
            repro.line(
                f"assert {torch_got} is None, '{name}.grad was written {when}'",
                f"assert {adapter_got} is None, '{name}.grad was written {when}'",
            )
            raise repro.fail(f"{name}.grad was written {when}", program)


def _torch_array(array: np.ndarray, device_kw: str) -> str:
    return f"torch.tensor({literal(array)}, dtype=torch.{array.dtype.name}{device_kw})"


def _adapter_array(array: np.ndarray) -> str:
    return f"np.array({literal(array)}, dtype={array.dtype.name!r})"


def _setup(backend: Any, program: Program) -> tuple[list[Any], dict[str, Any], Repro]:
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    return tensors, env, Repro(backend).line("", evaluate_line())


# -- backward() --------------------------------------------------------------------------------
@requirement("ERR-001")
@given(data=st.data())
def test_backward_without_gradient_refuses_non_scalar(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, requires_grad=True)
    root = draw_root(data, program)
    shape = shape_of(program, root)
    assume(int(np.prod(shape)) != 1)
    tensors, env, repro = _setup(backend, program)
    leaves = leaves_requiring_grad(program, tensors)
    what = f"{root}.backward() without a gradient on an output of shape {shape}"
    refusal_lines(
        repro, "implicit_gradient", f"{root}.backward()", f"adapter.backward(env[{root!r}])", what
    )
    expect_refusal(
        backend,
        "implicit_gradient",
        lambda: backend.backward(env[root]),
        what=what,
        repro=repro,
        program=program,
    )
    _no_grads(backend, program, leaves, repro, "by the refused backward")


ONE_ELEMENT_SHAPES = ((), (1,), (1, 1), (1, 1, 1))


@requirement("ERR-002")
@given(data=st.data())
def test_one_element_output_is_seeded_with_one(backend: Any, data: st.DataObject) -> None:
    _require_ops(backend, "sum")
    program = draw_program(data, backend, requires_grad=True)
    root = draw_root(data, program)
    shapes_here = ONE_ELEMENT_SHAPES if "reshape" in backend.capabilities.ops else ((),)
    shape = data.draw(st.sampled_from(shapes_here), label="one-element shape")
    steps = [Apply("s", "sum", (root,), {"dim": None})]
    if shape:
        steps.append(Apply("one", "reshape", ("s",), {"shape": list(shape)}))
    out = steps[-1].name
    program = with_steps(program, steps, (out,))
    tensors, env, repro = _setup(backend, program)
    leaves = leaves_requiring_grad(program, tensors)
    repro.prelude = True
    repro.line(f"{out}.backward()", f"adapter.backward(env[{out!r}])")
    with engine_must_not_raise(f"{out}.backward() on a one-element output", repro, program):
        backend.backward(env[out])
    implicit = grads(backend, leaves)
    # Then the same program again, on the same leaves, seeded explicitly with ones.
    ones = np.ones(shape, dtype=program_dtype(program))
    repro.line(
        "implicit = {" + ", ".join(f"{n!r}: _host({n}.grad)" for n, _ in leaves) + "}",
        "implicit = {" + ", ".join(f"{n!r}: adapter.grad(env[{n!r}])" for n, _ in leaves) + "}",
    )
    for name, tensor in leaves:
        backend.clear_grad(tensor)
        repro.line(f"{name}.grad = None", f"adapter.clear_grad(env[{name!r}])")
    repro.line("\n".join(torch_step_lines(program)), evaluate_line())
    repro.line(
        f"{out}.backward({_torch_array(ones, repro.device_kw)})",
        f"adapter.backward(env[{out!r}], {_adapter_array(ones)})",
    )
    env = program.evaluate(backend, tensors)
    with engine_must_not_raise(f"{out}.backward(ones)", repro, program):
        backend.backward(env[out], ones)
    tol = tolerance(backend, program_dtype(program), "nondeterminism")
    for name, tensor in leaves:
        want, got = grads(backend, [(name, tensor)])[name], implicit[name]
        if want is None and got is None:
            continue
        comparison = compare(got, np.zeros(0) if want is None else want, tol)
        if want is None or got is None or not comparison.ok:
            torch_got, adapter_got = grad_expr(name)
            label = f"{name}.grad from {out}.backward() vs from {out}.backward(ones)"
            repro.line(
                f"_close({label!r}, implicit[{name!r}], _host({torch_got}), {tol.rtol!r}, "
                f"{tol.atol!r})",
                f"_close({label!r}, implicit[{name!r}], {adapter_got}, {tol.rtol!r}, {tol.atol!r})",
            )
            detail = "one of them is None" if want is None or got is None else comparison.describe()
            raise repro.fail(
                f"{name}.grad after backward() without a gradient on a one-element output of "
                f"shape {shape} differs from backward with ones: {detail}",
                program,
            )


@requirement("ERR-003")
@given(data=st.data(), from_leaf=st.booleans())
def test_backward_from_tensor_without_grad_refuses(
    backend: Any, data: st.DataObject, from_leaf: bool
) -> None:
    if from_leaf:
        dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype")
        value = data.draw(values((), dtype), label="value")
        program = Program((Input("t", value),), (), ("t",))
        root = "t"
    else:
        _require_ops(backend, "sum")
        program = draw_program(data, backend, requires_grad=False)
        floats = [o for o in program.outputs if o in {s.name for s in program.steps}]
        computed = evaluate_numpy(program)
        floats = [o for o in floats if np.asarray(computed[o]).dtype.kind == "f"]
        assume(floats)
        picked = data.draw(st.sampled_from(floats), label="root")
        program = with_steps(program, [Apply("s", "sum", (picked,), {"dim": None})], ("s",))
        root = "s"
    tensors, env, repro = _setup(backend, program)
    what = f"{root}.backward() on a tensor that does not require grad"
    if from_leaf:
        what += " (a leaf)"
    refusal_lines(
        repro, "root_without_grad", f"{root}.backward()", f"adapter.backward(env[{root!r}])", what
    )
    expect_refusal(
        backend,
        "root_without_grad",
        lambda: backend.backward(env[root]),
        what=what,
        repro=repro,
        program=program,
    )


@st.composite
def _wrong_shapes(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that is not `shape`: one it broadcasts from or to, one with a dimension more or
    less, a permutation, a flat one of the same size, or any other."""
    size = int(np.prod(shape))
    candidates = [(1,) + shape, shape[1:], (size,), (size + 1,), tuple(reversed(shape)), (1,)]
    if shape:
        candidates.append((*shape[:-1], shape[-1] + 1))
        candidates.append(tuple(1 for _ in shape))
    candidates.append(draw(shapes(max_rank=3, max_side=4)))
    wrong = [c for c in candidates if c != shape]
    return tuple(draw(st.sampled_from(wrong)))


@requirement("ERR-004")
@given(data=st.data())
def test_gradient_of_another_shape_is_refused(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, requires_grad=True)
    root = draw_root(data, program)
    shape = shape_of(program, root)
    wrong = data.draw(_wrong_shapes(shape), label="gradient shape")
    seed = seed_for(program, draw_cotangent(data, wrong))
    tensors, env, repro = _setup(backend, program)
    leaves = leaves_requiring_grad(program, tensors)
    what = f"{root}.backward(gradient) with a gradient of shape {wrong} for an output of {shape}"
    refusal_lines(
        repro,
        "gradient_shape",
        f"{root}.backward({_torch_array(seed, repro.device_kw)})",
        f"adapter.backward(env[{root!r}], {_adapter_array(seed)})",
        what,
    )
    expect_refusal(
        backend,
        "gradient_shape",
        lambda: backend.backward(env[root], seed),
        what=what,
        repro=repro,
        program=program,
    )
    _no_grads(backend, program, leaves, repro, "by the refused backward")


@requirement("ERR-005")
@given(data=st.data())
def test_gradient_of_another_float_dtype_is_cast(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, requires_grad=True)
    root = draw_root(data, program)
    cotangent = draw_cotangent(data, shape_of(program, root))
    own = seed_for(program, cotangent)
    other = cotangent.astype("float64" if own.dtype == np.float32 else "float32")
    tensors, env, repro = _setup(backend, program)
    leaves = leaves_requiring_grad(program, tensors)
    repro.prelude = True
    repro.line(
        f"{root}.backward({_torch_array(other, repro.device_kw)})",
        f"adapter.backward(env[{root!r}], {_adapter_array(other)})",
    )
    with engine_must_not_raise(
        f"{root}.backward(gradient) with a {other.dtype.name} gradient for a {own.dtype.name} "
        "output",
        repro,
        program,
    ):
        backend.backward(env[root], other)
    cast = grads(backend, leaves)
    dtypes = {name: backend.grad_dtype(tensor) for name, tensor in leaves}
    repro.line(
        "cast = {" + ", ".join(f"{n!r}: _host({n}.grad)" for n, _ in leaves) + "}",
        "cast = {" + ", ".join(f"{n!r}: adapter.grad(env[{n!r}])" for n, _ in leaves) + "}",
    )
    leaf_dtypes = {i.name: i.value.dtype.name for i in program.inputs}
    for name, _ in leaves:
        want = leaf_dtypes[name]
        if cast[name] is not None and dtypes[name] != want:
            torch_got, adapter_got = grad_expr(name)
            repro.line(
                f"assert str({torch_got}.dtype).endswith({want!r}), 'dtype of {name}.grad'",
                f"assert str({adapter_got}.dtype) == {want!r}, 'dtype of {name}.grad'",
            )
            raise repro.fail(
                f"{name}.grad after a {other.dtype.name} gradient is {dtypes[name]}, not the "
                f"leaf's {want}",
                program,
            )
    for name, tensor in leaves:
        backend.clear_grad(tensor)
        repro.line(f"{name}.grad = None", f"adapter.clear_grad(env[{name!r}])")
    repro.line("\n".join(torch_step_lines(program)), evaluate_line())
    repro.line(
        f"{root}.backward({_torch_array(own, repro.device_kw)})",
        f"adapter.backward(env[{root!r}], {_adapter_array(own)})",
    )
    env = program.evaluate(backend, tensors)
    with engine_must_not_raise(f"{root}.backward(gradient) in its own dtype", repro, program):
        backend.backward(env[root], own)
    tol = tolerance(backend, program_dtype(program), "nondeterminism")
    for name, tensor in leaves:
        want_grad, got = backend.grad(tensor), cast[name]
        if want_grad is None and got is None:
            continue
        comparison = compare(got, np.zeros(0) if want_grad is None else want_grad, tol)
        if want_grad is None or got is None or not comparison.ok:
            torch_got, adapter_got = grad_expr(name)
            label = f"{name}.grad from a {other.dtype.name} gradient vs from a {own.dtype.name} one"
            repro.line(
                f"_close({label!r}, cast[{name!r}], _host({torch_got}), {tol.rtol!r}, "
                f"{tol.atol!r})",
                f"_close({label!r}, cast[{name!r}], {adapter_got}, {tol.rtol!r}, {tol.atol!r})",
            )
            detail = (
                "one of them is None"
                if want_grad is None or got is None
                else (comparison.describe())
            )
            raise repro.fail(f"{label}: {detail}", program)


# -- autograd.grad -----------------------------------------------------------------------------
def _with_extra_input(
    data: st.DataObject, backend: Any, program: Program, name: str, requires_grad: bool
) -> Program:
    dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label=f"{name} dtype")
    shape = data.draw(shapes(max_rank=2, max_side=3), label=f"{name} shape")
    value = data.draw(values(shape, dtype), label=name)
    return Program(
        (*program.inputs, Input(name, value, requires_grad)), program.steps, program.outputs
    )


def _grad_of_lines(
    repro: Repro, root: str, wrt: list[str], seed: np.ndarray, extra: str = ""
) -> tuple[str, str]:
    """`autograd.grad` of root w.r.t. `wrt`, seeded with `seed`, in both dialects."""
    torch_src = (
        f"torch.autograd.grad([{root}], [{', '.join(wrt)}], "
        f"[{_torch_array(seed, repro.device_kw)}]{extra})"
    )
    adapter_src = (
        f"adapter.grad_of([env[{root!r}]], [{', '.join(f'env[{n!r}]' for n in wrt)}], "
        f"[{_adapter_array(seed)}]{extra})"
    )
    return torch_src, adapter_src


def _unused_case(
    backend: Any, data: st.DataObject
) -> tuple[Program, str, list[str], np.ndarray, dict[str, Any], Repro]:
    """A program, a root, the inputs it reaches plus an unused input `u` that requires grad
    (at a drawn position), and the root's seed."""
    program = draw_program(data, backend, requires_grad=True)
    root = draw_root(data, program)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    program = _with_extra_input(data, backend, program, "u", requires_grad=True)
    reached = sorted(leaf_ancestors(program, root))
    at = data.draw(st.integers(0, len(reached)), label="position of u")
    wrt = [*reached[:at], "u", *reached[at:]]
    _, env, repro = _setup(backend, program)
    return program, root, wrt, seed, env, repro


@requirement("ERR-006")
@given(data=st.data())
def test_grad_of_refuses_unreached_input(backend: Any, data: st.DataObject) -> None:
    program, root, wrt, seed, env, repro = _unused_case(backend, data)
    what = f"autograd.grad of {root} for inputs {wrt}, of which u is not used"
    torch_src, adapter_src = _grad_of_lines(repro, root, wrt, seed)
    refusal_lines(repro, "unused_input", torch_src, adapter_src, what)
    expect_refusal(
        backend,
        "unused_input",
        lambda: backend.grad_of([env[root]], [env[n] for n in wrt], [seed]),
        what=what,
        repro=repro,
        program=program,
    )


@requirement("ERR-007")
@given(data=st.data())
def test_grad_of_allow_unused_gives_none(backend: Any, data: st.DataObject) -> None:
    program, root, wrt, seed, env, repro = _unused_case(backend, data)
    torch_src, adapter_src = _grad_of_lines(repro, root, wrt, seed, ", allow_unused=True")
    repro.prelude = True
    repro.line(f"got = dict(zip({wrt!r}, {torch_src}))", f"got = dict(zip({wrt!r}, {adapter_src}))")
    with engine_must_not_raise("autograd.grad with allow_unused=True", repro, program):
        got = dict(
            zip(
                wrt,
                backend.grad_of([env[root]], [env[n] for n in wrt], [seed], allow_unused=True),
                strict=True,
            )
        )
    if got["u"] is not None:
        repro.line("assert got['u'] is None, 'gradient of the unused u is not None'")
        raise repro.fail(
            f"autograd.grad with allow_unused=True gave the unused input u a gradient "
            f"(shape {np.shape(got['u'])}), not None",
            program,
        )
    reached = [n for n in wrt if n != "u"]
    env = program.evaluate(backend, [env[i.name] for i in program.inputs])
    torch_src, adapter_src = _grad_of_lines(repro, root, reached, seed)
    repro.line("\n".join(torch_step_lines(program)), evaluate_line())
    repro.line(
        f"alone = dict(zip({reached!r}, {torch_src}))",
        f"alone = dict(zip({reached!r}, {adapter_src}))",
    )
    with engine_must_not_raise("autograd.grad for the reached inputs only", repro, program):
        alone = dict(
            zip(
                reached,
                backend.grad_of([env[root]], [env[n] for n in reached], [seed]),
                strict=True,
            )
        )
    tol = tolerance(backend, program_dtype(program), "nondeterminism")
    for name in reached:
        comparison = compare(got[name], alone[name], tol)
        if got[name] is None or alone[name] is None or not comparison.ok:
            label = f"gradient of {name} with the unused u listed vs without it"
            repro.line(
                f"_close({label!r}, got[{name!r}], alone[{name!r}], {tol.rtol!r}, {tol.atol!r})"
            )
            raise repro.fail(f"{label}: {comparison.describe()}", program)


@requirement("ERR-008")
@given(data=st.data())
def test_grad_of_materialize_grads_gives_zeros(backend: Any, data: st.DataObject) -> None:
    program, root, wrt, seed, env, repro = _unused_case(backend, data)
    unused = next(i.value for i in program.inputs if i.name == "u")
    torch_src, adapter_src = _grad_of_lines(repro, root, wrt, seed, ", materialize_grads=True")
    repro.line(f"got = dict(zip({wrt!r}, {torch_src}))", f"got = dict(zip({wrt!r}, {adapter_src}))")
    with engine_must_not_raise("autograd.grad with materialize_grads=True", repro, program):
        got = dict(
            zip(
                wrt,
                backend.grad_of([env[root]], [env[n] for n in wrt], [seed], materialize_grads=True),
                strict=True,
            )
        )
    grad = got["u"]
    wrong = (
        "None"
        if grad is None
        else f"{np.asarray(grad).dtype.name} of shape {np.shape(grad)}"
        if np.shape(grad) != unused.shape or np.asarray(grad).dtype != unused.dtype
        else "not all zero"
        if np.any(np.asarray(grad) != 0)
        else ""
    )
    if wrong:
        want = f"{unused.dtype.name} zeros of shape {unused.shape}"
        repro.prelude = True
        repro.line(
            f"assert got['u'] is not None and tuple(got['u'].shape) == {unused.shape!r} and "
            f"str(got['u'].dtype).endswith({unused.dtype.name!r}) and not _host(got['u']).any(), "
            f"'expected {want}'"
        )
        raise repro.fail(
            f"autograd.grad with materialize_grads=True gave the unused input u {wrong}; "
            f"expected {want}",
            program,
        )


@requirement("ERR-009")
@given(data=st.data(), allow_unused=st.booleans(), used=st.booleans())
def test_grad_of_refuses_input_without_grad(
    backend: Any, data: st.DataObject, allow_unused: bool, used: bool
) -> None:
    program = draw_program(data, backend, requires_grad=True)
    root = draw_root(data, program)
    shape = shape_of(program, root)
    dtype = program_dtype(program)
    value = data.draw(values(shape, dtype), label="c")
    program = Program((*program.inputs, Input("c", value)), program.steps, program.outputs)
    if used:
        _require_ops(backend, "add")
        program = with_steps(program, [Apply("r", "add", (root, "c"))], ("r",))
        root = "r"
    seed = seed_for(program, draw_cotangent(data, shape))
    reached = sorted(leaf_ancestors(program, root))
    at = data.draw(st.integers(0, len(reached)), label="position of c")
    wrt = [*reached[:at], "c", *reached[at:]]
    _, env, repro = _setup(backend, program)
    extra = ", allow_unused=True" if allow_unused else ""
    what = (
        f"autograd.grad of {root} for inputs {wrt}, where c does not require grad"
        f"{' (and is used)' if used else ''}{extra}"
    )
    torch_src, adapter_src = _grad_of_lines(repro, root, wrt, seed, extra)
    refusal_lines(repro, "input_without_grad", torch_src, adapter_src, what)
    expect_refusal(
        backend,
        "input_without_grad",
        lambda: backend.grad_of(
            [env[root]], [env[n] for n in wrt], [seed], allow_unused=allow_unused
        ),
        what=what,
        repro=repro,
        program=program,
    )


# -- in-place ops ------------------------------------------------------------------------------
@requirement("ERR-010")
@given(data=st.data())
def test_inplace_on_leaf_requiring_grad(backend: Any, data: st.DataObject) -> None:
    dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype")
    shape = data.draw(shapes(max_rank=3, max_side=4), label="shape")
    before = data.draw(values(shape, dtype), label="x")
    other = data.draw(values(shape, dtype), label="c")
    program = Program((Input("x", before, True), Input("c", other)), (), ("x",))
    tensors, env, repro = _setup(backend, program)
    x, c = env["x"], env["c"]
    what = "x.add_(c) on a leaf x that requires grad, with grad mode on"
    refusal_lines(
        repro, "leaf_inplace", "x.add_(c)", "adapter.inplace_add(env['x'], env['c'])", what
    )
    expect_refusal(
        backend,
        "leaf_inplace",
        lambda: backend.inplace_add(x, c),
        what=what,
        repro=repro,
        program=program,
    )
    # x keeps its values, and stays a leaf that requires grad (grad_fn is LEAF-001's check).
    _expect_leaf_holding(
        backend, program, repro, x, before,
        "x changed by the refused add_", "the refused x.add_(c) changed x's values",
        "after the refused add_",
    )  # fmt: skip
    # Under no-grad the same call is an optimizer step: carried out, and x stays a leaf.
    repro.line(
        "with torch.no_grad():\n    x.add_(c)",
        "with adapter.no_grad():\n    adapter.inplace_add(env['x'], env['c'])",
    )
    with engine_must_not_raise("x.add_(c) under no-grad", repro, program), backend.no_grad():
        backend.inplace_add(x, c)
    _expect_leaf_holding(
        backend, program, repro, x, (before + other).astype(dtype),
        "x.add_(c) under no_grad", "x.add_(c) under no-grad did not leave x + c in x",
        "after x.add_(c) under no-grad",
    )  # fmt: skip


def _expect_leaf_holding(
    backend: Any,
    program: Program,
    repro: Repro,
    x: Any,
    want: np.ndarray,
    assertion: str,
    failure: str,
    context: str,
) -> None:
    """The leaf x holds exactly `want` and is still a leaf that requires grad."""
    if not np.array_equal(backend.to_numpy(x), want):
        repro.line(
            f"assert (x.detach() == {_torch_array(want, repro.device_kw)}).all(), {assertion!r}",
            f"assert (adapter.to_numpy(env['x']) == {_adapter_array(want)}).all(), {assertion!r}",
        )
        raise repro.fail(failure, program)
    flags_line(repro, "x", is_leaf=True, requires_grad=True)
    expect_flags(
        backend, program, "x", x, is_leaf=True, requires_grad=True, context=context, repro=repro
    )


SAVES_RESULT = ("exp", "sigmoid", "tanh")
"""Ops whose backward uses their result, which PyTorch saves (derivatives.yaml: `result`)."""
SAVES_OPERAND: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "sin": (("h",), {}),
    "abs": (("h",), {}),
    "pow": (("h",), {"exponent": 2}),
    "mul": (("h", "h"), {}),
}
"""Ops whose backward uses their operand, which PyTorch saves: the operand, args and params."""


@requirement("ERR-011")
@given(data=st.data())
def test_backward_refuses_saved_tensor_modified_in_place(backend: Any, data: st.DataObject) -> None:
    ops = backend.capabilities.ops
    choices = [("result", op) for op in SAVES_RESULT if op in ops]
    if "add" in ops:
        choices += [("operand", op) for op in SAVES_OPERAND if op in ops]
    if not choices or "sum" not in ops:
        pytest.skip(f"{NOT_APPLICABLE} the engine declares none of the ops this check uses")
    saves, op = data.draw(st.sampled_from(choices), label="saved")
    dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype")
    shape = data.draw(shapes(max_rank=2, max_side=4), label="shape")
    x = data.draw(values(shape, dtype), label="x")
    c = data.draw(values(shape, dtype), label="c")
    inputs = [Input("x", x, True), Input("c", c)]
    if saves == "result":
        steps = [Apply("y", op, ("x",))]
        written = "y"
    else:
        args, params = SAVES_OPERAND[op]
        inputs.append(Input("c0", data.draw(values(shape, dtype), label="c0")))
        steps = [Apply("h", "add", ("x", "c0")), Apply("y", op, args, params)]
        written = "h"
    program = Program(tuple(inputs), tuple(steps), ("y",))
    tensors, env, repro = _setup(backend, program)
    saved_by = f"{op} saves its {saves} {written}"
    repro.line(f"{written}.add_(c)", f"adapter.inplace_add(env[{written!r}], env['c'])")
    with engine_must_not_raise(f"{written}.add_(c) ({saved_by})", repro, program):
        backend.inplace_add(env[written], env["c"])
    repro.line("loss = y.sum()", "loss = adapter.apply('sum', [env['y']], {'dim': None})")
    with engine_must_not_raise("loss = y.sum()", repro, program):
        loss = backend.apply("sum", [env["y"]], {"dim": None})
    what = f"loss.backward() after {written}.add_(c), where {saved_by} for backward"
    refusal_lines(repro, "modified_saved", "loss.backward()", "adapter.backward(loss)", what)
    expect_refusal(
        backend,
        "modified_saved",
        lambda: backend.backward(loss),
        what=what,
        repro=repro,
        program=program,
    )


@requirement("ERR-012")
@given(data=st.data(), w_requires_grad=st.booleans())
def test_inplace_on_unsaved_result_is_fine(
    backend: Any, data: st.DataObject, w_requires_grad: bool
) -> None:
    _require_ops(backend, "add", "mul", "sum")
    dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype")
    shape = data.draw(shapes(max_rank=2, max_side=4), label="shape")
    drawn = {n: data.draw(values(shape, dtype), label=n) for n in ("x", "w", "c", "k")}
    program = Program(
        (
            Input("x", drawn["x"], True),
            Input("w", drawn["w"], w_requires_grad),
            Input("c", drawn["c"]),
            Input("k", drawn["k"]),
        ),
        (Apply("h", "add", ("x", "w")),),
        ("h",),
    )
    tensors, env, repro = _setup(backend, program)
    leaves = leaves_requiring_grad(program, tensors)
    repro.prelude = True
    repro.line("h.add_(c)", "adapter.inplace_add(env['h'], env['c'])")
    repro.line(
        "loss = (h * k).sum()\nloss.backward()",
        "loss = adapter.apply('sum', [adapter.apply('mul', [env['h'], env['k']], {})], "
        "{'dim': None})\nadapter.backward(loss)",
    )
    with engine_must_not_raise(
        "h.add_(c), then loss = (h * k).sum(); loss.backward()", repro, program
    ):
        backend.inplace_add(env["h"], env["c"])
        product = backend.apply("mul", [env["h"], env["k"]], {})
        backend.backward(backend.apply("sum", [product], {"dim": None}))
    # d/dx sum((x + w + c) * k) = k, and the same for w: the in-place add changes no gradient.
    tol = tolerance(backend, dtype, "reference")
    for name, tensor in leaves:
        got = backend.grad(tensor)
        comparison = compare(got, drawn["k"], tol)
        if got is None or not comparison.ok:
            torch_got, adapter_got = grad_expr(name)
            repro.close(f"{name}.grad", torch_got, adapter_got, drawn["k"], tol)
            raise repro.fail(
                f"{name}.grad after h = x + w; h.add_(c); (h * k).sum().backward(): "
                f"{'None' if got is None else comparison.describe()}; expected k",
                program,
            )
