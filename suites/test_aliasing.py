"""Aliasing: .grad is a tensor of its own, sharing memory with no seed, leaf, retained .grad or
buffer of a later backward pass.

Sharing is observed the only way PyTorch's users meet it: change one tensor in place and see
whether another changed with it. Each check compares host copies taken before and after
exactly: a tensor that shares no memory with the one changed keeps every bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line
from conformance.spec.ops import OPS, VIEW_OPS
from conformance.spec.program import Input, Program
from conformance.spec.render import literal, torch_step_lines

from .requirement import requirement
from .strategies import OP_ORDER, shapes, values
from .support import (
    backward_line,
    draw_cotangent,
    draw_program,
    draw_root,
    float_dtypes,
    grads,
    leaves_requiring_grad,
    per_op,
    require_op,
    requires_grad_map,
    seed_for,
    shape_of,
)

UNALIASED_OPS = tuple(
    op for op in OP_ORDER if OPS[op].differentiable and op not in VIEW_OPS and op != "sum"
)
"""Ops after which PyTorch 2.13 never lets a leaf's .grad share memory with the seed or with
another leaf's .grad. The views and sum hand on a view of their incoming gradient, which
AccumulateGrad keeps as .grad without a copy when it has the leaf's layout (see ALIAS-001)."""

ALL_DIFFERENTIABLE_OPS = tuple(op for op in OP_ORDER if OPS[op].differentiable)


def _seed_tensor_line(repro: Repro, name: str, seed: np.ndarray, like: str) -> None:
    repro.line(
        f"{name} = torch.tensor({literal(seed)}, dtype={like}.dtype{repro.device_kw})",
        f"{name} = adapter.tensor(np.array({literal(seed)}, dtype={seed.dtype.name!r}))",
    )


def _unchanged(before: np.ndarray | None, after: np.ndarray | None) -> bool:
    if before is None or after is None:
        return before is None and after is None
    return before.shape == after.shape and np.array_equal(before, after, equal_nan=True)


def _assert_line(
    repro: Repro, torch_expr: str, adapter_expr: str, was: np.ndarray, why: str
) -> None:
    """Assert in both dialects that a tensor still holds `was`."""
    want = f"np.array({literal(np.asarray(was, dtype=np.float64))})"
    repro.line(
        f"assert np.array_equal({torch_expr}.detach().cpu().double().numpy(), {want}), {why!r}",
        f"assert np.array_equal({adapter_expr}, {want}), {why!r}",
    )


def _change_in_place(
    backend: Any, tensor: Any, repro: Repro, torch_name: str, adapter_ref: str, indent: str = ""
) -> None:
    """Add ones to `tensor` in place: every finite element of the drawn magnitudes changes."""
    ones = np.ones(backend.to_numpy(tensor).shape, dtype=backend.dtype(tensor))
    backend.inplace_add(tensor, backend.tensor(ones))
    repro.line(
        f"{indent}{torch_name}.add_(torch.ones_like({torch_name}))",
        f"{indent}adapter.inplace_add({adapter_ref}, adapter.tensor(np.ones({ones.shape!r}, "
        f"dtype={ones.dtype.name!r})))",
    )


# -- ALIAS-001, ALIAS-002: the seed --------------------------------------------------------------
@per_op(UNALIASED_OPS)
@requirement("ALIAS-001")
@given(data=st.data())
def test_grad_does_not_share_memory_with_the_seed(
    backend: Any, focus: str, data: st.DataObject
) -> None:
    # One op applied to leaves, so the seed reaches each leaf through that op's backward alone
    # (add and sub hand it on unchanged: the case where an engine is tempted to keep it).
    require_op(backend, focus)
    program = draw_program(data, backend, focus=focus, max_steps=1, requires_grad=True)
    root = draw_root(data, program)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    leaves = leaves_requiring_grad(program, tensors)
    _seed_is_copied(backend, program, env[root], root, seed, leaves)


@requirement("ALIAS-002")
@given(data=st.data())
def test_leaf_grad_does_not_share_memory_with_its_seed(backend: Any, data: st.DataObject) -> None:
    # The leaf as the root: its accumulate node receives the seed itself, with nothing between.
    dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype")
    shape = data.draw(shapes(), label="shape")
    program = Program((Input("x", data.draw(values(shape, dtype), label="x"), True),), (), ("x",))
    seed = seed_for(program, draw_cotangent(data, shape))
    (leaf,) = program.make_inputs(backend)
    _seed_is_copied(backend, program, leaf, "x", seed, [("x", leaf)])


def _seed_is_copied(
    backend: Any,
    program: Program,
    root_tensor: Any,
    root: str,
    seed: np.ndarray,
    leaves: Sequence[tuple[str, Any]],
) -> None:
    """Backward of `root` with a seed tensor g, then g changed in place: every .grad must stay;
    then each .grad zeroed in place: g must stay."""
    repro = Repro(backend).line("", evaluate_line())
    _seed_tensor_line(repro, "g", seed, root)
    repro.line(f"{root}.backward(g)", f"adapter.backward_tensor(env[{root!r}], g)")
    seed_tensor = backend.tensor(seed)
    with engine_must_not_raise(f"backward of {root} with a seed tensor", repro, program):
        backend.backward_tensor(root_tensor, seed_tensor)
    before = grads(backend, leaves)
    with engine_must_not_raise("g.add_(1) after backward", repro, program):
        _change_in_place(backend, seed_tensor, repro, "g", "g")
    for name, tensor in leaves:
        if not _unchanged(before[name], backend.grad(tensor)):
            _assert_line(
                repro, f"{name}.grad", f"adapter.grad(env[{name!r}])", before[name],
                f"{name}.grad changed with g",
            )  # fmt: skip
            raise repro.fail(
                f"{name}.grad changed when the seed g passed to {root}.backward(g) was changed in "
                "place afterwards: .grad shares the seed's memory",
                program,
            )
    changed_seed = backend.to_numpy(seed_tensor)
    for name, tensor in leaves:
        if before[name] is None or not np.any(before[name]):
            continue  # zeroing a zero .grad changes nothing to see
        _zero_grad(backend, tensor, name, repro, program)
        if not _unchanged(changed_seed, backend.to_numpy(seed_tensor)):
            _assert_line(
                repro, "g", "adapter.to_numpy(g)", changed_seed, f"g changed with {name}.grad"
            )
            raise repro.fail(
                f"the seed g changed when {name}.grad was zeroed in place after "
                f"{root}.backward(g): .grad shares the seed's memory",
                program,
            )


def _zero_grad(backend: Any, tensor: Any, name: str, repro: Repro, program: Program) -> None:
    repro.line(f"{name}.grad.zero_()", f"adapter.zero_grad(env[{name!r}])")
    with engine_must_not_raise(f"{name}.grad.zero_() after backward", repro, program):
        backend.zero_grad(tensor)


# -- ALIAS-003 ------------------------------------------------------------------------------------
@per_op(UNALIASED_OPS)
@requirement("ALIAS-003")
@given(data=st.data())
def test_leaves_do_not_share_a_grad_buffer(backend: Any, focus: str, data: st.DataObject) -> None:
    require_op(backend, focus)
    program = draw_program(data, backend, focus=focus, requires_grad=True, ops=UNALIASED_OPS)
    root = draw_root(data, program)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    leaves = leaves_requiring_grad(program, tensors)
    repro = Repro(backend).line("", evaluate_line())
    backward_line(repro, root, seed)
    with engine_must_not_raise(f"backward of {root}", repro, program):
        backend.backward(env[root], seed)
    current = grads(backend, leaves)
    for k, (name, tensor) in enumerate(leaves):
        if current[name] is None or not np.any(current[name]):
            continue
        _zero_grad(backend, tensor, name, repro, program)
        for other, other_tensor in leaves[k + 1 :]:
            if _unchanged(current[other], backend.grad(other_tensor)):
                continue
            _assert_line(
                repro, f"{other}.grad", f"adapter.grad(env[{other!r}])", current[other],
                f"{other}.grad changed with {name}.grad",
            )  # fmt: skip
            raise repro.fail(
                f"{other}.grad changed when {name}.grad was zeroed in place after backward of "
                f"{root}: the two leaves share one .grad buffer",
                program,
            )
        current[name] = backend.grad(tensor)


# -- ALIAS-004 ------------------------------------------------------------------------------------
@per_op(ALL_DIFFERENTIABLE_OPS)
@requirement("ALIAS-004")
@given(data=st.data())
def test_grad_shares_memory_with_neither_leaf_nor_retained_grad(
    backend: Any, focus: str, data: st.DataObject
) -> None:
    require_op(backend, focus)
    program = draw_program(data, backend, focus=focus, requires_grad=True)
    root = draw_root(data, program)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    tensors = program.make_inputs(backend)
    env = program.evaluate(backend, tensors)
    leaves = leaves_requiring_grad(program, tensors)
    flags = requires_grad_map(program)
    retained = [s.name for s in program.steps if flags[s.name]]
    repro = Repro(backend).line("", evaluate_line())
    for name in retained:
        repro.line(f"{name}.retain_grad()", f"adapter.retain_grad(env[{name!r}])")
    backward_line(repro, root, seed)
    with engine_must_not_raise(
        f"retain_grad() on {retained}, then backward of {root}", repro, program
    ):
        for name in retained:
            backend.retain_grad(env[name])
        backend.backward(env[root], seed)
    leaf_grads = grads(backend, leaves)

    # The leaves' values, changed in place where the tape allows it: under no-grad.
    repro.line("with torch.no_grad():", "with adapter.no_grad():")
    with backend.no_grad():
        for name, tensor in leaves:
            _change_in_place(backend, tensor, repro, name, f"env[{name!r}]", indent="    ")
    for name, tensor in leaves:
        if not _unchanged(leaf_grads[name], backend.grad(tensor)):
            _assert_line(
                repro, f"{name}.grad", f"adapter.grad(env[{name!r}])", leaf_grads[name],
                f"{name}.grad changed with {name}",
            )  # fmt: skip
            raise repro.fail(
                f"{name}.grad changed when {name}'s values were changed in place under no_grad "
                "after backward: .grad shares the leaf's memory",
                program,
            )

    # Each retained .grad zeroed in turn: no leaf's .grad may follow.
    for name in retained:
        kept = backend.grad(env[name])
        if kept is None or not np.any(kept):
            continue
        _zero_grad(backend, env[name], name, repro, program)
        for leaf, tensor in leaves:
            if _unchanged(leaf_grads[leaf], backend.grad(tensor)):
                continue
            _assert_line(
                repro, f"{leaf}.grad", f"adapter.grad(env[{leaf!r}])", leaf_grads[leaf],
                f"{leaf}.grad changed with {name}.grad",
            )  # fmt: skip
            raise repro.fail(
                f"{leaf}.grad changed when the retained {name}.grad was zeroed in place after "
                f"backward of {root}: the leaf's .grad shares the non-leaf's",
                program,
            )

    # Each leaf's .grad zeroed: the leaf's values stay.
    for name, tensor in leaves:
        if leaf_grads[name] is None or not np.any(leaf_grads[name]):
            continue
        held = backend.to_numpy(tensor)
        _zero_grad(backend, tensor, name, repro, program)
        if not _unchanged(held, backend.to_numpy(tensor)):
            _assert_line(
                repro, name, f"adapter.to_numpy(env[{name!r}])", held,
                f"{name} changed with {name}.grad",
            )  # fmt: skip
            raise repro.fail(
                f"{name}'s values changed when {name}.grad was zeroed in place: .grad shares "
                "the leaf's memory",
                program,
            )


# -- ALIAS-005 ------------------------------------------------------------------------------------
@requirement("ALIAS-005")
@given(data=st.data())
def test_backward_leaves_unreached_grads_alone(backend: Any, data: st.DataObject) -> None:
    # The same program twice on separate leaves: the second pass computes gradients of exactly
    # the first pass's shapes and dtype, which is when an engine reusing buffers reuses them.
    program = draw_program(data, backend, requires_grad=True)
    root = draw_root(data, program)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    second_seed = seed_for(program, draw_cotangent(data, shape_of(program, root), label="seed 2"))
    first = program.make_inputs(backend)
    first_env = program.evaluate(backend, first)
    leaves = leaves_requiring_grad(program, first)
    repro = Repro(backend).line("", evaluate_line())
    backward_line(repro, root, seed)
    with engine_must_not_raise(f"backward of {root}", repro, program):
        backend.backward(first_env[root], seed)
    before = grads(backend, leaves)
    second = program.make_inputs(backend)
    names = [i.name for i in program.inputs]
    repro.line(
        "\n".join(
            [
                f"first = {{{', '.join(f'{n!r}: {n}' for n in names)}}}",
                *(
                    f"{i.name} = {i.name}.detach().clone().requires_grad_({i.requires_grad})"
                    for i in program.inputs
                ),
                *torch_step_lines(program),
            ]
        ),
        "first = env\nenv = program.evaluate(adapter, program.make_inputs(adapter))",
    )
    second_env = program.evaluate(backend, second)
    backward_line(repro, root, second_seed)
    with engine_must_not_raise(f"backward of a second {root} on new leaves", repro, program):
        backend.backward(second_env[root], second_seed)
    for name, tensor in leaves:
        if _unchanged(before[name], backend.grad(tensor)):
            continue
        _assert_line(
            repro, f"first[{name!r}].grad", f"adapter.grad(first[{name!r}])", before[name],
            f"{name}.grad of the first pass changed",
        )  # fmt: skip
        raise repro.fail(
            f"{name}.grad changed during a backward pass whose graph does not reach {name} (the "
            "same program on new leaves, another seed): .grad shares a buffer the engine reused",
            program,
        )
