"""Forward mode: the reference engine's `autograd.forward_ad` against torch.autograd.forward_ad.

Every op of the op set (and every other function reference_engine/jvps.py gives a rule) runs on
dual tensors under both engines, with the same inputs and tangents, in float64 and float32: the
primal and the tangent must agree in value, dtype and shape. The API's flags and refusals
(make_dual outside a level, a tangent of another size, nesting, ...) must be the same records,
and a few facts are asserted outright, so that agreeing on a wrong answer fails too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from re_helpers import FAST, TOL

import autograd_conformance_reference as re
from autograd_conformance_reference import jvps
from autograd_conformance_reference.ops import POINTWISE
from conformance.spec.ops import ALL_OPS

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")

Case = tuple[Callable[..., Any], tuple[tuple[int, ...], ...], tuple[str, ...]]
"""fn(lib, *tensors), the operands' shapes, and where each operand's values lie."""

ANY, POS, AWAY = "any", "positive", "away from 0"

CASES: dict[str, list[Case]] = {
    "add": [(lambda m, a, b: a + b, ((2, 3), (3,)), (ANY, ANY))],
    "mul": [(lambda m, a, b: a * b, ((2, 1), (1, 3)), (ANY, ANY))],
    "sum": [
        (lambda m, a: a.sum(), ((2, 3),), (ANY,)),
        (lambda m, a: m.sum(a, dim=(0, 2), keepdim=True), ((2, 3, 2),), (ANY,)),
    ],
    "neg": [(lambda m, a: -a, ((3,),), (ANY,))],
    "sub": [(lambda m, a, b: a - b, ((3,), (2, 3)), (ANY, ANY))],
    "rsub": [(lambda m, a: 2.0 - a, ((3,),), (ANY,))],
    "mean": [
        (lambda m, a: a.mean(), ((2, 3),), (ANY,)),
        (lambda m, a: m.mean(a, dim=1), ((2, 3),), (ANY,)),
    ],
    "div": [(lambda m, a, b: a / b, ((2, 3), (3,)), (ANY, AWAY))],
    "rdiv": [(lambda m, a: 2.0 / a, ((3,),), (AWAY,))],
    "reciprocal": [(lambda m, a: a.reciprocal(), ((3,),), (AWAY,))],
    "pow": [
        (lambda m, a: a**2, ((3,),), (ANY,)),
        (lambda m, a: m.pow(a, 0.5), ((3,),), (POS,)),
        (lambda m, a: a**0, ((3,),), (ANY,)),
        (lambda m, a, b: m.pow(a, b), ((3,), (3,)), (POS, ANY)),
    ],
    "rpow": [(lambda m, a: 2.0**a, ((3,),), (ANY,))],
    "exp": [(lambda m, a: m.exp(a), ((3,),), (ANY,))],
    "log": [(lambda m, a: m.log(a), ((3,),), (POS,))],
    "sigmoid": [(lambda m, a: m.sigmoid(a), ((3,),), (ANY,))],
    "tanh": [(lambda m, a: m.tanh(a), ((3,),), (ANY,))],
    "sin": [(lambda m, a: m.sin(a), ((3,),), (ANY,)), (lambda m, a: a.sin(), ((2,),), (ANY,))],
    "cos": [(lambda m, a: m.cos(a), ((3,),), (ANY,)), (lambda m, a: a.cos(), ((2,),), (ANY,))],
    "relu": [(lambda m, a: m.relu(a), ((4,),), (ANY,))],
    "abs": [(lambda m, a: m.abs(a), ((4,),), (ANY,))],
    "matmul": [
        (lambda m, a, b: m.matmul(a, b), ((2, 3), (3, 4)), (ANY, ANY)),
        (lambda m, a, b: a @ b, ((3,), (2, 3, 2)), (ANY, ANY)),
    ],
    "mm": [(lambda m, a, b: m.mm(a, b), ((2, 3), (3, 2)), (ANY, ANY))],
    "mv": [(lambda m, a, b: m.mv(a, b), ((2, 3), (3,)), (ANY, ANY))],
    "dot": [(lambda m, a, b: m.dot(a, b), ((3,), (3,)), (ANY, ANY))],
    "addmm": [(lambda m, c, a, b: m.addmm(c, a, b), ((2,), (3, 4), (4, 2)), (ANY, ANY, ANY))],
    "transpose": [(lambda m, a: m.transpose(a, 0, 2), ((2, 3, 1),), (ANY,))],
    "t": [(lambda m, a: a.t(), ((2, 3),), (ANY,)), (lambda m, a: a.T, ((2, 3),), (ANY,))],
    "permute": [(lambda m, a: a.permute(2, 0, 1), ((2, 3, 2),), (ANY,))],
    "reshape": [(lambda m, a: m.reshape(a, (3, -1)), ((2, 3),), (ANY,))],
    "expand": [(lambda m, a: a.expand(2, -1, 3), ((3, 1),), (ANY,))],
    "unsqueeze": [(lambda m, a: a.unsqueeze(1), ((3,),), (ANY,))],
    "squeeze": [(lambda m, a: a.squeeze(1), ((3, 1),), (ANY,))],
    "index": [(lambda m, a: a[m.tensor([0, 2, 0])], ((3, 2),), (ANY,))],
    "linear": [
        (lambda m, x, w: m.nn.functional.linear(x, w), ((2, 3), (4, 3)), (ANY, ANY)),
        (
            lambda m, x, w, b: m.nn.functional.linear(x, w, b),
            ((2, 2, 3), (4, 3), (4,)),
            (ANY, ANY, ANY),
        ),
    ],
    "bce_with_logits": [
        (
            lambda m, z, y: m.nn.functional.binary_cross_entropy_with_logits(z, y),
            ((2, 3), (2, 3)),
            (ANY, POS),
        ),
        (
            lambda m, z, y, w, p: m.nn.functional.binary_cross_entropy_with_logits(
                z, y, weight=w, pos_weight=p, reduction="sum"
            ),
            ((2, 3), (2, 3), (3,), (3,)),
            (ANY, POS, POS, POS),
        ),
        (
            lambda m, z, y: m.nn.functional.binary_cross_entropy_with_logits(
                z, y, reduction="none"
            ),
            ((2, 3), (2, 3)),
            (ANY, ANY),
        ),
    ],
    "gt": [(lambda m, a, b: a > b, ((3,), (3,)), (ANY, ANY))],
    "to": [(lambda m, a: a.double(), ((3,),), (ANY,)), (lambda m, a: a.float(), ((3,),), (ANY,))],
    "add_": [(lambda m, a, b: (a * 1).add_(b), ((2, 3), (3,)), (ANY, ANY))],
    "mul_": [(lambda m, a, b: (a * 1).mul_(b), ((3,), (3,)), (ANY, ANY))],
    "zero_": [(lambda m, a: (a * 1).zero_(), ((3,),), (ANY,))],
}
"""By op: the op set's names, the engine's other functions with a JVP row, in-place ops."""


def _values(rng: np.random.Generator, shape: tuple[int, ...], domain: str) -> np.ndarray:
    x = rng.uniform(-2.0, 2.0, size=shape)
    if domain == POS:
        return np.abs(x) + 0.25
    if domain == AWAY:
        return np.sign(x + (x == 0)) * (np.abs(x) + 0.25)
    return x


def _dual_run(lib: Any, fn: Callable[..., Any], primals: list[np.ndarray], tangents: list[Any]):
    fwd = lib.autograd.forward_ad
    with fwd.dual_level():
        duals = [
            lib.tensor(p) if t is None else fwd.make_dual(lib.tensor(p), lib.tensor(t))
            for p, t in zip(primals, tangents, strict=True)
        ]
        primal, tangent = fwd.unpack_dual(fn(lib, *duals))
        return primal.detach().numpy(), None if tangent is None else tangent.numpy()


@pytest.mark.parametrize("op", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@FAST
@given(seed=st.integers(0, 2**32 - 1), duals=st.integers(1, 15))
def test_jvp_matches_torch(op: str, dtype: type, seed: int, duals: int) -> None:
    rng = np.random.default_rng(seed)
    for fn, shapes, domains in CASES[op]:
        primals = [_values(rng, s, d).astype(dtype) for s, d in zip(shapes, domains, strict=True)]
        # `duals` picks which operands carry a tangent (at least one)
        chosen = [bool(duals >> n & 1) for n in range(len(primals))]
        chosen[0] = chosen[0] or not any(chosen)
        if op == "bce_with_logits" and any(chosen[:2]):
            # torch 2.13 refuses a dual weight or pos_weight beside a dual input or target
            # ("Setting a forward grad that itself has a forward gradient"); alone, it is dropped
            chosen[2:] = [False] * len(chosen[2:])
        tangents = [
            rng.standard_normal(p.shape).astype(dtype) if c else None
            for p, c in zip(primals, chosen, strict=True)
        ]
        want_primal, want = _dual_run(torch, fn, primals, tangents)
        got_primal, got = _dual_run(re, fn, primals, tangents)
        assert got_primal.dtype == want_primal.dtype and got_primal.shape == want_primal.shape
        tol = TOL[np.dtype(dtype)]
        np.testing.assert_allclose(got_primal, want_primal, rtol=tol, atol=tol)
        assert (got is None) == (want is None), f"{op}: tangent {got} against torch's {want}"
        if want is not None:
            assert got is not None and got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_every_op_and_every_pointwise_function_has_a_case_and_a_row() -> None:
    rows = {ENGINE_NAMES.get(name, name) for name in jvps.JVPS}
    assert rows >= ALL_OPS - {"gt"} and rows >= set(POINTWISE)
    assert set(CASES) >= ALL_OPS and set(CASES) >= set(POINTWISE)
    assert set(CASES) >= rows


ENGINE_NAMES = {"binary_cross_entropy_with_logits": "bce_with_logits"}
"""The op set's name of an engine function where they differ."""


# -- the API: flags, identities, refusals --------------------------------------------------------
def _outcome(action: Callable[[], Any]) -> Any:
    try:
        return ("ok", action())
    except Exception as exc:  # noqa: BLE001 - the class and message are the record
        return (type(exc).__name__, str(exc))


def _name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def api_record(lib: Any) -> list[Any]:
    fwd = lib.autograd.forward_ad
    x = lib.tensor([1.0, 2.0, 3.0])
    t = lib.tensor([1.0, 0.0, 0.0])
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    record: list[Any] = [
        _outcome(lambda: fwd.make_dual(x, t)),
        fwd.unpack_dual(x).primal is x,
        fwd.unpack_dual(x).tangent is None,
        type(fwd.unpack_dual(x)).__name__,
        fwd.unpack_dual(x)._fields,
    ]
    with fwd.dual_level() as level:
        d = fwd.make_dual(x, t)
        dw = fwd.make_dual(w, lib.ones(3))
        p, tangent = fwd.unpack_dual(d)
        record += [
            level,
            d is x,
            tangent is t,
            p is d,
            fwd.unpack_dual(p).tangent is None,
            fwd.unpack_dual(x).primal is x,
            fwd.unpack_dual(x).tangent is None,
            (d.requires_grad, d.is_leaf, d.grad_fn is None),
            (dw.requires_grad, type(dw.grad_fn).__name__),
            _outcome(lambda: fwd.make_dual(x, lib.ones(2))),
            _outcome(lambda: fwd.make_dual(lib.tensor([1, 2]), lib.tensor([1, 2]))),
            _outcome(lambda: fwd.make_dual(x, lib.tensor([1, 2, 3]))),
            _outcome(lambda: fwd.make_dual(d, t)),
            _outcome(fwd.enter_dual_level),
            fwd.unpack_dual(d > 1).tangent is None,
            _name(fwd.unpack_dual(d * lib.ones(3, dtype=lib.float64)).tangent.dtype),
            _name(
                fwd.unpack_dual(fwd.make_dual(x, lib.ones(3, dtype=lib.float64)) * 2).tangent.dtype
            ),
        ]
        y = d * d
    record += [fwd.unpack_dual(y).tangent is None, fwd.unpack_dual(d).tangent is None]
    record.append(_outcome(lambda: fwd.make_dual(x, t)))
    with fwd.dual_level() as again:
        record.append(again)  # a level closed is a level that can be opened again
    return record


def test_api_matches_torch() -> None:
    assert api_record(re) == api_record(torch)


def test_api_facts() -> None:
    record = api_record(re)
    assert record[0][0] == "RuntimeError" and "no level exists" in record[0][1]
    assert record[1] and record[2]  # outside a level: the tensor itself, no tangent
    shape, integer, integer_tangent, twice, nested = record[14:19]
    assert shape[0] == "RuntimeError" and "different size" in shape[1]
    assert integer[0] == "ValueError" and "primal" in integer[1]
    assert integer_tangent[0] == "ValueError" and "tangent" in integer_tangent[1]
    assert twice[0] == "RuntimeError" and "already has a forward gradient" in twice[1]
    assert nested == ("RuntimeError", "Nested forward mode AD is not supported at the moment")


def test_dual_level_is_a_decorator_too() -> None:
    fwd = re.autograd.forward_ad

    @fwd.dual_level()
    def tangent_of_square(x: Any) -> Any:
        return fwd.unpack_dual(fwd.make_dual(x, re.ones(2)) ** 2).tangent

    np.testing.assert_array_equal(tangent_of_square(re.tensor([1.0, 3.0])).numpy(), [2.0, 6.0])
    with pytest.raises(RuntimeError, match="no level exists"):
        fwd.make_dual(re.ones(2), re.ones(2))  # the decorator closed its level


def test_a_tangent_on_bce_weight_is_dropped_as_in_torch() -> None:
    def loss_tangent(lib: Any) -> Any:
        fwd = lib.autograd.forward_ad
        z, y = lib.tensor([0.5, -1.0]), lib.tensor([1.0, 0.0])
        with fwd.dual_level():
            w = fwd.make_dual(lib.tensor([1.0, 2.0]), lib.ones(2))
            out = lib.nn.functional.binary_cross_entropy_with_logits(z, y, weight=w)
            return fwd.unpack_dual(out).tangent

    assert loss_tangent(torch) is None and loss_tangent(re) is None


def test_outside_a_dual_level_the_wrapper_costs_nothing_observable() -> None:
    # The op wrappers keep the op's name and the package's functions are the wrapped ones.
    assert re.add.__name__ == "add" and re.add.__wrapped_op__.__name__ == "add"
    assert re.Tensor.__add__ is re.add and re.sin is POINTWISE["sin"]
