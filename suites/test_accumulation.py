"""Gradient accumulation in .grad: repeated backward calls, repeated use, clearing, non-leaves,
retain_graph, and the functional VJP that must not accumulate."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line
from conformance.judge.numerics import as_float64, compare
from conformance.spec.program import Apply, Input, Program
from conformance.spec.render import literal, torch_step_lines

from .refusals import expect_refusal, refusal_lines
from .requirement import requirement
from .strategies import shapes, values
from .support import (
    assume_no_ambiguous_kink,
    backward_line,
    draw_cotangent,
    draw_program,
    draw_root,
    float_dtypes,
    grad_expr,
    grads,
    leaves_requiring_grad,
    program_dtype,
    reference_gradients,
    reference_scale,
    requires_grad_map,
    seed_for,
    shape_of,
    single_root,
    tolerance,
    with_steps,
)


def _setup(backend: Any, data: st.DataObject, **kwargs: Any) -> tuple[Any, ...]:
    program = draw_program(data, backend, **kwargs)
    root = draw_root(data, program)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    return program, root, seed, tensors, env, leaves_requiring_grad(program, tensors)


def _exact(backend: Any, program: Program) -> Any:
    return tolerance(backend, program_dtype(program), "accumulate")


def _expect_grads(
    backend: Any,
    program: Program,
    leaves: list[tuple[str, Any]],
    expected: dict[str, np.ndarray | None],
    tol: Any,
    repro: Repro,
    what: str,
) -> None:
    """Every leaf's .grad equals the expectation (None where None is expected)."""
    for name, tensor in leaves:
        want, got = expected[name], backend.grad(tensor)
        torch_got, adapter_got = grad_expr(name)
        if want is None:
            if got is not None:
                repro.line(
                    f"assert {torch_got} is None, '{name}.grad is not None'",
                    f"assert {adapter_got} is None, '{name}.grad is not None'",
                )
                raise repro.fail(f"{name}.grad {what}: got a gradient, expected None", program)
            continue
        comparison = compare(got, want, tol, scale=repro.scale)
        if not comparison.ok:
            repro.close(f"{name}.grad", torch_got, adapter_got, want, tol)
            raise repro.fail(f"{name}.grad {what}: {comparison.describe()}", program)


@requirement("ACC-001")
@given(data=st.data(), k=st.sampled_from([2, 3]))
def test_k_backward_calls_give_k_times_the_gradient(
    backend: Any, data: st.DataObject, k: int
) -> None:
    program, root, seed, tensors, env, leaves = _setup(backend, data)
    repro = Repro(backend).line("", evaluate_line())
    repro.prelude = True
    backward_line(repro, root, seed, retain=True)
    with engine_must_not_raise(f"backward #1 of {root} with retain_graph=True", repro, program):
        backend.backward(env[root], seed, retain_graph=True)
    first = grads(backend, leaves)
    repro.line(
        "first = {" + ", ".join(f"{n!r}: _host({n}.grad)" for n, _ in leaves) + "}",
        "first = {" + ", ".join(f"{n!r}: adapter.grad(env[{n!r}])" for n, _ in leaves) + "}",
    )
    for call in range(2, k + 1):
        backward_line(repro, root, seed, retain=True)
        with engine_must_not_raise(
            f"backward #{call} of {root} with retain_graph=True", repro, program
        ):
            backend.backward(env[root], seed, retain_graph=True)
    expected = {n: None if g is None else k * g for n, g in first.items()}
    tol = _exact(backend, program)
    for name, tensor in leaves:
        want, got = expected[name], backend.grad(tensor)
        if want is None and got is None:
            continue
        comparison = compare(got, np.zeros(0) if want is None else want, tol)
        if want is None or not comparison.ok:
            torch_got, adapter_got = grad_expr(name)
            label = f"{name}.grad after {k} backward calls vs {k} x the first"
            repro.line(
                f"_close({label!r}, {torch_got}, {k} * first[{name!r}], {tol.rtol!r}, "
                f"{tol.atol!r})",
                f"_close({label!r}, {adapter_got}, {k} * first[{name!r}], {tol.rtol!r}, "
                f"{tol.atol!r})",
            )
            detail = (
                "got a gradient where the first call gave None"
                if want is None
                else (comparison.describe())
            )
            raise repro.fail(
                f"{name}.grad after {k} backward calls of {root}: expected {k} x "
                f"the first call's gradient; {detail}",
                program,
            )


@requirement("RETAIN-001")
@given(data=st.data())
def test_backward_through_freed_graph_raises(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, requires_grad=True)
    value = draw_root(data, program)
    # v*v saves v for backward whatever the engine: its gradient needs the saved operand.
    program = with_steps(
        program,
        [Apply("sq", "mul", (value, value)), Apply("loss", "sum", ("sq",), {"dim": None})],
        ("loss",),
    )
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    leaves = leaves_requiring_grad(program, tensors)
    repro = Repro(backend).line("", evaluate_line())
    repro.line("loss.backward()", "adapter.backward(env['loss'])")
    with engine_must_not_raise("the first backward of loss", repro, program):
        backend.backward(env["loss"])
    before = grads(backend, leaves)
    repro.line(
        "before = {" + ", ".join(f"{n!r}: _host({n}.grad)" for n, _ in leaves) + "}",
        "before = {" + ", ".join(f"{n!r}: adapter.grad(env[{n!r}])" for n, _ in leaves) + "}",
    )
    repro.prelude = True
    what = f"a second backward of loss = sum({value}*{value}) without retain_graph"
    refusal_lines(repro, "freed_graph", "loss.backward()", "adapter.backward(env['loss'])", what)
    expect_refusal(
        backend,
        "freed_graph",
        lambda: backend.backward(env["loss"]),
        what=what,
        repro=repro,
        program=program,
    )
    _expect_grads(
        backend,
        program,
        leaves,
        before,
        _exact(backend, program),
        repro,
        "after the refused second backward",
    )


Expectation = Callable[[np.ndarray, np.ndarray], np.ndarray]
PATTERNS: dict[str, tuple[tuple[Apply, ...], str, Expectation]] = {
    "x*x": ((Apply("y", "mul", ("a", "a")),), "2*(seed*a)", lambda s, a: 2 * (s * a)),
    "x+x": ((Apply("y", "add", ("a", "a")),), "2*seed", lambda s, a: 2 * s),
    "a-a": ((Apply("y", "sub", ("a", "a")),), "0", lambda s, a: 0 * s),
    "b=a+a; c=b+b": (
        (Apply("b", "add", ("a", "a")), Apply("y", "add", ("b", "b"))),
        "4*seed",
        lambda s, a: 4 * s,
    ),
    "x*x+x": (
        (Apply("sq", "mul", ("a", "a")), Apply("y", "add", ("sq", "a"))),
        "2*(seed*a)+seed",
        lambda s, a: 2 * (s * a) + s,
    ),
}
EXACT_PATTERNS = ("x*x", "x+x", "a-a", "b=a+a; c=b+b")
"""Exact in floating point whatever the engine's order: s*a + s*a = 2(s*a), s+s = 2s, s-s = 0,
2s+2s = 4s. x*x+x sums three terms, so its rounding depends on the order."""


@requirement("ACC-002")
@given(data=st.data(), pattern=st.sampled_from(list(PATTERNS)))
def test_repeated_use_sums_over_every_path(backend: Any, data: st.DataObject, pattern: str) -> None:
    dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype")
    shape = data.draw(shapes(), label="shape")
    a = data.draw(values(shape, dtype), label="a")
    steps, formula, expectation = PATTERNS[pattern]
    program = Program((Input("a", a, True),), steps, ("y",))
    s = draw_cotangent(data, shape).astype(dtype)
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    repro = Repro(backend).line("", evaluate_line())
    backward_line(repro, "y", s)
    with engine_must_not_raise(f"backward of y = {pattern}", repro, program):
        backend.backward(env["y"], s)
    expected = expectation(s, a)
    check = "accumulate" if pattern in EXACT_PATTERNS else "closed_form"
    tol = tolerance(backend, dtype, check)
    repro.prelude = True
    _expect_grads(
        backend,
        program,
        [("a", tensors[0])],
        {"a": expected},
        tol,
        repro,
        f"for y = {pattern} (expected {formula})",
    )


@requirement("ACC-003")
@given(data=st.data())
def test_gradients_of_different_losses_add(
    backend: Any, reference: Any, data: st.DataObject
) -> None:
    program = draw_program(data, backend)
    first, second = draw_root(data, program), draw_root(data, program)
    s1 = seed_for(program, draw_cotangent(data, shape_of(program, first), "seed 1"))
    s2 = seed_for(program, draw_cotangent(data, shape_of(program, second), "seed 2"))
    tensors = program.make_inputs(backend)
    leaves = leaves_requiring_grad(program, tensors)
    repro = Repro(backend).line("", evaluate_line())
    backward_line(repro, first, s1)
    repro.line("\n".join(torch_step_lines(program)), evaluate_line())
    backward_line(repro, second, s2)
    with engine_must_not_raise(f"backward of {first}, then of a new {second}", repro, program):
        backend.backward(program.evaluate(backend, tensors)[first], s1)
        backend.backward(program.evaluate(backend, tensors)[second], s2)
    assume_no_ambiguous_kink(backend, reference, program)
    g1 = reference_gradients(reference, single_root(program, first), [s1])
    g2 = reference_gradients(reference, single_root(program, second), [s2])
    expected = {n: _add(g1[n], g2[n]) for n, _ in leaves}
    repro.scale = max(
        reference_scale(reference, single_root(program, first), [s1]),
        reference_scale(reference, single_root(program, second), [s2]),
    )
    repro.prelude = True
    _expect_grads(
        backend,
        program,
        leaves,
        expected,
        tolerance(backend, program_dtype(program), "reference"),
        repro,
        f"after backward of {first} then of {second} (expected the sum)",
    )


def _add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return b if a is None else a
    return a + b


def _restart_test(backend: Any, data: st.DataObject, how: str) -> None:
    program, root, seed, tensors, env, leaves = _setup(backend, data)
    repro = Repro(backend).line("", evaluate_line())
    backward_line(repro, root, seed)
    with engine_must_not_raise(f"backward of {root}", repro, program):
        backend.backward(env[root], seed)
    single = grads(backend, leaves)
    for name, tensor in leaves:
        if how == "none":
            backend.clear_grad(tensor)
            repro.line(f"{name}.grad = None", f"adapter.clear_grad(env[{name!r}])")
        elif single[name] is not None:
            backend.zero_grad(tensor)
            repro.line(f"{name}.grad.zero_()", f"adapter.zero_grad(env[{name!r}])")
    repro.line("\n".join(torch_step_lines(program)), evaluate_line())
    backward_line(repro, root, seed)
    with engine_must_not_raise(f"backward of a new {root} after clearing .grad", repro, program):
        backend.backward(program.evaluate(backend, tensors)[root], seed)
    repro.prelude = True
    cleared = ".grad = None" if how == "none" else ".grad.zero_()"
    _expect_grads(
        backend,
        program,
        leaves,
        single,
        _exact(backend, program),
        repro,
        f"after {cleared} and another backward (expected the single-call gradient)",
    )


@requirement("ACC-004")
@given(data=st.data())
def test_clearing_grad_by_none_restarts(backend: Any, data: st.DataObject) -> None:
    _restart_test(backend, data, "none")


@requirement("ACC-005")
@given(data=st.data())
def test_zeroing_grad_in_place_restarts(backend: Any, data: st.DataObject) -> None:
    _restart_test(backend, data, "zero")


@requirement("ACC-006")
@given(data=st.data())
def test_non_leaf_grad_stays_none(backend: Any, data: st.DataObject) -> None:
    program, root, seed, tensors, env, leaves = _setup(backend, data)
    repro = Repro(backend).line("", evaluate_line())
    backward_line(repro, root, seed)
    with engine_must_not_raise(f"backward of {root}", repro, program):
        backend.backward(env[root], seed)
    flags = requires_grad_map(program)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns when a non-leaf's .grad is read
        for step in program.steps:
            if flags[step.name] and backend.grad(env[step.name]) is not None:
                repro.line(
                    f"assert {step.name}.grad is None, 'non-leaf {step.name} has a .grad'",
                    f"assert adapter.grad(env[{step.name!r}]) is None, 'non-leaf has a .grad'",
                )
                raise repro.fail(
                    f"non-leaf {step.name} = {step.op}({', '.join(step.args)}) has a .grad "
                    f"after backward of {root} without retain_grad(); expected None",
                    program,
                )


@requirement("RETAIN-002")
@given(data=st.data())
def test_retain_grad_fills_non_leaf_grad(backend: Any, reference: Any, data: st.DataObject) -> None:
    program, root, seed, tensors, env, leaves = _setup(backend, data)
    flags = requires_grad_map(program)
    kept = data.draw(
        st.sampled_from([s.name for s in program.steps if flags[s.name]]), label="retained"
    )
    repro = Repro(backend).line("", evaluate_line())
    repro.line(f"{kept}.retain_grad()", f"adapter.retain_grad(env[{kept!r}])")
    backward_line(repro, root, seed)
    with engine_must_not_raise(f"retain_grad() on {kept}, then backward of {root}", repro, program):
        backend.retain_grad(env[kept])
        backend.backward(env[root], seed)
    assume_no_ambiguous_kink(backend, reference, program)
    ref_program = as_float64(program)
    ref_env = ref_program.evaluate(reference, ref_program.make_inputs(reference))
    (want,) = reference.grad_of(
        [ref_env[root]], [ref_env[kept]], [seed.astype(np.float64)], allow_unused=True
    )
    got = backend.grad(env[kept])
    torch_got, adapter_got = f"{kept}.grad", f"adapter.grad(env[{kept!r}])"
    if want is None:
        if got is not None:
            repro.line(f"assert {torch_got} is None", f"assert {adapter_got} is None")
            raise repro.fail(
                f"{kept}.grad: got a gradient, but {root} does not depend on it", program
            )
        return
    tol = tolerance(backend, program_dtype(program), "reference")
    repro.scale = reference_scale(reference, single_root(program, root), [seed])
    comparison = compare(got, want, tol, scale=repro.scale)
    if not comparison.ok:
        repro.close(f"{kept}.grad", torch_got, adapter_got, want, tol)
        raise repro.fail(
            f"{kept}.grad after retain_grad() and backward of {root}: {comparison.describe()}",
            program,
        )


@requirement("VJP-001")
@given(data=st.data(), primed=st.booleans())
def test_functional_vjp_leaves_grad_alone(
    backend: Any, reference: Any, data: st.DataObject, primed: bool
) -> None:
    program, root, seed, tensors, env, leaves = _setup(backend, data)
    repro = Repro(backend).line("", evaluate_line())
    if primed:  # .grad already holds something that grad_of must not touch
        backward_line(repro, root, seed)
        with engine_must_not_raise(f"backward of {root}", repro, program):
            backend.backward(env[root], seed)
        repro.line("\n".join(torch_step_lines(program)), evaluate_line())
        env = program.evaluate(backend, tensors)
    before = grads(backend, leaves)
    names = [n for n, _ in leaves]
    repro.prelude = True
    repro.line(
        "before = {" + ", ".join(f"{n!r}: _host({n}.grad)" for n in names) + "}",
        "before = {" + ", ".join(f"{n!r}: adapter.grad(env[{n!r}])" for n in names) + "}",
    )
    repro.line(
        f"returned = torch.autograd.grad([{root}], [{', '.join(names)}], "
        f"[torch.tensor({literal(seed)}, dtype={root}.dtype{repro.device_kw})], "
        "allow_unused=True)",
        f"returned = adapter.grad_of([env[{root!r}]], [{', '.join(f'env[{n!r}]' for n in names)}]"
        f", [np.array({literal(seed)}, dtype={seed.dtype.name!r})], allow_unused=True)",
    )
    with engine_must_not_raise(f"grad_of({root}, {names})", repro, program):
        returned = backend.grad_of([env[root]], [t for _, t in leaves], [seed], allow_unused=True)
    after = grads(backend, leaves)
    for name in names:
        b, a = before[name], after[name]
        unchanged = (a is None and b is None) or (
            a is not None and b is not None and np.array_equal(a, b, equal_nan=True)
        )
        if not unchanged:
            torch_got, adapter_got = grad_expr(name)
            repro.line(
                f"assert (_host({torch_got}) is None and before[{name!r}] is None) or "
                f"(_host({torch_got}) == before[{name!r}]).all(), 'grad_of changed {name}.grad'",
                f"assert (({adapter_got}) is None and before[{name!r}] is None) or "
                f"(({adapter_got}) == before[{name!r}]).all(), 'grad_of changed {name}.grad'",
            )
            raise repro.fail(
                f"grad_of changed {name}.grad (before: "
                f"{'None' if b is None else 'a gradient'}, after: "
                f"{'None' if a is None else 'a different gradient'})",
                program,
            )
    assume_no_ambiguous_kink(backend, reference, program)
    expected = reference_gradients(reference, single_root(program, root), [seed])
    tol = tolerance(backend, program_dtype(program), "reference")
    repro.scale = reference_scale(reference, single_root(program, root), [seed])
    for k, name in enumerate(names):
        want = expected[name]
        if want is None:
            want = np.zeros(
                np.shape(program.inputs[[i.name for i in program.inputs].index(name)].value)
            )
        got = returned[k]
        comparison = compare(
            np.zeros_like(want) if got is None else got, want, tol, scale=repro.scale
        )
        if not comparison.ok:
            got_src = f"(np.zeros({want.shape!r}) if returned[{k}] is None else returned[{k}])"
            repro.close(f"grad_of -> {name}", got_src, got_src, want, tol)
            raise repro.fail(f"grad_of({root}) for {name}: {comparison.describe()}", program)
