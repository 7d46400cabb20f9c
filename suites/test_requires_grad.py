"""requires_grad: toggling on leaves, refusals, and propagation under grad-mode blocks."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line, flags_line
from conformance.judge.numerics import compare
from conformance.spec.ops import OPS
from conformance.spec.program import Apply, Input, Program
from conformance.spec.render import literal, torch_step_lines

from .refusals import expect_refusal, refusal_lines
from .requirement import requirement
from .strategies import integer_arrays, values
from .support import (
    NON_VIEW_OPS,
    assume_no_ambiguous_kink,
    draw_cotangent,
    draw_program,
    draw_root,
    expect_flags,
    float_dtypes,
    per_op,
    program_dtype,
    reference_gradients,
    reference_scale,
    require_op,
    requires_grad_map,
    shape_of,
    single_root,
    tolerance,
)


@requirement("RG-001")
@given(data=st.data())
def test_requires_grad_toggles_leaves(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, max_steps=1)
    tensors = program.make_inputs(backend)
    for inp, tensor in zip(program.inputs, tensors, strict=True):
        flips = data.draw(
            st.lists(st.booleans(), min_size=1, max_size=4), label=f"{inp.name} flips"
        )
        repro = Repro(backend).line("", evaluate_line())
        for flag in flips:
            repro.line(
                f"{inp.name}.requires_grad_({flag})",
                f"adapter.set_requires_grad(env[{inp.name!r}], {flag})",
            )
            backend.set_requires_grad(tensor, flag)
        flags_line(repro, inp.name, is_leaf=True, requires_grad=flips[-1], grad_fn=False)
        expect_flags(
            backend,
            program,
            inp.name,
            tensor,
            is_leaf=True,
            requires_grad=flips[-1],
            grad_fn=False,
            context=f"after requires_grad_ calls {flips}",
            repro=repro,
        )


@requirement("RG-002")
@given(data=st.data())
def test_requires_grad_false_on_non_leaf_raises(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, requires_grad=True)
    env = program.evaluate(backend, program.make_inputs(backend))
    flags = requires_grad_map(program)
    for step in program.steps:
        if not flags[step.name]:
            continue
        try:
            backend.set_requires_grad(env[step.name], False)
        except Exception:  # noqa: BLE001 - any exception is a refusal
            continue
        repro = Repro(backend).line("", evaluate_line())
        repro.line(
            f"try:\n    {step.name}.requires_grad_(False)\nexcept Exception:\n    pass\nelse:\n"
            f"    raise AssertionError('{step.name}.requires_grad_(False) did not raise')",
            f"try:\n    adapter.set_requires_grad(env[{step.name!r}], False)\n"
            f"except Exception:\n    pass\nelse:\n"
            f"    raise AssertionError('{step.name}.requires_grad_(False) did not raise')",
        )
        raise repro.fail(
            f"{step.name} = {step.op}({', '.join(step.args)}) is a non-leaf; "
            "requires_grad_(False) on it did not raise",
            program,
        )


def _integer_program(array: np.ndarray, requires_grad: bool) -> Program:
    return Program((Input("t", array, requires_grad),), (), ("t",))


@requirement("RG-003")
@given(array=integer_arrays())
def test_integer_tensors_cannot_be_created_requiring_grad(backend: Any, array: np.ndarray) -> None:
    # The program's input t requires grad: building it is the call that must be refused.
    repro = Repro(backend).line(
        "raise AssertionError('creating the tensor t with requires_grad=True did not raise')"
    )
    expect_refusal(
        backend,
        "integer_requires_grad",
        lambda: backend.tensor(array, requires_grad=True),
        what=f"creating a {array.dtype.name} tensor of shape {array.shape} with requires_grad=True",
        repro=repro,
        program=_integer_program(array, True),
    )


@requirement("RG-004")
@given(array=integer_arrays())
def test_integer_tensors_refuse_requires_grad(backend: Any, array: np.ndarray) -> None:
    tensor = backend.tensor(array)
    program = _integer_program(array, False)
    what = f"requires_grad_(True) on a {array.dtype.name} tensor of shape {array.shape}"
    repro = Repro(backend)
    refusal_lines(
        repro,
        "integer_requires_grad",
        "t.requires_grad_(True)",
        "adapter.set_requires_grad(t, True)",
        what,
    )
    expect_refusal(
        backend,
        "integer_requires_grad",
        lambda: backend.set_requires_grad(tensor, True),
        what=what,
        repro=repro,
        program=program,
    )
    if backend.requires_grad(tensor):
        repro.line(
            "assert not t.requires_grad, 't requires grad after the refusal'",
            "assert not adapter.requires_grad(t), 't requires grad after the refusal'",
        )
        raise repro.fail(f"{what} raised but left requires_grad True", program)


GRAD_MODES = ("no_grad", "enable_grad")


@per_op(NON_VIEW_OPS)
@requirement("RG-005")
@given(data=st.data())
def test_requires_grad_propagates_under_grad_mode_blocks(
    backend: Any, focus: str, data: st.DataObject
) -> None:
    require_op(backend, focus)
    program = draw_program(data, backend, ops=NON_VIEW_OPS, focus=focus)
    tensors = program.make_inputs(backend)
    env: dict[str, Any] = {i.name: t for i, t in zip(program.inputs, tensors, strict=True)}
    flags = {i.name: i.differentiable for i in program.inputs}
    stack: list[tuple[str, Any]] = []  # (mode, entered context manager), innermost last
    torch_lines: list[str] = []
    adapter_lines: list[str] = []

    def apply(step: Apply, name: str, modes: list[str]) -> None:
        """Apply `step` as `name` under `modes` (outermost first) and check its flag."""
        enabled = not modes or modes[-1] == "enable_grad"
        env[name] = backend.apply(step.op, [env[a] for a in step.args], step.params)
        flags[name] = enabled and OPS[step.op].differentiable and any(flags[a] for a in step.args)
        indent = "    " * len(modes)
        torch_lines.append(indent + _torch_step(program, step, backend).replace(step.name, name, 1))
        adapter_lines.append(
            f"{indent}env[{name!r}] = adapter.apply({step.op!r}, "
            f"[env[a] for a in {list(step.args)!r}], {dict(step.params)!r})"
        )
        got = backend.requires_grad(env[name])
        if got != flags[name]:
            repro = Repro(backend).line(
                "", "env = dict(zip([i.name for i in program.inputs], tensors))"
            )
            repro.line("\n".join(torch_lines), "\n".join(adapter_lines))
            flags_line(repro, name, requires_grad=flags[name])
            raise repro.fail(
                f"{name} = {step.op}({', '.join(step.args)}) inside "
                f"{' > '.join(modes) or 'no block (grad mode on)'}: "
                f"requires_grad={got}; expected {flags[name]}",
                program,
            )

    def enter(mode: str) -> None:
        block = getattr(backend, mode)()
        block.__enter__()
        torch_lines.append(f"{'    ' * len(stack)}with torch.{mode}():")
        adapter_lines.append(f"{'    ' * len(stack)}with adapter.{mode}():")
        stack.append((mode, block))

    try:
        for step in program.steps:
            action = data.draw(st.sampled_from(["stay", "no_grad", "enable_grad", "leave"]))
            if action in GRAD_MODES:
                enter(action)
            elif action == "leave" and stack:
                stack.pop()[1].__exit__(None, None, None)
            apply(step, step.name, [mode for mode, _ in stack])
        while stack:
            stack.pop()[1].__exit__(None, None, None)
        # The draw above nests the two blocks in only some examples; every example also applies
        # its first step (the focus op, on a leaf that requires grad) and its last step with an
        # operand that requires grad under both nestings, so an engine that ignores an inner
        # block, for one op or for an op applied to a leaf, cannot pass by the luck of the draw.
        last = next(
            (s for s in reversed(program.steps) if any(flags[a] for a in s.args)),
            program.steps[-1],
        )
        again = [program.steps[0]] + ([last] if last.name != program.steps[0].name else [])
        for step in again:
            for outer, inner in (("no_grad", "enable_grad"), ("enable_grad", "no_grad")):
                enter(outer)
                enter(inner)
                apply(step, f"{step.name}_{inner}", [outer, inner])
                while stack:
                    stack.pop()[1].__exit__(None, None, None)
    finally:
        while stack:
            stack.pop()[1].__exit__(None, None, None)


def _torch_step(program: Program, step: Apply, adapter: Any) -> str:
    return torch_step_lines(program)[list(program.steps).index(step)]


class _LeaveBlock(Exception):
    """Raised inside the innermost block to leave the blocks by an exception."""


@requirement("RG-006")
@given(
    modes=st.lists(st.sampled_from(GRAD_MODES), min_size=1, max_size=4),
    data=st.data(),
)
def test_grad_mode_restored_after_exception(
    backend: Any, modes: list[str], data: st.DataObject
) -> None:
    catch = data.draw(st.integers(0, len(modes) - 1), label="caught outside block")
    dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype")
    value = data.draw(values((2,), dtype), label="x")
    program = Program((Input("x", value, True),), (Apply("probe", "mul", ("x", "x")),), ("probe",))
    x = backend.tensor(value, requires_grad=True)
    probes: list[tuple[str, bool, bool]] = []

    def enter(level: int) -> None:
        if level == len(modes):
            raise _LeaveBlock
        block = getattr(backend, modes[level])()
        if level != catch:
            with block:
                enter(level + 1)
            return
        try:
            with block:
                enter(level + 1)
        except _LeaveBlock:
            pass
        expected = level == 0 or modes[level - 1] == "enable_grad"
        probe = backend.apply("mul", [x, x], {})
        probes.append(
            (f"after leaving block {level} by an exception", expected, backend.requires_grad(probe))
        )

    enter(0)
    probe = backend.apply("mul", [x, x], {})
    probes.append(("after all blocks", True, backend.requires_grad(probe)))
    for where, expected, got in probes:
        if got != expected:
            raise _mode_repro(backend, modes, catch).fail(
                f"x*x {where} ({' > '.join(modes)}, caught outside block {catch}): "
                f"requires_grad={got}; expected {expected}",
                program,
            )


def _mode_repro(backend: Any, modes: list[str], catch: int) -> Repro:
    def nest(prefix: str) -> tuple[list[str], str, bool]:
        lines: list[str] = []
        indent = ""
        for level, mode in enumerate(modes):
            if level == catch:
                lines.append(f"{indent}try:")
                indent += "    "
            lines.append(f"{indent}with {prefix}.{mode}():")
            indent += "    "
        lines.append(f"{indent}raise KeyError('leave')")
        depth = "    " * catch
        lines.append(f"{depth}except KeyError:\n{depth}    pass")
        expected = catch == 0 or modes[catch - 1] == "enable_grad"
        return lines, depth, expected

    t_lines, depth, expected = nest("torch")
    a_lines, _, _ = nest("adapter")
    repro = Repro(backend)
    repro.line("\n".join(t_lines), "\n".join(a_lines))
    repro.line(
        f"{depth}p = x * x\n{depth}assert p.requires_grad == {expected}, "
        f"f'x*x after the exception: requires_grad={{p.requires_grad}}'",
        f"{depth}p = adapter.apply('mul', [x, x], {{}})\n{depth}assert "
        f"adapter.requires_grad(p) == {expected}, 'x*x after the exception has the wrong mode'",
    )
    repro.line(
        "assert (x * x).requires_grad, 'grad mode is off after leaving every block'",
        "assert adapter.requires_grad(adapter.apply('mul', [x, x], {})), 'grad mode is off'",
    )
    return repro


@requirement("RG-007")
@given(data=st.data())
def test_leaf_switched_off_after_use_gets_no_gradient(
    backend: Any, reference: Any, data: st.DataObject
) -> None:
    program = draw_program(data, backend, requires_grad=True)
    root = draw_root(data, program)
    leaves = [i.name for i in program.inputs if i.differentiable]
    off = data.draw(st.sampled_from(leaves), label="switched off")
    seed = draw_cotangent(data, shape_of(program, root))
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    by_name = {i.name: t for i, t in zip(program.inputs, tensors, strict=True)}
    repro = Repro(backend).line("", evaluate_line())
    repro.line(
        f"{off}.requires_grad_(False)\n{root}.backward(torch.tensor({literal(seed)}, "
        f"dtype={root}.dtype{repro.device_kw}))",
        f"adapter.set_requires_grad(env[{off!r}], False)\n"
        f"adapter.backward(env[{root!r}], np.array({literal(seed)}))",
    )
    with engine_must_not_raise(
        f"backward of {root} after {off}.requires_grad_(False)", repro, program
    ):
        backend.set_requires_grad(by_name[off], False)
        backend.backward(env[root], seed)
    got = backend.grad(by_name[off])
    if got is not None:
        repro.line(
            f"assert {off}.grad is None, 'the switched-off leaf {off} received a gradient'",
            f"assert adapter.grad(env[{off!r}]) is None, '{off} received a gradient'",
        )
        raise repro.fail(
            f"leaf {off}, switched off after use, received a gradient from backward of {root} "
            f"(max |grad| {float(np.max(np.abs(got), initial=0.0)):.3g}); expected .grad None",
            program,
        )
    assume_no_ambiguous_kink(backend, reference, program)
    expected = reference_gradients(reference, single_root(program, root), [seed])
    tol = tolerance(backend, program_dtype(program), "reference")
    repro.scale = reference_scale(reference, single_root(program, root), [seed])
    for name in leaves:
        if name == off:
            continue
        want = expected[name]
        if want is None:  # not reached from the root: TAPE-001's concern, not this one's
            continue
        comparison = compare(backend.grad(by_name[name]), want, tol, scale=repro.scale)
        if not comparison.ok:
            repro.close(f"{name}.grad", f"{name}.grad", f"adapter.grad(env[{name!r}])", want, tol)
            raise repro.fail(
                f"{name}.grad after {off} was switched off: {comparison.describe()}", program
            )
