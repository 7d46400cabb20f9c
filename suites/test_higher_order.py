"""Higher-order gradients: gradients returned with create_graph=True are recorded in the graph
and differentiate to the right second-order VJPs (against central differences of the engine's
own first-order gradient, gradgradcheck's method, and against the reference engine), .grad
written by backward(create_graph=True) feeds a later backward, backward(inputs=...) fills only
the listed leaves, and Hessian-vector products at the functional level."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line
from conformance.judge.numerics import (
    DIRECTION_SEED,
    as_float64,
    compare,
    fsum_dot,
    program_vjp,
    unit_direction,
)
from conformance.spec.program import Program
from conformance.spec.render import literal
from conformance.spec.tolerances import FD_STEP

from .requirement import requirement
from .strategies import OP_ORDER
from .support import (
    assume_no_ambiguous_kink,
    backward_line,
    draw_cotangent,
    draw_program,
    draw_root,
    first_directional_mismatch,
    host_env,
    leaf_ancestors,
    leaves_requiring_grad,
    near_kink,
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

CLEARLY = 1e3
"""A gradient changes with the inputs where its central difference exceeds this many times the
directional tolerance's absolute term: far above the differences' rounding (eps/h ~ 2e-10 of
the scale, 1e-7 being the tolerance) and below any real dependence met in the programs."""

CURVED_OPS = tuple(
    op
    for op in OP_ORDER
    if op
    in {"mul", "div", "pow", "exp", "log", "sigmoid", "tanh", "sin", "matmul", "linear",
        "bce_with_logits"}
)  # fmt: skip
"""The ops whose backward reads their operands or result, so whose own second derivative is not
zero: the per-op second-order checks focus on them (the others' backwards are linear in the
incoming gradient and are exercised on the way)."""


@dataclass(frozen=True)
class Case:
    """A program with one root, the root's seed u and weights w on the inputs requiring grad:
    the second-order VJP is the gradient of <w, J(x)^T u>."""

    program: Program
    root: str
    seed: np.ndarray
    weights: dict[str, np.ndarray]

    @property
    def names(self) -> list[str]:
        return list(self.weights)

    def shape(self, name: str) -> tuple[int, ...]:
        return next(i.value.shape for i in self.program.inputs if i.name == name)

    def widened(self) -> Case:
        """The same case in float64, for the reference engine."""
        weights = {n: w.astype(np.float64) for n, w in self.weights.items()}
        seed = self.seed.astype(np.float64)
        return Case(as_float64(self.program), self.root, seed, weights)


def _draw_case(
    backend: Any, data: st.DataObject, dtypes: set[str] | None = None, focus: str | None = None
) -> Case:
    kwargs: dict[str, Any] = {} if dtypes is None else {"dtypes": dtypes}
    if focus is not None:
        require_op(backend, focus)
        kwargs["focus"] = focus
    program = draw_program(data, backend, requires_grad=True, zeros=False, **kwargs)
    root = draw_root(data, program)
    program = single_root(program, root)
    dtype = program_dtype(program)
    names = sorted(leaf_ancestors(program, root))
    assume(names)
    seed = seed_for(program, draw_cotangent(data, shape_of(program, root)))
    weights = {
        name: draw_cotangent(data, shape_of(program, name), f"weight {name}").astype(dtype)
        for name in names
    }
    return Case(program, root, seed, weights)


def _zeros_if_none(grad: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape) if grad is None else np.asarray(grad, dtype=np.float64)


def _first_order(backend: Any, case: Case, values: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The engine's own first-order gradients J(x)^T u at `values`, by the functional VJP."""
    _, grads = program_vjp(backend, case.program.with_values(values), [case.seed])
    return [_zeros_if_none(grads[n], case.shape(n)) for n in case.names]


def _weighted_gradient(
    backend: Any, case: Case
) -> Callable[[Sequence[np.ndarray]], tuple[float, float]]:
    """x -> <w, J(x)^T u> through the engine's first-order gradients, with its magnitude."""

    def f(values: Sequence[np.ndarray]) -> tuple[float, float]:
        return fsum_dot(_first_order(backend, case, values), [case.weights[n] for n in case.names])

    return f


def _wrt(case: Case) -> list[int]:
    return [k for k, i in enumerate(case.program.inputs) if i.name in case.weights]


def _values(case: Case) -> list[np.ndarray]:
    return [i.value for i in case.program.inputs]


def _rounding(reference: Any, case: Case) -> float:
    """The largest magnitude a first-order gradient goes through (forward values and every
    intermediate gradient, on the reference engine), times the largest weight: the rounding
    error of <w, J^T u> is eps times that, as for support.check_finite_differences."""
    wide = case.widened()
    largest = reference_scale(reference, wide.program, [wide.seed])
    weight = max(float(np.max(np.abs(w), initial=0.0)) for w in wide.weights.values())
    return largest * max(1.0, weight)


def _assume_smooth(backend: Any, case: Case) -> None:
    # Central differences straddling a relu/abs kink measure a jump, not a derivative.
    assume(not near_kink(case.program, host_env(backend, case.program)))


def _grad_of_grad(adapter: Any, case: Case) -> dict[str, np.ndarray]:
    """The gradient of <w, g> for g = autograd.grad(root, leaves, u, create_graph=True), built
    with the engine's own ops; zeros where no g requires grad (it does not change with x)."""
    tensors = case.program.make_inputs(adapter)
    env = case.program.evaluate(adapter, tensors)
    leaves = [(n, t) for n, t in leaves_requiring_grad(case.program, tensors) if n in case.weights]
    firsts = adapter.grad_graph([env[case.root]], [t for _, t in leaves], [case.seed])
    terms = [
        adapter.apply("sum", [adapter.apply("mul", [g, adapter.tensor(case.weights[n])], {})], {})
        for (n, _), g in zip(leaves, firsts, strict=True)
        if g is not None and adapter.requires_grad(g)
    ]
    if not terms:
        return {n: np.zeros(case.shape(n)) for n in case.names}
    total = functools.reduce(lambda a, b: adapter.apply("add", [a, b], {}), terms)
    seconds = adapter.grad_of([total], [t for _, t in leaves], allow_unused=True)
    return {n: _zeros_if_none(s, case.shape(n)) for (n, _), s in zip(leaves, seconds, strict=True)}


def _grad_of_grad_lines(repro: Repro, case: Case) -> Repro:
    names = ", ".join(case.names)
    weights = ", ".join(f"{literal(case.weights[n])}" for n in case.names)
    repro.line(
        f"g = torch.autograd.grad([{case.root}], [{names}], grad_outputs=[torch.tensor("
        f"{literal(case.seed)}, dtype={case.root}.dtype{repro.device_kw})], create_graph=True, "
        "allow_unused=True)",
        f"g = adapter.grad_graph([env[{case.root!r}]], [env[n] for n in {case.names!r}], "
        f"[np.array({literal(case.seed)}, dtype={case.seed.dtype.name!r})])",
    )
    repro.line(
        f"w = [torch.tensor(v, dtype=torch.float64{repro.device_kw}) for v in [{weights}]]",
        f"w = [np.array(v) for v in [{weights}]]",
    )
    repro.line(
        f"total = sum((gi * wi).sum() for gi, wi in zip(g, w) if gi is not None and "
        f"gi.requires_grad); second = torch.autograd.grad(total, [{names}], allow_unused=True)",
        "# the gradient of <w, g> w.r.t. the leaves: adapter.grad_of([total], leaves)",
    )
    return repro


def _directional_check(
    backend: Any,
    reference: Any,
    case: Case,
    analytic: dict[str, np.ndarray],
    repro: Repro,
    what: str,
) -> None:
    """<analytic, d> against central differences of x -> <w, J(x)^T u> along d, for fixed
    random unit directions d."""
    f = _weighted_gradient(backend, case)
    values, wrt = _values(case), _wrt(case)
    ordered = [case.program.inputs[k].name for k in wrt]
    tol = tolerance(backend, "float64", "directional")
    rounding = _rounding(reference, case)
    grads = [analytic[m] for m in ordered]
    mismatch = first_directional_mismatch(f, values, wrt, grads, tol, rounding)
    if mismatch is not None:
        n, result, comparison = mismatch
        raise repro.fail(
            f"{what} along direction {n}: <second-order VJP, d> is {result.analytical!r}, "
            f"central differences of <w, J(x)^T u> through the engine's first-order "
            f"gradients give {result.numerical!r} ({comparison.describe()})",
            case.program,
        )


@requirement("HIGHER-001")
@given(data=st.data())
def test_create_graph_gives_gradients_recorded_in_the_graph(
    backend: Any, reference: Any, data: st.DataObject
) -> None:
    case = _draw_case(backend, data, {"float64"})
    _assume_smooth(backend, case)
    repro = Repro(backend).line("", evaluate_line())
    _grad_of_grad_lines(repro, case)
    tensors = case.program.make_inputs(backend)
    env = case.program.evaluate(backend, tensors)
    leaves = [t for n, t in leaves_requiring_grad(case.program, tensors) if n in case.weights]
    with engine_must_not_raise("autograd.grad without create_graph", repro, case.program):
        plain = backend.grad_graph([env[case.root]], leaves, [case.seed], create_graph=False)
    for name, g in zip(case.names, plain, strict=True):
        if g is not None and (backend.requires_grad(g) or backend.grad_fn(g) is not None):
            raise repro.fail(
                f"the gradient of {name} from autograd.grad without create_graph requires grad "
                f"({backend.requires_grad(g)}) or has a grad_fn ({backend.grad_fn(g)!r})",
                case.program,
            )
    # Afresh: the call above freed the graph's saved values.
    tensors = case.program.make_inputs(backend)
    env = case.program.evaluate(backend, tensors)
    leaves = [t for n, t in leaves_requiring_grad(case.program, tensors) if n in case.weights]
    with engine_must_not_raise("autograd.grad(create_graph=True)", repro, case.program):
        recorded = backend.grad_graph([env[case.root]], leaves, [case.seed])
    # Whether each gradient changes with x: central differences of the engine's own first-order
    # gradient along one random direction.
    values, wrt = _values(case), _wrt(case)
    d = unit_direction([values[k].shape for k in wrt], np.random.default_rng(DIRECTION_SEED))
    largest = max([1.0] + [float(np.max(np.abs(values[k]), initial=0.0)) for k in wrt])
    h = FD_STEP * largest
    plus, minus = list(values), list(values)
    for k, dk in zip(wrt, d, strict=True):
        plus[k], minus[k] = values[k] + h * dk, values[k] - h * dk
    ordered = [case.program.inputs[k].name for k in wrt]
    at_plus = dict(zip(case.names, _first_order(backend, case, plus), strict=True))
    at_minus = dict(zip(case.names, _first_order(backend, case, minus), strict=True))
    tol = tolerance(backend, "float64", "directional")
    threshold = CLEARLY * tol.atol * max(1.0, _rounding(reference, case))
    changes = {
        n: float(np.max(np.abs(at_plus[n] - at_minus[n]), initial=0.0)) / (2 * h) for n in ordered
    }
    for name, g in zip(case.names, recorded, strict=True):
        if changes[name] <= threshold:
            continue
        if g is None or not backend.requires_grad(g) or backend.grad_fn(g) is None:
            repro.line(
                f"i = {case.names.index(name)}; assert g[i] is not None and g[i].requires_grad "
                f"and g[i].grad_fn is not None, 'gradient of {name} is not recorded'",
                f"i = {case.names.index(name)}; assert adapter.requires_grad(g[i]) and "
                f"adapter.grad_fn(g[i]) is not None, 'gradient of {name} is not recorded'",
            )
            got = (
                "None"
                if g is None
                else (f"requires_grad={backend.requires_grad(g)}, grad_fn={backend.grad_fn(g)!r}")
            )
            raise repro.fail(
                f"the gradient of {name} from autograd.grad(create_graph=True) changes with the "
                f"inputs (central differences {changes[name]:.3g} along a direction) but is not "
                f"recorded: {got}",
                case.program,
            )


@per_op(CURVED_OPS)
@requirement("HIGHER-002")
@given(data=st.data())
def test_gradients_of_gradients_match_finite_differences(
    backend: Any, reference: Any, focus: str, data: st.DataObject
) -> None:
    # Once per op: a second derivative wrong in one op's backward alone must not pass by luck.
    case = _draw_case(backend, data, {"float64"}, focus)
    _assume_smooth(backend, case)
    repro = _grad_of_grad_lines(Repro(backend).line("", evaluate_line()), case)
    with engine_must_not_raise("a gradient of gradients", repro, case.program):
        analytic = _grad_of_grad(backend, case)
    _directional_check(backend, reference, case, analytic, repro, "gradient of <w, g>")


@requirement("HIGHER-003")
@given(data=st.data())
def test_gradients_of_gradients_match_the_reference(
    backend: Any, reference: Any, data: st.DataObject
) -> None:
    case = _draw_case(backend, data)
    repro = _grad_of_grad_lines(Repro(backend).line("", evaluate_line()), case)
    with engine_must_not_raise("a gradient of gradients", repro, case.program):
        got = _grad_of_grad(backend, case)
    assume_no_ambiguous_kink(backend, reference, case.program)
    want = _grad_of_grad(reference, case.widened())
    tol = tolerance(backend, program_dtype(case.program), "reference")
    scale = max([_rounding(reference, case)] + [float(np.max(np.abs(w))) for w in want.values()])
    for name in case.names:
        comparison = compare(got[name], want[name], tol, scale=scale)
        if not comparison.ok:
            repro.scale = scale
            repro.close(
                f"second-order gradient of {name}",
                f"second[{case.names.index(name)}]",
                f"second[{case.names.index(name)}]",
                want[name],
                tol,
            )
            raise repro.fail(
                f"gradient of <w, g> w.r.t. {name} against the reference engine: "
                f"{comparison.describe()}",
                case.program,
            )


@requirement("HIGHER-004")
@given(data=st.data())
def test_backward_from_a_recorded_grad_accumulates(
    backend: Any, reference: Any, data: st.DataObject
) -> None:
    case = _draw_case(backend, data, {"float64"})
    _assume_smooth(backend, case)
    repro = Repro(backend).line("", evaluate_line())
    tensors = case.program.make_inputs(backend)
    env = case.program.evaluate(backend, tensors)
    leaves = [(n, t) for n, t in leaves_requiring_grad(case.program, tensors) if n in case.weights]
    repro.line(
        f"{case.root}.backward(torch.tensor({literal(case.seed)}, dtype={case.root}.dtype"
        f"{repro.device_kw}), create_graph=True); first = [{', '.join(case.names)}]",
        f"adapter.backward_graph(env[{case.root!r}], np.array({literal(case.seed)}))",
    )
    try:
        with engine_must_not_raise("backward(create_graph=True)", repro, case.program):
            backend.backward_graph(env[case.root], case.seed)
        first = {n: _zeros_if_none(backend.grad(t), case.shape(n)) for n, t in leaves}
        recorded = [(n, backend.grad_tensor(t)) for n, t in leaves]
        terms = [
            backend.apply(
                "sum", [backend.apply("mul", [g, backend.tensor(case.weights[n])], {})], {}
            )
            for n, g in recorded
            if g is not None and backend.requires_grad(g)
        ]
        repro.line(
            "# then a backward from sum over the leaves of (leaf.grad * w).sum(), where "
            "leaf.grad requires grad"
        )
        if terms:
            total = functools.reduce(lambda a, b: backend.apply("add", [a, b], {}), terms)
            with engine_must_not_raise("a backward from .grad", repro, case.program):
                backend.backward(total)
        added = {n: _zeros_if_none(backend.grad(t), case.shape(n)) - first[n] for n, t in leaves}
    finally:
        for _, t in leaves:  # .grad refers back to its leaf through its graph: break the cycle
            backend.clear_grad(t)
    _directional_check(
        backend, reference, case, added, repro, "what the backward from .grad added to .grad"
    )


@requirement("HIGHER-005")
@given(data=st.data(), before=st.booleans())
def test_backward_inputs_fills_only_the_listed_leaves(
    backend: Any, reference: Any, data: st.DataObject, before: bool
) -> None:
    case = _draw_case(backend, data)
    listed = data.draw(
        st.lists(st.sampled_from(case.names), min_size=1, unique=True), label="inputs"
    )
    tensors = case.program.make_inputs(backend)
    env = case.program.evaluate(backend, tensors)
    leaves = leaves_requiring_grad(case.program, tensors)
    by_name = dict(leaves)
    repro = Repro(backend).line("", evaluate_line())
    if before:  # every leaf starts with a .grad, which the listed ones must add to
        backward_line(repro, case.root, case.seed, retain=True)
    repro.line(
        f"{case.root}.backward(torch.tensor({literal(case.seed)}, dtype={case.root}.dtype"
        f"{repro.device_kw}), inputs=[{', '.join(listed)}])",
        f"adapter.backward(env[{case.root!r}], np.array({literal(case.seed)}), "
        f"inputs=[env[n] for n in {listed!r}])",
    )
    with engine_must_not_raise("backward(inputs=...)", repro, case.program):
        if before:
            backend.backward(env[case.root], case.seed, retain_graph=True)
        prior = {n: backend.grad(t) for n, t in leaves}
        backend.backward(env[case.root], case.seed, inputs=[by_name[n] for n in listed])
    for name, t in leaves:
        if name in listed:
            continue
        got, was = backend.grad(t), prior[name]
        unchanged = (got is None and was is None) or (
            got is not None and was is not None and np.array_equal(got, was, equal_nan=True)
        )
        if not unchanged:
            repro.line(
                f"assert {name}.grad is None" if was is None else f"# {name}.grad as before",
                f"assert adapter.grad(env[{name!r}]) is None" if was is None else "",
            )
            raise repro.fail(
                f"backward(inputs={listed}) changed the .grad of {name}, not listed: "
                f"{'None' if was is None else 'its earlier value'} became "
                f"{'None' if got is None else 'a different value'}",
                case.program,
            )
    assume_no_ambiguous_kink(backend, reference, case.program)
    want = reference_gradients(reference, case.program, [case.seed])
    tol = tolerance(backend, program_dtype(case.program), "reference")
    scale = reference_scale(reference, case.program, [case.seed])
    for name in listed:
        shape = case.shape(name)
        expected = _zeros_if_none(want[name], shape) + _zeros_if_none(prior[name], shape)
        got = backend.grad(by_name[name])
        comparison = compare(got, expected, tol, scale=scale)
        if not comparison.ok:
            repro.scale = scale
            repro.close(
                f"{name}.grad", f"{name}.grad", f"adapter.grad(env[{name!r}])", expected, tol
            )
            raise repro.fail(
                f"{name}.grad after backward(inputs={listed}): {comparison.describe()}",
                case.program,
            )


@per_op(CURVED_OPS)
@requirement("HVP-001")
@given(data=st.data())
def test_hessian_vector_products_match_finite_differences(
    backend: Any, reference: Any, focus: str, data: st.DataObject
) -> None:
    case = _draw_case(backend, data, {"float64"}, focus)
    _assume_smooth(backend, case)
    values, wrt = _values(case), _wrt(case)
    # v: the case's weights, scaled to unit length (the differences step along it)
    norm = float(np.sqrt(sum(float(np.sum(w * w)) for w in case.weights.values())))
    assume(norm > 0)
    ordered = [case.program.inputs[k].name for k in wrt]
    vectors = [case.weights[n] / norm for n in ordered]
    program, root, seed = case.program, case.root, case.seed

    def scalar(tensors: Sequence[Any]) -> Any:
        given_ = dict(zip(wrt, tensors, strict=True))
        full = [
            given_[k] if k in given_ else backend.tensor(i.value)
            for k, i in enumerate(program.inputs)
        ]
        out = program.evaluate(backend, full)[root]
        return backend.apply("sum", [backend.apply("mul", [out, backend.tensor(seed)], {})], {})

    repro = Repro(backend).line(
        f"f = lambda *xs: ({root} * torch.tensor({literal(seed)}, dtype=torch.float64)).sum()  "
        "# the program's root, recomputed from xs",
        "# adapter.hvp(f, [inputs requiring grad], vectors), f = sum(root * seed)",
    )
    with engine_must_not_raise("a Hessian-vector product", repro, program):
        products = backend.hvp(scalar, [values[k] for k in wrt], vectors)
    largest = max([1.0] + [float(np.max(np.abs(values[k]), initial=0.0)) for k in wrt])
    h = FD_STEP * largest
    plus = list(values)
    minus = list(values)
    for k, v in zip(wrt, vectors, strict=True):
        plus[k], minus[k] = values[k] + h * v, values[k] - h * v
    at_plus = _first_order(backend, case, plus)
    at_minus = _first_order(backend, case, minus)
    tol = tolerance(backend, "float64", "directional")
    scale = max(1.0, _rounding(reference, case))
    for name, product, p, m in zip(ordered, products, at_plus, at_minus, strict=True):
        numeric = (p - m) / (2 * h)
        got = _zeros_if_none(product, case.shape(name))
        comparison = compare(got, numeric, tol, scale=scale)
        if not comparison.ok:
            raise repro.fail(
                f"Hessian-vector product for {name} against central differences of the engine's "
                f"own gradient along v: {comparison.describe()}",
                program,
            )
