"""The linear + BCE-with-logits example (`z = x @ W + b`, `loss = BCEWithLogits(z, y)`): against
the float64 closed form, central differences of the backend's own forward, and the reference
engine; finite at extreme logits; the exact gradient at a logit of 0. Functional level."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, vjp_must_not_raise, vjp_repro
from conformance.judge.numerics import LinearBCE, as_float64, compare, program_vjp, sigmoid
from conformance.spec.program import Apply, Input, Program

from .requirement import requirement
from .strategies import linear_bce_cases, values
from .support import check_finite_differences, draw_cotangent, float_dtypes, tolerance


def _case(data: st.DataObject, backend: Any, **kwargs: Any) -> LinearBCE:
    forms = ["matmul"] + (["linear"] if "linear" in backend.capabilities.ops else [])
    kwargs.setdefault("dtypes", float_dtypes(backend))
    return data.draw(linear_bce_cases(forms=forms, **kwargs), label="case")


def _cotangent(data: st.DataObject, case: LinearBCE) -> np.ndarray:
    shape = case.y.shape if case.reduction == "none" else ()
    return draw_cotangent(data, shape, "cotangent").astype(case.y.dtype)


def _wrt(program: Program) -> list[str]:
    return [i.name for i in program.inputs if i.differentiable]


def _check_all(
    backend: Any,
    program: Program,
    cotangent: np.ndarray,
    got_loss: np.ndarray,
    got: dict[str, np.ndarray | None],
    want_loss: np.ndarray,
    want: dict[str, np.ndarray],
    tol: Any,
    against: str,
    scale: float,
) -> None:
    loss_cmp = compare(got_loss, want_loss, tol, scale=scale)
    if not loss_cmp.ok:
        repro = Repro(backend, scale=scale)
        repro.close("loss", "outputs[0]", "adapter.to_numpy(outputs[0])", want_loss, tol)
        raise repro.fail(f"loss vs {against}: {loss_cmp.describe()}", program)
    names = _wrt(program)
    for name in names:
        comparison = compare(got.get(name), want[name], tol, scale=scale)
        if not comparison.ok:
            expected = {n: want[n] for n in names}
            repro = vjp_repro(backend, program, [cotangent], expected, tol, f"vs {against}:", scale)
            raise repro.fail(f"gradient of {name} vs {against}: {comparison.describe()}", program)


@requirement("BCE-001")
@given(data=st.data())
def test_linear_bce_matches_closed_form(backend: Any, data: st.DataObject) -> None:
    case = _case(data, backend)
    program = case.program()
    cotangent = _cotangent(data, case)
    with vjp_must_not_raise(backend, program, [cotangent]):
        (loss,), got = program_vjp(backend, program, [cotangent])
    want_loss, want = case.closed_form(cotangent.astype(np.float64))
    tol = tolerance(backend, case.y.dtype.name, "closed_form")
    scale = case.magnitude(cotangent.astype(np.float64))
    _check_all(
        backend, program, cotangent, loss, got, want_loss, want, tol, "the closed form", scale
    )


@requirement("BCE-002")
@given(data=st.data(), large=st.booleans())
def test_linear_bce_matches_finite_differences(
    backend: Any, data: st.DataObject, large: bool
) -> None:
    case = _case(data, backend, dtypes={"float64"}, large=large)
    program = case.program()
    cotangent = _cotangent(data, case)
    with vjp_must_not_raise(backend, program, [cotangent]):
        _, got = program_vjp(backend, program, [cotangent])
    shapes = {i.name: i.value.shape for i in program.inputs}
    analytic = {n: np.zeros(shapes[n]) if (g := got.get(n)) is None else g for n in _wrt(program)}
    check_finite_differences(
        backend, program, [cotangent], analytic, subject="the loss", label="vs finite differences:"
    )


@requirement("BCE-003")
@given(data=st.data())
def test_linear_bce_matches_reference(backend: Any, reference: Any, data: st.DataObject) -> None:
    case = _case(data, backend)
    program = case.program()
    cotangent = _cotangent(data, case)
    with vjp_must_not_raise(backend, program, [cotangent]):
        (loss,), got = program_vjp(backend, program, [cotangent])
    (want_loss,), want = program_vjp(reference, as_float64(program), [cotangent])
    tol = tolerance(backend, case.y.dtype.name, "reference")
    zeros = {i.name: np.zeros(i.value.shape) for i in program.inputs}
    expected = {n: zeros[n] if g is None else g for n, g in want.items()}
    scale = case.magnitude(cotangent.astype(np.float64))
    _check_all(
        backend, program, cotangent, loss, got, want_loss, expected, tol, "the reference", scale
    )


@requirement("BCE-004")
@given(data=st.data())
def test_bce_finite_at_extreme_logits(backend: Any, data: st.DataObject) -> None:
    case = _case(data, backend, extremes=True)
    program = case.program()
    cotangent = _cotangent(data, case)
    with vjp_must_not_raise(backend, program, [cotangent]):
        (loss,), got = program_vjp(backend, program, [cotangent])
    logits = case.logits()
    for name, value in [("loss", loss), *got.items()]:
        if value is not None and not np.all(np.isfinite(value)):
            bad = np.argwhere(~np.isfinite(np.atleast_1d(value)))[0].tolist()
            extremes = sorted({float(z) for z in logits.ravel() if abs(z) >= 100})
            repro = Repro(backend)
            repro.prelude = True
            if name == "loss":
                repro.line(
                    "assert np.isfinite(_host(outputs[0])).all(), 'the loss is not finite'",
                    "assert np.isfinite(adapter.to_numpy(outputs[0])).all(), 'loss'",
                )
            else:
                expected = case.closed_form(cotangent.astype(np.float64))[1]
                repro = vjp_repro(
                    backend,
                    program,
                    [cotangent],
                    {n: expected[n] for n in _wrt(program)},
                    tolerance(backend, case.y.dtype.name, "closed_form"),
                    "at extreme logits:",
                )
            raise repro.fail(
                f"{name} is not finite ({np.atleast_1d(value)[tuple(bad)]!r} at {bad}) with "
                f"logits {extremes} in {case.y.dtype.name}",
                program,
            )


@requirement("BCE-005")
@given(data=st.data())
def test_bce_gradient_at_zero_logit(backend: Any, data: st.DataObject) -> None:
    dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype")
    shape = data.draw(st.sampled_from([(), (3,), (2, 3), (4, 1)]), label="shape")
    hard = data.draw(st.booleans(), label="hard targets")
    y_elements = st.sampled_from([0.0, 1.0]) if hard else st.floats(0.0, 1.0, width=32)
    y = data.draw(
        values(shape, dtype, low=0.0, high=1.0)
        if not hard
        else st.builds(
            lambda v: np.asarray(v, dtype=dtype).reshape(shape),
            st.lists(y_elements, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))),
        ),
        label="y",
    )
    inputs = [Input("z", np.zeros(shape, dtype=dtype), True), Input("y", y, False)]
    optional: list[str] = []
    w = pw = np.float64(1.0)
    if data.draw(st.booleans(), label="weight"):
        w = data.draw(values(shape[-1:], dtype, low=0.25, high=2.0), label="weight")
        inputs.append(Input("weight", w, False))
        optional.append("weight")
    if data.draw(st.booleans(), label="pos_weight"):
        pw = data.draw(values(shape[-1:], dtype, low=0.25, high=4.0), label="pos_weight")
        inputs.append(Input("pos_weight", pw, False))
        optional.append("pos_weight")
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")
    params: dict[str, Any] = {"reduction": reduction}
    if optional:
        params["optional"] = optional
    program = Program(
        tuple(inputs), (Apply("loss", "bce_with_logits", ("z", "y", *optional), params),), ("loss",)
    )
    cotangent = draw_cotangent(data, shape if reduction == "none" else ()).astype(dtype)
    with vjp_must_not_raise(backend, program, [cotangent]):
        _, got = program_vjp(backend, program, [cotangent])
    y64, w64, pw64 = (np.asarray(a, dtype=np.float64) for a in (y, w, pw))
    per_element = w64 * ((pw64 * y64 + 1.0 - y64) * sigmoid(np.zeros(shape)) - pw64 * y64)
    scale = 1.0 / max(1, int(np.prod(shape))) if reduction == "mean" else 1.0
    want = np.broadcast_to(cotangent.astype(np.float64) * scale * per_element, shape)
    tol = tolerance(backend, dtype, "closed_form")
    comparison = compare(got.get("z"), want, tol)
    if not comparison.ok:
        repro = vjp_repro(backend, program, [cotangent], {"z": want}, tol, "at z = 0:")
        raise repro.fail(
            f"gradient at logit 0 (expected (0.5 - y) form): {comparison.describe()}", program
        )
