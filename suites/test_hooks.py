"""Gradient hooks: what register_hook's hooks receive and what their results change, their
order, removal, retain_grad after them, the refusals, and post-accumulate-grad hooks.

Hooks are given to the adapter as functions on host arrays (see conformance.protocol
HookAdapter). Expected gradients come from the reference engine in float64, without hooks where
linearity gives the answer (a hook scaling a non-leaf's gradient by f adds (f - 1) times the
gradient that flows through it), with the same hooks in HOOK-010.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import assume, given, reject
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line
from conformance.judge.numerics import as_float64, compare
from conformance.spec.program import Program
from conformance.spec.render import torch_step_lines

from .refusals import expect_refusal, refusal_lines
from .requirement import requirement
from .support import (
    assume_no_ambiguous_kink,
    backward_line,
    draw_cotangent,
    draw_program,
    draw_root,
    grad_expr,
    leaves_requiring_grad,
    program_dtype,
    reference_scale,
    requires_grad_map,
    seed_for,
    shape_of,
    single_root,
    tolerance,
)

FACTORS = (0.0, -1.0, 0.5, 2.0, 3.0)
"""Scalings a hook applies; exact in every float dtype, so only the engine's rounding differs."""


@dataclass(frozen=True)
class Change:
    """What a hook returns: None (`keep`), or its gradient scaled or shifted by `amount`."""

    kind: str
    amount: float = 0.0

    def __call__(self, grad: np.ndarray) -> np.ndarray | None:
        if self.kind == "keep":
            return None
        changed = grad * self.amount if self.kind == "scale" else grad + self.amount
        return np.asarray(changed, dtype=grad.dtype)

    def source(self) -> str:
        """The result in either dialect (`g` a tensor or an array; Python floats keep dtype)."""
        if self.kind == "keep":
            return "None"
        return f"g {'*' if self.kind == 'scale' else '+'} {self.amount!r}"


KEEP = Change("keep")
CHANGES = st.one_of(
    st.just(KEEP),
    st.sampled_from(FACTORS).map(lambda f: Change("scale", f)),
    st.sampled_from((1.0, -0.5)).map(lambda b: Change("shift", b)),
)
SCALINGS = st.one_of(st.just(KEEP), st.sampled_from(FACTORS).map(lambda f: Change("scale", f)))


@dataclass
class Recorder:
    """A hook that records every gradient it receives (and, with `order`, its tag)."""

    change: Change = KEEP
    tag: int = 0
    order: list[int] | None = None
    calls: list[np.ndarray] = field(default_factory=list)

    def __call__(self, grad: np.ndarray) -> np.ndarray | None:
        self.calls.append(np.array(grad, copy=True))
        if self.order is not None:
            self.order.append(self.tag)
        return self.change(grad)


@dataclass
class Case:
    program: Program
    root: str
    seed: np.ndarray
    tensors: list[Any]
    env: dict[str, Any]


def _case(backend: Any, data: st.DataObject, **kwargs: Any) -> Case:
    program = draw_program(data, backend, **kwargs)
    root = draw_root(data, program)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    tensors = program.make_inputs(backend)
    return Case(program, root, seed, tensors, program.evaluate(backend, tensors))


def _requiring(program: Program, *, leaves: bool = True, steps: bool = True) -> list[str]:
    flags = requires_grad_map(program)
    names = [i.name for i in program.inputs if leaves] + [s.name for s in program.steps if steps]
    return [n for n in names if flags[n]]


def _draw_name(data: st.DataObject, names: Sequence[str], label: str = "hooked") -> str:
    assume(names)
    return data.draw(st.sampled_from(list(names)), label=label)


def _reached(grad: np.ndarray | None) -> np.ndarray:
    """The gradient; an example whose root does not reach the value is rejected."""
    if grad is None:
        reject()
    return grad


def _is_leaf(program: Program, name: str) -> bool:
    return name in {i.name for i in program.inputs}


class Reference:
    """The float64 reference computation of a case, for gradients with respect to any value."""

    def __init__(self, reference: Any, case: Case) -> None:
        self.adapter = reference
        self.program = as_float64(case.program)
        self.env = self.program.evaluate(reference, self.program.make_inputs(reference))
        self.root = case.root
        self.seed = np.asarray(case.seed, dtype=np.float64)

    def grads(self, names: Sequence[str]) -> list[np.ndarray | None]:
        """d root / d name for each name (None where the root does not reach it)."""
        return self.adapter.grad_of(
            [self.env[self.root]],
            [self.env[n] for n in names],
            [self.seed],
            retain_graph=True,
            allow_unused=True,
        )

    def through(self, value: str, cotangent: np.ndarray, leaves: Sequence[str]) -> list[Any]:
        """What flows from `value`'s gradient `cotangent` on to each leaf (None: nothing)."""
        return self.adapter.grad_of(
            [self.env[value]],
            [self.env[n] for n in leaves],
            [cotangent],
            retain_graph=True,
            allow_unused=True,
        )


def _scale(reference: Any, case: Case, *factors: Change) -> float:
    largest = max([1.0] + [abs(c.amount) for c in factors])
    return reference_scale(reference, single_root(case.program, case.root), [case.seed]) * largest


def _hook_line(
    repro: Repro, name: str, log: str, change: Change, handle: str = "_", also: str = ""
) -> None:
    """Register a hook recording into `log` in both dialects; `also` runs first in it."""
    repro.line(
        f"{log} = []; {handle} = {name}.register_hook("
        f"lambda g: {also}{log}.append(_host(g)) or {change.source()})",
        f"{log} = []; {handle} = adapter.register_hook(env[{name!r}], "
        f"lambda g: {also}{log}.append(g) or {change.source()})",
    )
    repro.prelude = True


def _expect_calls(
    repro: Repro, program: Program, log: str, calls: Sequence[Any], want: int, what: str
) -> None:
    repro.line(f"assert len({log}) == {want}, f'{what} ran {{len({log})}} times'")
    if len(calls) != want:
        raise repro.fail(f"{what} ran {len(calls)} times; expected {want}", program)


def _expect_close(
    repro: Repro,
    program: Program,
    label: str,
    sources: tuple[str, str],
    got: np.ndarray | None,
    want: np.ndarray,
    tol: Any,
    what: str,
) -> None:
    comparison = compare(got, want, tol, scale=repro.scale)
    if not comparison.ok:
        repro.close(label, sources[0], sources[1], want, tol)
        raise repro.fail(f"{what}: {comparison.describe()}", program)


def _expect_leaf_grads(
    backend: Any,
    case: Case,
    expected: dict[str, np.ndarray | None],
    repro: Repro,
    what: str,
) -> None:
    tol = tolerance(backend, program_dtype(case.program), "reference")
    for name, tensor in leaves_requiring_grad(case.program, case.tensors):
        want, got = expected[name], backend.grad(tensor)
        torch_got, adapter_got = grad_expr(name)
        if want is None:
            if got is not None:
                repro.line(f"assert {torch_got} is None", f"assert {adapter_got} is None")
                raise repro.fail(f"{name}.grad {what}: got a gradient, expected None", case.program)
            continue
        _expect_close(
            repro,
            case.program,
            f"{name}.grad",
            (torch_got, adapter_got),
            got,
            want,
            tol,
            f"{name}.grad {what}",
        )


@requirement("HOOK-001")
@given(data=st.data())
def test_hook_sees_the_summed_gradient_once(
    backend: Any, reference: Any, data: st.DataObject
) -> None:
    case = _case(backend, data)
    name = _draw_name(data, _requiring(case.program))
    seen = Recorder()
    repro = Repro(backend).line("", evaluate_line())
    _hook_line(repro, name, "seen", KEEP)
    backward_line(repro, case.root, case.seed)
    with engine_must_not_raise(
        f"a hook on {name}, then backward of {case.root}", repro, case.program
    ):
        backend.register_hook(case.env[name], seen)
        backend.backward(case.env[case.root], case.seed)
    assume_no_ambiguous_kink(backend, reference, case.program)
    (want,) = Reference(reference, case).grads([name])
    what = f"the hook on {name} during backward of {case.root}"
    if want is None:
        _expect_calls(repro, case.program, "seen", seen.calls, 0, what + " (which misses it)")
        return
    _expect_calls(repro, case.program, "seen", seen.calls, 1, what)
    repro.scale = _scale(reference, case)
    tol = tolerance(backend, program_dtype(case.program), "reference")
    label = f"gradient the hook on {name} received"
    _expect_close(
        repro, case.program, label, ("seen[0]", "seen[0]"), seen.calls[0], want, tol, label
    )


@requirement("HOOK-002")
@given(data=st.data(), change=SCALINGS)
def test_leaf_hook_result_is_accumulated(
    backend: Any, reference: Any, data: st.DataObject, change: Change
) -> None:
    case = _case(backend, data)
    leaf = _draw_name(data, _requiring(case.program, steps=False))
    repro = Repro(backend).line("", evaluate_line())
    _hook_line(repro, leaf, "seen", change)
    backward_line(repro, case.root, case.seed)
    with engine_must_not_raise(
        f"a hook on {leaf}, then backward of {case.root}", repro, case.program
    ):
        backend.register_hook(case.env[leaf], Recorder(change))
        backend.backward(case.env[case.root], case.seed)
    assume_no_ambiguous_kink(backend, reference, case.program)
    names = [n for n, _ in leaves_requiring_grad(case.program, case.tensors)]
    plain = dict(zip(names, Reference(reference, case).grads(names), strict=True))
    g = plain[leaf]
    if g is not None and change is not KEEP:
        plain[leaf] = g * change.amount
    repro.scale = _scale(reference, case, change)
    _expect_leaf_grads(backend, case, plain, repro, f"with a hook {change.source()} on {leaf}")


@requirement("HOOK-003")
@given(data=st.data(), change=SCALINGS)
def test_non_leaf_hook_result_flows_on(
    backend: Any, reference: Any, data: st.DataObject, change: Change
) -> None:
    case = _case(backend, data)
    value = _draw_name(data, _requiring(case.program, leaves=False))
    repro = Repro(backend).line("", evaluate_line())
    _hook_line(repro, value, "seen", change)
    backward_line(repro, case.root, case.seed)
    with engine_must_not_raise(
        f"a hook on {value}, then backward of {case.root}", repro, case.program
    ):
        backend.register_hook(case.env[value], Recorder(change))
        backend.backward(case.env[case.root], case.seed)
    assume_no_ambiguous_kink(backend, reference, case.program)
    ref = Reference(reference, case)
    names = [n for n, _ in leaves_requiring_grad(case.program, case.tensors)]
    expected = dict(zip(names, ref.grads(names), strict=True))
    (g_value,) = ref.grads([value])
    if g_value is not None and change is not KEEP:
        # linearity: the hook scales only what flows through the value
        for name, part in zip(names, ref.through(value, g_value, names), strict=True):
            total = expected[name]
            if part is not None and total is not None:
                expected[name] = total + (change.amount - 1.0) * part
    repro.scale = _scale(reference, case, change)
    _expect_leaf_grads(backend, case, expected, repro, f"with a hook {change.source()} on {value}")


@requirement("HOOK-004")
@given(data=st.data(), changes=st.lists(CHANGES, min_size=2, max_size=3))
def test_hooks_run_in_registration_order_chained(
    backend: Any, reference: Any, data: st.DataObject, changes: list[Change]
) -> None:
    case = _case(backend, data)
    name = _draw_name(data, _requiring(case.program))
    want = _reached(Reference(reference, case).grads([name])[0])
    order: list[int] = []
    hooks = [Recorder(change, k, order) for k, change in enumerate(changes)]
    repro = Repro(backend).line("", evaluate_line())
    repro.line("order = []")
    for k, change in enumerate(changes):
        _hook_line(repro, name, f"seen{k}", change, also=f"order.append({k}) or ")
    backward_line(repro, case.root, case.seed)
    with engine_must_not_raise(f"{len(hooks)} hooks on {name}, then backward", repro, case.program):
        for hook in hooks:
            backend.register_hook(case.env[name], hook)
        backend.backward(case.env[case.root], case.seed)
    assume_no_ambiguous_kink(backend, reference, case.program)
    expected_order = list(range(len(hooks)))
    repro.line(f"assert order == {expected_order}, f'hooks ran in the order {{order}}'")
    if order != expected_order:
        raise repro.fail(
            f"the hooks on {name} ran in the order {order}; expected registration order "
            f"{expected_order}, each once",
            case.program,
        )
    repro.scale = _scale(reference, case, *changes)
    dtype = program_dtype(case.program)
    first = f"gradient the first hook on {name} received"
    _expect_close(
        repro,
        case.program,
        first,
        ("seen0[0]", "seen0[0]"),
        hooks[0].calls[0],
        want,
        tolerance(backend, dtype, "reference"),
        first,
    )
    exact = tolerance(backend, dtype, "accumulate")
    for k in range(1, len(hooks)):
        received = hooks[k - 1].calls[0]
        result = changes[k - 1](received)
        passed = received if result is None else result
        label = f"gradient hook {k} on {name} received"
        previous = f"hook {k - 1}'s result"
        _expect_close(
            repro,
            case.program,
            label,
            (f"seen{k}[0]", f"seen{k}[0]"),
            hooks[k].calls[0],
            passed,
            exact,
            f"{label} (expected {previous})",
        )
    if _is_leaf(case.program, name):
        last = changes[-1](hooks[-1].calls[0])
        final = hooks[-1].calls[0] if last is None else last
        _expect_close(
            repro,
            case.program,
            f"{name}.grad",
            grad_expr(name),
            backend.grad(case.env[name]),
            final,
            exact,
            f"{name}.grad (expected the last hook's result)",
        )


@requirement("HOOK-005")
@given(data=st.data(), between=st.booleans())
def test_removed_hook_no_longer_runs(
    backend: Any, reference: Any, data: st.DataObject, between: bool
) -> None:
    case = _case(backend, data)
    # Between two backwards: a leaf, which outlives its graph (the program is evaluated again).
    name = _draw_name(data, _requiring(case.program, steps=not between))
    want = _reached(Reference(reference, case).grads([name])[0])
    removed, kept = Recorder(Change("scale", 3.0)), Recorder()
    repro = Repro(backend).line("", evaluate_line())
    _hook_line(repro, name, "removed", removed.change, handle="handle")
    _hook_line(repro, name, "kept", KEEP)
    env = case.env
    with engine_must_not_raise(f"two hooks on {name}, one removed", repro, case.program):
        handle = backend.register_hook(env[name], removed)
        backend.register_hook(env[name], kept)
        if between:
            backward_line(repro, case.root, case.seed)
            backend.backward(env[case.root], case.seed)
            repro.line("\n".join(torch_step_lines(case.program)), evaluate_line())
            env = case.program.evaluate(backend, case.tensors)
        repro.line("handle.remove()", "adapter.remove_hook(handle)")
        backend.remove_hook(handle)
        backward_line(repro, case.root, case.seed)
        backend.backward(env[case.root], case.seed)
    assume_no_ambiguous_kink(backend, reference, case.program)
    runs = int(between)
    _expect_calls(repro, case.program, "removed", removed.calls, runs, "the removed hook")
    _expect_calls(repro, case.program, "kept", kept.calls, runs + 1, "the hook kept")
    repro.scale = _scale(reference, case, removed.change)
    label = f"gradient the kept hook on {name} received after the removal"
    _expect_close(
        repro,
        case.program,
        label,
        ("kept[-1]", "kept[-1]"),
        kept.calls[-1],
        want,
        tolerance(backend, program_dtype(case.program), "reference"),
        label,
    )


@requirement("HOOK-006")
@given(data=st.data(), factor=st.sampled_from(FACTORS), retain_first=st.booleans())
def test_retain_grad_sees_the_gradient_after_every_hook(
    backend: Any, reference: Any, data: st.DataObject, factor: float, retain_first: bool
) -> None:
    case = _case(backend, data)
    value = _draw_name(data, _requiring(case.program, leaves=False))
    want = _reached(Reference(reference, case).grads([value])[0])
    change = Change("scale", factor)
    repro = Repro(backend).line("", evaluate_line())
    retain = (f"{value}.retain_grad()", f"adapter.retain_grad(env[{value!r}])")
    with engine_must_not_raise(f"retain_grad() and a hook on {value}", repro, case.program):
        if retain_first:
            repro.line(*retain)
            backend.retain_grad(case.env[value])
        _hook_line(repro, value, "seen", change)
        backend.register_hook(case.env[value], Recorder(change))
        if not retain_first:
            repro.line(*retain)
            backend.retain_grad(case.env[value])
        backward_line(repro, case.root, case.seed)
        backend.backward(case.env[case.root], case.seed)
    assume_no_ambiguous_kink(backend, reference, case.program)
    repro.scale = _scale(reference, case, change)
    when = "before" if retain_first else "after"
    _expect_close(
        repro,
        case.program,
        f"{value}.grad",
        grad_expr(value),
        backend.grad(case.env[value]),
        want * factor,
        tolerance(backend, program_dtype(case.program), "reference"),
        f"{value}.grad with retain_grad() called {when} a hook {change.source()}",
    )


@requirement("HOOK-007")
@given(data=st.data())
def test_register_hook_refused_without_requires_grad(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend)
    flags = requires_grad_map(program)
    name = _draw_name(data, [n for n in flags if not flags[n]], label="plain")
    env = program.evaluate(backend, program.make_inputs(backend))
    repro = Repro(backend).line("", evaluate_line())
    what = f"register_hook on {name} (which does not require grad)"
    refusal_lines(
        repro,
        "hook_without_grad",
        f"{name}.register_hook(lambda g: None)",
        f"adapter.register_hook(env[{name!r}], lambda g: None)",
        what,
    )
    expect_refusal(
        backend,
        "hook_without_grad",
        lambda: backend.register_hook(env[name], Recorder()),
        what=what,
        repro=repro,
        program=program,
    )


@requirement("HOOK-008")
@given(data=st.data(), change=SCALINGS)
def test_post_accumulate_hooks_run_after_grad_is_written(
    backend: Any, reference: Any, data: st.DataObject, change: Change
) -> None:
    case = _case(backend, data)
    leaf = _draw_name(data, _requiring(case.program, steps=False))
    g = _reached(Reference(reference, case).grads([leaf])[0])
    order: list[int] = []
    seen: dict[int, list[tuple[bool, np.ndarray | None]]] = {1: [], 2: []}
    tensor = case.env[leaf]

    def post(tag: int) -> Any:
        def hook(received: Any) -> None:
            order.append(tag)
            seen[tag].append((received is tensor, backend.grad(received)))

        return hook

    repro = Repro(backend).line("", evaluate_line())
    repro.line("order, seen1, seen2 = [], [], []")
    _hook_line(repro, leaf, "pre", change)
    for tag in (1, 2):
        repro.line(
            f"h{tag} = {leaf}.register_post_accumulate_grad_hook(lambda t: order.append({tag}) "
            f"or seen{tag}.append((t is {leaf}, _host(t.grad))))",
            f"h{tag} = adapter.register_post_accumulate_grad_hook(env[{leaf!r}], lambda t: "
            f"order.append({tag}) or seen{tag}.append((t is env[{leaf!r}], adapter.grad(t))))",
        )
    backward_line(repro, case.root, case.seed)
    repro.line("\n".join(torch_step_lines(case.program)), evaluate_line())
    repro.line("h1.remove()", "adapter.remove_hook(h1)")
    backward_line(repro, case.root, case.seed)
    with engine_must_not_raise(f"post-accumulate-grad hooks on {leaf}", repro, case.program):
        backend.register_hook(tensor, Recorder(change))
        first = backend.register_post_accumulate_grad_hook(tensor, post(1))
        backend.register_post_accumulate_grad_hook(tensor, post(2))
        backend.backward(case.env[case.root], case.seed)
        env = case.program.evaluate(backend, case.tensors)
        backend.remove_hook(first)
        backend.backward(env[case.root], case.seed)
    assume_no_ambiguous_kink(backend, reference, case.program)
    repro.line("assert order == [1, 2, 2], f'post-accumulate hooks ran in the order {order}'")
    if order != [1, 2, 2]:
        raise repro.fail(
            f"the post-accumulate-grad hooks on {leaf} ran in the order {order} over two "
            "backwards, the first removed in between; expected [1, 2, 2]",
            case.program,
        )
    repro.line(
        "assert all(is_leaf for is_leaf, _ in seen1 + seen2), 'a hook received another tensor'"
    )
    if not all(is_leaf for is_leaf, _ in seen[1] + seen[2]):
        raise repro.fail(
            f"a post-accumulate-grad hook on {leaf} received another object than the leaf",
            case.program,
        )
    once = g if change is KEEP else g * change.amount
    repro.scale = _scale(reference, case, change)
    tol = tolerance(backend, program_dtype(case.program), "reference")
    for tag, k, want in ((1, 0, once), (2, 0, once), (2, 1, 2 * once)):
        label = f"{leaf}.grad as post-accumulate hook {tag} saw it in backward {k + 1}"
        _expect_close(
            repro,
            case.program,
            label,
            (f"seen{tag}[{k}][1]", f"seen{tag}[{k}][1]"),
            seen[tag][k][1],
            want,
            tol,
            label,
        )


@requirement("HOOK-009")
@given(data=st.data(), non_leaf=st.booleans())
def test_post_accumulate_hook_refused_on_non_leaves(
    backend: Any, data: st.DataObject, non_leaf: bool
) -> None:
    program = draw_program(data, backend)
    flags = requires_grad_map(program)
    names = _requiring(program, leaves=False) if non_leaf else [n for n in flags if not flags[n]]
    name = _draw_name(data, names, label="refused")
    env = program.evaluate(backend, program.make_inputs(backend))
    repro = Repro(backend).line("", evaluate_line())
    kind = "post_hook_non_leaf" if non_leaf else "hook_without_grad"
    why = "a non-leaf" if non_leaf else "which does not require grad"
    what = f"register_post_accumulate_grad_hook on {name} ({why})"
    refusal_lines(
        repro,
        kind,
        f"{name}.register_post_accumulate_grad_hook(lambda t: None)",
        f"adapter.register_post_accumulate_grad_hook(env[{name!r}], lambda t: None)",
        what,
    )
    expect_refusal(
        backend,
        kind,
        lambda: backend.register_post_accumulate_grad_hook(env[name], lambda t: None),
        what=what,
        repro=repro,
        program=program,
    )


@requirement("HOOK-010")
@given(data=st.data())
def test_hooks_anywhere_give_the_reference_gradients(
    backend: Any, reference: Any, data: st.DataObject
) -> None:
    case = _case(backend, data)
    names = _requiring(case.program)
    assume(names)
    hooks = data.draw(
        st.lists(st.tuples(st.sampled_from(names), SCALINGS), min_size=1, max_size=4),
        label="hooks",
    )
    repro = Repro(backend).line("", evaluate_line())
    for k, (name, change) in enumerate(hooks):
        _hook_line(repro, name, f"seen{k}", change)
    backward_line(repro, case.root, case.seed)
    with engine_must_not_raise(f"hooks on {sorted({n for n, _ in hooks})}", repro, case.program):
        for name, change in hooks:
            backend.register_hook(case.env[name], Recorder(change))
        backend.backward(case.env[case.root], case.seed)
    assume_no_ambiguous_kink(backend, reference, case.program)
    ref = Reference(reference, case)
    for name, change in hooks:
        reference.register_hook(ref.env[name], Recorder(change))
    reference.backward(ref.env[case.root], ref.seed)
    expected = {
        name: reference.grad(ref.env[name])
        for name, _ in leaves_requiring_grad(case.program, case.tensors)
    }
    # each hook may scale what flows through it again
    largest = max([1.0] + [abs(c.amount) for _, c in hooks])
    repro.scale = _scale(reference, case) * largest ** len(hooks)
    described = ", ".join(f"{change.source()} on {name}" for name, change in hooks)
    _expect_leaf_grads(backend, case, expected, repro, f"with hooks {described}")
