"""What several suite modules share: drawing programs for a backend, the static expectations of
a program (which values require grad, which leaves a root depends on), gradient references, and
the flag checks with their reproducers. Everything goes through the adapter protocol."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, settings
from hypothesis import strategies as st

from conformance.judge.checks import Repro, evaluate_line, flags_line, vjp_repro
from conformance.judge.numerics import (
    DIRECTION_SEED,
    as_float64,
    central_differences,
    compare,
    directional_derivative,
    evaluate_numpy,
    program_vjp,
    rounding_magnitude,
    scalarised,
    unit_direction,
)
from conformance.plugin import NOT_APPLICABLE
from conformance.spec.ops import KINK_OPS, OPS, VIEW_OPS
from conformance.spec.program import Apply, Program
from conformance.spec.tolerances import Tolerance, lookup

from .strategies import FLOAT_DTYPES, OP_ORDER, arrays, for_backend, programs

NON_VIEW_OPS = tuple(sorted(set(OPS) - set(VIEW_OPS)))
"""Under no-grad PyTorch gives a view its base's requires_grad; grad-mode tests leave views out."""


def float_dtypes(adapter: Any) -> set[str]:
    return set(FLOAT_DTYPES) & set(adapter.capabilities.dtypes)


def draw_program(data: st.DataObject, adapter: Any, **kwargs: Any) -> Program:
    """A random program the adapter can run, in any float dtype it declares."""
    kwargs.setdefault("dtypes", float_dtypes(adapter))
    return data.draw(for_backend(adapter, programs, **kwargs), label="program")


def per_op(ops: Sequence[str] = OP_ORDER) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run a program-drawing test once per op, each with a share of the profile's budget.

    Left to the draw, 25 examples of a few steps each miss some ops entirely (index, transpose,
    div...), so a bug confined to one op's backward would pass `ci` by luck. With a `focus`, the
    first step of every program applies that op, and each op gets an eighth of the budget (at
    least MIN_PER_OP): 6 per op under `ci`, 50 under `thorough`.
    """
    budget = max(MIN_PER_OP, settings.default.max_examples // 8)

    def decorate(test: Callable[..., Any]) -> Callable[..., Any]:
        return pytest.mark.parametrize("focus", ops)(settings(max_examples=budget)(test))

    return decorate


MIN_PER_OP = 6


def require_op(adapter: Any, op: str) -> None:
    """A focus op the engine does not declare makes that case not applicable (not a skip)."""
    if op not in adapter.capabilities.ops:
        pytest.skip(f"{NOT_APPLICABLE} the engine does not declare op {op!r}")


def requires_grad_map(program: Program) -> dict[str, bool]:
    """Which values require grad with grad mode on: inputs by their flag, op results when the op
    is differentiable and some operand requires grad."""
    flags = {i.name: i.differentiable for i in program.inputs}
    for step in program.steps:
        flags[step.name] = OPS[step.op].differentiable and any(flags[a] for a in step.args)
    return flags


def leaf_ancestors(program: Program, name: str) -> set[str]:
    """Inputs requiring grad that `name` depends on through differentiable ops."""
    by_name = {s.name: s for s in program.steps}
    flags = requires_grad_map(program)
    found: set[str] = set()
    stack = [name]
    seen: set[str] = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        step = by_name.get(current)
        if step is None:
            if flags[current]:
                found.add(current)
        elif OPS[step.op].differentiable:
            stack.extend(a for a in step.args if flags[a])
    return found


def float_roots(program: Program) -> list[str]:
    """Outputs that are op results requiring grad (roots one can call backward on)."""
    flags = requires_grad_map(program)
    steps = {s.name for s in program.steps}
    return [o for o in program.outputs if o in steps and flags[o]]


def draw_root(data: st.DataObject, program: Program) -> str:
    roots = float_roots(program)
    assume(roots)
    return data.draw(st.sampled_from(roots), label="root")


def shape_of(program: Program, name: str) -> tuple[int, ...]:
    return tuple(np.shape(evaluate_numpy(program)[name]))


def draw_cotangent(data: st.DataObject, shape: tuple[int, ...], label: str = "seed") -> np.ndarray:
    """A seed gradient in float64 (values exact in float32); 1, -1 and 0.5 appear often."""
    return data.draw(_cotangents(tuple(int(d) for d in shape)), label=label)


@cache
def _cotangents(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    elements = st.one_of(st.sampled_from([1.0, -1.0, 0.5]), st.floats(-2.0, 2.0, width=32))
    return arrays(elements, shape, "float64")


def single_root(program: Program, root: str) -> Program:
    return Program(program.inputs, program.steps, (root,))


def with_steps(program: Program, steps: Sequence[Apply], outputs: Sequence[str]) -> Program:
    return Program(program.inputs, (*program.steps, *steps), tuple(outputs))


def reference_gradients(
    reference: Any, program: Program, cotangents: Sequence[np.ndarray]
) -> dict[str, np.ndarray | None]:
    """The reference engine's gradients, in float64 (float32 programs are widened: what is then
    measured against them is the backend's own rounding)."""
    _, grads = program_vjp(reference, as_float64(program), cotangents)
    return grads


def tolerance(adapter: Any, dtype: str, check: str) -> Tolerance:
    return lookup(dtype, adapter.device, check)


def program_dtype(program: Program) -> str:
    return "float32" if "float32" in program.dtypes else "float64"


def expect_flags(
    adapter: Any,
    program: Program,
    name: str,
    tensor: Any,
    *,
    is_leaf: bool | None = None,
    requires_grad: bool | None = None,
    grad_fn: bool | None = None,
    context: str = "",
    repro: Repro | None = None,
) -> None:
    """Compare a tensor's flags with the expectation; raise a Nonconformance naming each."""
    got = {
        "is_leaf": adapter.is_leaf(tensor) if is_leaf is not None else None,
        "requires_grad": adapter.requires_grad(tensor) if requires_grad is not None else None,
        "grad_fn": (adapter.grad_fn(tensor) is not None) if grad_fn is not None else None,
    }
    want = {"is_leaf": is_leaf, "requires_grad": requires_grad, "grad_fn": grad_fn}
    wrong = [k for k in want if want[k] is not None and got[k] != want[k]]
    if not wrong:
        return
    if repro is None:
        repro = Repro(adapter).line("", evaluate_line())
        flags_line(repro, name, is_leaf=is_leaf, requires_grad=requires_grad, grad_fn=grad_fn)
    described = ", ".join(
        f"{k}={'present' if got[k] else 'None'}" if k == "grad_fn" else f"{k}={got[k]}"
        for k in wrong
    )
    expected = ", ".join(
        f"{k}={'present' if want[k] else 'None'}" if k == "grad_fn" else f"{k}={want[k]}"
        for k in wrong
    )
    where = f" {context}" if context else ""
    raise repro.fail(f"{name}{where}: {described}; expected {expected}", program)


def leaves_requiring_grad(program: Program, tensors: Sequence[Any]) -> list[tuple[str, Any]]:
    return [(i.name, t) for i, t in zip(program.inputs, tensors, strict=True) if i.differentiable]


def grads(adapter: Any, leaves: Sequence[tuple[str, Any]]) -> dict[str, np.ndarray | None]:
    return {name: adapter.grad(t) for name, t in leaves}


def seed_for(program: Program, seed: np.ndarray) -> np.ndarray:
    """The seed in the program's dtype: engines need not accept a wider gradient."""
    return np.asarray(seed, dtype=program_dtype(program))


def backward_line(repro: Repro, root: str, seed: np.ndarray, retain: bool = False) -> None:
    from conformance.spec.render import literal

    retain_src = ", retain_graph=True" if retain else ""
    repro.line(
        f"{root}.backward(torch.tensor({literal(seed)}, dtype={root}.dtype{repro.device_kw})"
        f"{retain_src})",
        f"adapter.backward(env[{root!r}], np.array({literal(seed)}, dtype={seed.dtype.name!r})"
        f"{retain_src})",
    )


def grad_expr(adapter_name: str) -> tuple[str, str]:
    """How a check reads a leaf's .grad: (PyTorch dialect, adapter dialect)."""
    return f"{adapter_name}.grad", f"adapter.grad(env[{adapter_name!r}])"


def host_env(adapter: Any, program: Program, values: Sequence[np.ndarray] | None = None) -> dict:
    """Every value of the program computed by the adapter, as host arrays."""
    arrays = [i.value for i in program.inputs] if values is None else values
    tensors = [adapter.tensor(np.asarray(v)) for v in arrays]
    env = program.evaluate(adapter, tensors)
    return {name: adapter.to_numpy(t) for name, t in env.items()}


def ambiguous_kink(
    program: Program, backend_env: dict, reference_env: dict, tol: Tolerance
) -> bool:
    """True where a relu/abs operand sits so close to a kink (the op table's `kinks`: 0) that
    backend and reference disagree on its side only by rounding: the subgradient each picks is
    then a coin toss, not a bug. A backend whose forward is wrong beyond the tolerance is not
    excused (FWD-001 flags it).
    Closeness is judged against the largest forward value, as rounding errors are."""
    largest = max(
        [1.0]
        + [
            float(np.max(np.abs(v), initial=0.0))
            for v in reference_env.values()
            if np.asarray(v).dtype.kind == "f"
        ]
    )
    for step in program.steps:
        if step.op not in KINK_OPS:
            continue
        got = np.asarray(backend_env[step.args[0]], dtype=np.float64)
        want = np.asarray(reference_env[step.args[0]], dtype=np.float64)
        if got.shape != want.shape:
            continue
        close = np.abs(got - want) <= tol.atol * largest + tol.rtol * np.abs(want)
        for kink in OPS[step.op].kinks:
            if np.any((np.sign(got - kink.at) != np.sign(want - kink.at)) & close):
                return True
    return False


def near_kink(program: Program, env: dict, margin: float = 1e-3) -> bool:
    """True where a relu/abs operand is within `margin` (relative to its array's magnitude) of
    a kink: central differences there straddle it."""
    for step in program.steps:
        for kink in OPS[step.op].kinks:
            operand = np.asarray(env[step.args[0]], dtype=np.float64)
            scale = max(1.0, float(np.max(np.abs(operand), initial=0.0)))
            if np.any(np.abs(operand - kink.at) < margin * scale):
                return True
    return False


def assume_no_ambiguous_kink(backend: Any, reference: Any, program: Program) -> None:
    """Skip (as hypothesis's assume) programs that sit on a relu/abs kink where the backend and
    the float64 reference differ only by rounding (see ambiguous_kink)."""
    if not any(step.op in KINK_OPS for step in program.steps):
        return
    tol = tolerance(backend, program_dtype(program), "reference")
    backend_env = host_env(backend, program)
    reference_env = host_env(reference, as_float64(program))
    assume(not ambiguous_kink(program, backend_env, reference_env, tol))


def reference_scale(
    reference: Any, program: Program, cotangents: Sequence[np.ndarray] | None = None
) -> float:
    """The largest magnitude the computation goes through on the reference engine (float64):
    every value of the program and, with cotangents, every gradient, intermediate ones included.
    Rounding errors scale with it: an output that cancels to near zero from terms of 1e3 carries
    errors of 1e3 eps, which a tolerance scaled by the output alone would call a bug."""
    wide = as_float64(program)
    tensors = [
        reference.tensor(i.value, requires_grad=i.differentiable and cotangents is not None)
        for i in wide.inputs
    ]
    env = wide.evaluate(reference, tensors)
    largest = max(
        [1.0] + [float(np.max(np.abs(reference.to_numpy(t)), initial=0.0)) for t in env.values()]
    )
    if cotangents is None:
        return largest
    roots = [(env[o], c) for o, c in zip(wide.outputs, cotangents, strict=True)]
    roots = [(t, c) for t, c in roots if reference.requires_grad(t)]
    values = [t for t in env.values() if reference.requires_grad(t)]
    if not roots or not values:
        return largest
    grads = reference.grad_of(
        [t for t, _ in roots],
        values,
        [np.asarray(c, dtype=np.float64) for _, c in roots],
        allow_unused=True,
    )
    return max([largest] + [float(np.max(np.abs(g), initial=0.0)) for g in grads if g is not None])


# -- gradients against central differences of the backend's own forward --------------------------
FULL_FD_LIMIT = 64
"""Up to this many input elements, finite differences go element by element; above, the
directional check runs instead (two forwards per direction instead of two per element)."""
DIRECTIONS = 3


def check_finite_differences(
    backend: Any,
    program: Program,
    cotangents: Sequence[np.ndarray],
    analytic: Mapping[str, np.ndarray],
    *,
    subject: str,
    label: str,
) -> None:
    """Raise a nonconformance unless the VJP `analytic` (by input name, float64 program) matches
    central finite differences of sum(output * cotangent) through the backend's own forward.

    `subject` names what is differentiated in the failure message; `label` heads the reproducer's
    assertions. Small inputs are differenced element by element, large ones in DIRECTIONS fixed
    random directions; a failing direction's reproducer still compares element by element.
    """
    names = list(analytic)
    wrt = [k for k, i in enumerate(program.inputs) if i.name in analytic]
    values = [i.value for i in program.inputs]
    grads = [analytic[n] for n in names]
    f = scalarised(backend, program, cotangents)
    fd_tol = tolerance(backend, "float64", "finite_difference")
    rounding = rounding_magnitude(program, cotangents)
    if sum(values[k].size for k in wrt) <= FULL_FD_LIMIT:
        numeric, magnitude = central_differences(f, values, wrt)
        for name, a, fd in zip(names, grads, numeric, strict=True):
            comparison = compare(a, fd, fd_tol, scale=max(1.0, magnitude, rounding))
            if not comparison.ok:
                expected = dict(zip(names, numeric, strict=True))
                repro = vjp_repro(backend, program, cotangents, expected, fd_tol, label)
                raise repro.fail(
                    f"gradient of {name} vs central differences of the backend's forward: "
                    f"{comparison.describe()}",
                    program,
                )
        return
    tol = tolerance(backend, "float64", "directional")
    mismatch = first_directional_mismatch(f, values, wrt, grads, tol, rounding)
    if mismatch is not None:
        n, result, comparison = mismatch
        # The reproducer compares element by element: slow, but only run on a failure.
        numeric, _ = central_differences(f, values, wrt)
        expected = dict(zip(names, numeric, strict=True))
        repro = vjp_repro(backend, program, cotangents, expected, fd_tol, label)
        raise repro.fail(
            f"directional derivative {n} of {subject} (inputs {names}): v^T J u from the "
            f"VJP is {result.analytical!r}, central differences of the backend's forward "
            f"give {result.numerical!r} ({comparison.describe()})",
            program,
        )


def first_directional_mismatch(
    f: Callable[[Sequence[np.ndarray]], float],
    values: Sequence[np.ndarray],
    wrt: Sequence[int],
    grads: Sequence[np.ndarray],
    tol: Any,
    rounding: float,
) -> tuple[int, Any, Any] | None:
    """The first of DIRECTIONS fixed random unit directions d along which <grads, d> and central
    differences of the scalar `f` along d disagree, as (n, the directional result, the
    comparison); None when they agree along every one."""
    rng = np.random.default_rng(DIRECTION_SEED)
    for n in range(DIRECTIONS):
        d = unit_direction([values[k].shape for k in wrt], rng)
        result = directional_derivative(f, values, wrt, grads, d)
        comparison = compare(
            np.array(result.analytical),
            np.array(result.numerical),
            tol,
            scale=max(1.0, result.magnitude, rounding),
        )
        if not comparison.ok:
            return n, result, comparison
    return None
