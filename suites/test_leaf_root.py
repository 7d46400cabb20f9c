"""Leaves and roots over random DAGs: which tensors are leaves, which have a grad_fn."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, evaluate_line, flags_line
from conformance.spec.program import Apply, Program
from conformance.spec.render import torch_step_lines

from .requirement import requirement
from .support import (
    NON_VIEW_OPS,
    draw_program,
    expect_flags,
    per_op,
    require_op,
    requires_grad_map,
)


@requirement("LEAF-001")
@given(data=st.data())
def test_user_created_tensors_are_leaves(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend)
    for inp, tensor in zip(program.inputs, program.make_inputs(backend), strict=True):
        expect_flags(
            backend,
            program,
            inp.name,
            tensor,
            is_leaf=True,
            requires_grad=inp.requires_grad,
            grad_fn=False,
            context=f"(created with requires_grad={inp.requires_grad})",
        )


def _focus_steps(
    backend: Any, focus: str, data: st.DataObject
) -> Iterator[tuple[Program, Apply, Any, bool]]:
    """Each step of a program that applies `focus` first: its value on the backend and whether
    it must require grad."""
    require_op(backend, focus)
    program = draw_program(data, backend, focus=focus)
    env = program.evaluate(backend, program.make_inputs(backend))
    flags = requires_grad_map(program)
    for step in program.steps:
        yield program, step, env[step.name], flags[step.name]


def _applied(step: Apply) -> str:
    return f"= {step.op}({', '.join(step.args)})"


@per_op()
@requirement("LEAF-002")
@given(data=st.data())
def test_op_results_are_non_leaves_exactly_when_they_require_grad(
    backend: Any, focus: str, data: st.DataObject
) -> None:
    for program, step, tensor, want in _focus_steps(backend, focus, data):
        expect_flags(
            backend,
            program,
            step.name,
            tensor,
            is_leaf=not want,
            requires_grad=want,
            context=_applied(step),
        )


@per_op()
@requirement("ROOT-001")
@given(data=st.data())
def test_roots_have_grad_fn_exactly_when_they_require_grad(
    backend: Any, focus: str, data: st.DataObject
) -> None:
    for program, step, tensor, want in _focus_steps(backend, focus, data):
        requires = backend.requires_grad(tensor)
        has_fn = backend.grad_fn(tensor) is not None
        if requires != has_fn or requires != want:
            expect_flags(
                backend,
                program,
                step.name,
                tensor,
                requires_grad=want,
                grad_fn=want,
                context=_applied(step),
            )


@requirement("LEAF-003")
@given(data=st.data())
def test_detach_returns_a_leaf(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend)
    env = program.evaluate(backend, program.make_inputs(backend))
    flags = requires_grad_map(program)
    for name, tensor in env.items():
        before = (backend.is_leaf(tensor), backend.requires_grad(tensor))
        detached = backend.detach(tensor)
        repro = Repro(backend).line("", evaluate_line())
        repro.line(f"d = {name}.detach()", f"d = adapter.detach(env[{name!r}])")
        repro.line(f"{name}_detached = d", f"env['{name}_detached'] = d")
        repro.line(
            f"assert d.tolist() == {name}.tolist(), 'values differ'",
            f"assert (adapter.to_numpy(d) == adapter.to_numpy(env[{name!r}])).all(), "
            "'values differ'",
        )
        flags_line(repro, f"{name}_detached", is_leaf=True, requires_grad=False, grad_fn=False)
        expect_flags(
            backend,
            program,
            f"{name}.detach()",
            detached,
            is_leaf=True,
            requires_grad=False,
            grad_fn=False,
            repro=repro,
        )
        values, original = backend.to_numpy(detached), backend.to_numpy(tensor)
        if values.shape != original.shape or not np.array_equal(values, original, equal_nan=True):
            raise repro.fail(f"{name}.detach() has values that differ from {name}'s", program)
        after = (backend.is_leaf(tensor), backend.requires_grad(tensor))
        if after != before or after[1] != flags[name]:
            repro = Repro(backend).line("", evaluate_line())
            repro.line(f"_ = {name}.detach()", f"_ = adapter.detach(env[{name!r}])")
            flags_line(repro, name, is_leaf=before[0], requires_grad=before[1])
            raise repro.fail(
                f"{name}.detach() changed {name}: is_leaf {before[0]}->{after[0]}, "
                f"requires_grad {before[1]}->{after[1]}",
                program,
            )


@per_op(NON_VIEW_OPS)
@requirement("NOGRAD-001")
@given(data=st.data())
def test_no_grad_results_are_leaves(backend: Any, focus: str, data: st.DataObject) -> None:
    # Once per op, the op applied first to a leaf: a rule broken for one op only, or only when
    # the operand is a leaf, is not left to the luck of the draw.
    require_op(backend, focus)
    program = draw_program(data, backend, requires_grad=True, ops=NON_VIEW_OPS, focus=focus)
    tensors = program.make_inputs(backend)
    with backend.no_grad():
        env = program.evaluate(backend, tensors)
    for step in program.steps:
        repro = Repro(backend)
        repro.line("with torch.no_grad():", "with adapter.no_grad():")
        repro.line(_steps_source(program, backend), "    env = program.evaluate(adapter, tensors)")
        flags_line(repro, step.name, is_leaf=True, requires_grad=False, grad_fn=False)
        expect_flags(
            backend,
            program,
            step.name,
            env[step.name],
            is_leaf=True,
            requires_grad=False,
            grad_fn=False,
            context=f"= {step.op}({', '.join(step.args)}) under no_grad",
            repro=repro,
        )


def _steps_source(program: Any, adapter: Any) -> str:
    """The rendered steps of a program (PyTorch dialect), indented into a block."""
    return "\n".join("    " + line for line in torch_step_lines(program))
