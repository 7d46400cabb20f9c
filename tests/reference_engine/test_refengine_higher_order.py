"""Differential tests of higher-order gradients (create_graph=True) against torch CPU.

For every op of the op set (conformance.spec.ops) and the pointwise functions, the first
gradient <grad, v> is differentiated again: values, which results require grad and have a
grad_fn, and which inputs the second gradient reaches must all be torch's. Then a few third
derivatives, what backward(create_graph=True) leaves in .grad, the warning it gives, and a
Hessian-vector product of a small random program.

Values are compared in float64 with the "parity" entry of conformance.spec.tolerances: two
float64 engines computing the same formulas, differing only in summation order and fused
multiply-add (the entry's reason), scaled as that module defines, by the largest magnitude.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import autograd_conformance_reference as re
from autograd_conformance_reference import autograd as re_autograd
from conformance.spec import ops as spec_ops
from conformance.spec.tolerances import lookup

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")

Fn = Callable[..., Any]


def _normal(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: rng.standard_normal(shape)


def _positive(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def _away_from_zero(*shape: int) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def _bce(reduction: str, weighted: bool) -> Fn:
    def fn(lib: Any, z: Any, y: Any) -> Any:
        extra = {}
        if weighted:
            extra = {
                "weight": lib.tensor(np.array([0.5, 2.0, 1.5])),
                "pos_weight": lib.tensor(np.array([3.0, 0.5, 1.0])),
            }
        return lib.nn.functional.binary_cross_entropy_with_logits(
            z, y, reduction=reduction, **extra
        )

    return fn


# name -> (the op applied to float64 leaves, one input maker per leaf). Every op of the op set
# has at least one case named after it (test_every_op_has_a_case); gt is not differentiable.
CASES: dict[str, tuple[Fn, Sequence[Callable[[np.random.Generator], np.ndarray]]]] = {
    "add": (lambda lib, a, b: a + b, [_normal(2, 3), _normal(3)]),
    "mul": (lambda lib, a, b: a * b, [_normal(2, 3), _normal(2, 1)]),
    "mul_self": (lambda lib, a: a * a, [_normal(2, 3)]),
    "rmul": (lambda lib, a: 3 * a, [_normal(2, 3)]),
    "sum": (lambda lib, a: (a * a).sum(), [_normal(2, 3)]),
    "sum_dim": (lambda lib, a: lib.sum(a * a, dim=1, keepdim=True), [_normal(2, 3)]),
    "neg": (lambda lib, a: -(a * a), [_normal(2, 3)]),
    "sub": (lambda lib, a, b: a * a - b * a, [_normal(3), _normal(2, 3)]),
    "rsub": (lambda lib, a: 1 - a.exp(), [_normal(3)]),
    "mean": (lambda lib, a: (a * a).mean(), [_normal(2, 3)]),
    "mean_dim": (lambda lib, a: (a * a).mean((0,)), [_normal(2, 3)]),
    "div": (lambda lib, a, b: a / b, [_normal(2, 3), _away_from_zero(3)]),
    "rdiv": (lambda lib, a: 2 / a, [_away_from_zero(3)]),
    "pow": (lambda lib, a: a**3, [_normal(2, 3)]),
    "pow_square": (lambda lib, a: a**2, [_normal(2, 3)]),
    "pow_one": (lambda lib, a: a**1, [_normal(3)]),
    "pow_zero": (lambda lib, a: a**0, [_normal(3)]),
    "pow_negative": (lambda lib, a: a**-2, [_away_from_zero(3)]),
    "pow_fractional": (lambda lib, a: a**1.5, [_positive(3)]),
    "pow_tensor": (lambda lib, a, b: a**b, [_positive(2, 3), _normal(3)]),
    "rpow": (lambda lib, a: 2.0**a, [_normal(3)]),
    "exp": (lambda lib, a: a.exp(), [_normal(2, 3)]),
    "log": (lambda lib, a: a.log(), [_positive(2, 3)]),
    "sigmoid": (lambda lib, a: a.sigmoid(), [_normal(2, 3)]),
    "tanh": (lambda lib, a: a.tanh(), [_normal(2, 3)]),
    "sin": (lambda lib, a: a.sin(), [_normal(2, 3)]),
    "cos": (lambda lib, a: lib.cos(a), [_normal(2, 3)]),
    "relu": (lambda lib, a: a.relu() * a, [_away_from_zero(2, 3)]),
    "abs": (lambda lib, a: a.abs() * a, [_away_from_zero(2, 3)]),
    # alone, their gradient still depends on x, with a zero (not absent) second derivative
    "relu_alone": (lambda lib, a: a.relu(), [_away_from_zero(2, 3)]),
    "abs_alone": (lambda lib, a: a.abs(), [_away_from_zero(2, 3)]),
    "matmul": (lambda lib, a, b: a @ b, [_normal(2, 3), _normal(3, 4)]),
    "matmul_dot": (lambda lib, a, b: lib.matmul(a, b), [_normal(3), _normal(3)]),
    "matmul_mv": (lambda lib, a, b: lib.matmul(a, b), [_normal(2, 3), _normal(3)]),
    "matmul_vm": (lambda lib, a, b: lib.matmul(a, b), [_normal(3), _normal(3, 4)]),
    "matmul_folded": (lambda lib, a, b: lib.matmul(a, b), [_normal(2, 2, 3), _normal(3, 4)]),
    "matmul_batched": (lambda lib, a, b: lib.matmul(a, b), [_normal(2, 1, 2, 3), _normal(5, 3, 2)]),
    "matmul_batched_vector": (lambda lib, a, b: lib.matmul(a, b), [_normal(3), _normal(2, 3, 4)]),
    "transpose": (lambda lib, a: (a * a).transpose(0, 1), [_normal(2, 3)]),
    "reshape": (lambda lib, a: (a * a).reshape(3, 2), [_normal(2, 3)]),
    "expand": (lambda lib, a: (a * a).expand(2, 3, 4), [_normal(3, 1)]),
    "index": (lambda lib, a: (a * a)[lib.tensor([0, 2, 0, 0])], [_normal(3, 2)]),
    "index_basic": (lambda lib, a: (a * a)[1, 1:], [_normal(3, 3)]),
    "linear": (
        lambda lib, x, w, b: lib.nn.functional.linear(x * x, w, b),
        [_normal(2, 3), _normal(4, 3), _normal(4)],
    ),
    "linear_batched": (
        lambda lib, x, w, b: lib.nn.functional.linear(x, w * w, b),
        [_normal(2, 2, 3), _normal(4, 3), _normal(4)],
    ),
    "linear_no_bias": (
        lambda lib, x, w: lib.nn.functional.linear(x, w),
        [_normal(3), _normal(4, 3)],
    ),
    "bce_with_logits": (_bce("mean", False), [_normal(3), lambda rng: rng.uniform(0, 1, 3)]),
    "bce_with_logits_weighted": (_bce("sum", True), [_normal(3), lambda rng: rng.uniform(0, 1, 3)]),
    "bce_with_logits_none": (_bce("none", True), [_normal(3), lambda rng: rng.uniform(0, 1, 3)]),
    "inplace_mul": (lambda lib, a, b: (a * 1.0).mul_(b).div_(b.exp()), [_normal(2, 3), _normal(3)]),
    "to_float32": (lambda lib, a, b: a.float() * b, [_normal(3), _normal(3)]),
}
NOT_DIFFERENTIABLE = {"gt"}


def _tolerance_check(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    tol = lookup("float64", "cpu", "parity")
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=tol.rtol, atol=tol.atol * scale, err_msg=what)


def _grads(lib: Any, outputs: Any, inputs: Sequence[Any], seeds: Any, create: bool) -> list[Any]:
    return list(lib.autograd.grad(outputs, inputs, seeds, create_graph=create, allow_unused=True))


def _flags(ts: Sequence[Any]) -> list[tuple[bool, bool] | None]:
    """Per result: None where absent, else (requires_grad, has a grad_fn)."""
    return [None if t is None else (t.requires_grad, t.grad_fn is not None) for t in ts]


def _values(ts: Sequence[Any]) -> list[np.ndarray | None]:
    # torch's sgn backward returns a ZeroTensor, which numpy() refuses without force
    return [
        None
        if t is None
        else t.numpy(force=True)
        if isinstance(t, torch.Tensor)
        else t.detach().numpy()
        for t in ts
    ]


def _compare(ref: Sequence[Any], tor: Sequence[Any], what: str) -> None:
    assert _flags(ref) == _flags(tor), what
    for i, (r, t) in enumerate(zip(_values(ref), _values(tor), strict=True)):
        if t is not None:
            assert r is not None and r.shape == t.shape and r.dtype == t.dtype, what
            _tolerance_check(r, t, f"{what}, input {i}")


def _orders(name: str, depth: int, seed: int = 0) -> None:
    """Differentiate <grad, v> `depth` times in both engines, comparing at every order."""
    fn, makers = CASES[name]
    rng = np.random.default_rng(seed)
    arrays = [make(rng) for make in makers]
    ins = {lib: [lib.tensor(a, requires_grad=True) for a in arrays] for lib in (re, torch)}
    outs = {lib: fn(lib, *ins[lib]) for lib in (re, torch)}
    shape = tuple(outs[torch].shape)
    seed_arr = rng.standard_normal(shape)
    seeds = {lib: lib.tensor(seed_arr, dtype=outs[lib].dtype) for lib in (re, torch)}
    grads = {lib: _grads(lib, outs[lib], ins[lib], seeds[lib], True) for lib in (re, torch)}
    _compare(grads[re], grads[torch], f"{name}: first gradient")
    for order in range(2, depth + 1):
        live = [i for i, g in enumerate(grads[torch]) if g is not None and g.requires_grad]
        if not live:  # constant gradients: the flags compared above say so in both engines
            return
        weights = [rng.standard_normal(tuple(grads[torch][i].shape)) for i in live]
        nxt = {}
        for lib in (re, torch):
            total = sum(
                (grads[lib][i] * lib.tensor(w, dtype=grads[lib][i].dtype)).sum()
                for i, w in zip(live, weights, strict=True)
            )
            nxt[lib] = _grads(lib, total, ins[lib], None, order < depth)
        _compare(nxt[re], nxt[torch], f"{name}: order {order}")
        grads = nxt


def test_every_op_has_a_case() -> None:
    missing = set(spec_ops.OPS) - NOT_DIFFERENTIABLE - set(CASES)
    missing |= set(re.ops.POINTWISE) - set(CASES)
    assert not missing, f"ops without a higher-order case: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivative_matches_torch(name: str) -> None:
    _orders(name, depth=2)


@pytest.mark.parametrize("name", ["sin", "exp", "mul_self", "tanh", "pow_tensor", "matmul"])
def test_third_derivative_matches_torch(name: str) -> None:
    _orders(name, depth=3, seed=1)


def test_grad_of_constant_gradient_is_plain_as_in_torch() -> None:
    for lib in (re, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        (g,) = lib.autograd.grad((x * 3).sum(), x, create_graph=True)
        assert (g.requires_grad, g.grad_fn, g.is_leaf) == (False, None, True)
        (g,) = lib.autograd.grad((x * x).sum(), x, create_graph=True)
        assert g.requires_grad and type(g.grad_fn).__name__ == "AddBackward0"


def test_no_graph_is_built_without_create_graph() -> None:
    x = re.tensor([1.0, -2.0, 3.0], requires_grad=True)
    h = x.exp() * x
    seen: list[Any] = []
    h.register_hook(lambda g: seen.append(g))
    (g,) = re.autograd.grad((h * h).sum(), x, retain_graph=True)
    assert seen[0].grad_fn is None and not seen[0].requires_grad
    assert g.grad_fn is None and not g.requires_grad
    (h * h).sum().backward()
    assert x.grad is not None and x.grad.grad_fn is None and not x.grad.requires_grad


def _grad_history(lib: Any) -> list[tuple[list[float], bool, str | None]]:
    """.grad after backward(create_graph=True) twice, a plain backward, then on a fresh leaf
    a constant gradient followed by one that depends on x."""
    history = []

    def note(t: Any) -> None:
        fn = t.grad.grad_fn
        history.append((t.grad.tolist(), t.grad.requires_grad, type(fn).__name__ if fn else None))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        for create in (True, True, False):
            (x * x).sum().backward(create_graph=create)
            note(x)
        y = lib.tensor([1.0, 2.0], requires_grad=True)
        (y * 3).sum().backward(create_graph=True)
        note(y)
        (y * y).sum().backward(create_graph=True)
        note(y)
    return history


def test_backward_create_graph_fills_grad_as_torch() -> None:
    ref = _grad_history(re)
    assert ref == _grad_history(torch)
    assert ref[0][2] == "CopyBackwards" and ref[1][2] == "AddBackward0"  # what torch showed


def test_grad_of_grad_after_backward_create_graph_matches_torch() -> None:
    results = []
    for lib in (re, torch):
        x = lib.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x.sin() * x).sum().backward(create_graph=True)
        (h,) = lib.autograd.grad(x.grad.sum(), x)
        results.append(h.numpy())
    _tolerance_check(results[0], results[1], "d/dx sum(x.grad)")


def test_backward_create_graph_retains_the_graph_by_default() -> None:
    for lib in (re, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp().sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y.backward(create_graph=True)
        lib.autograd.grad(y, x, create_graph=True)  # no "through the graph a second time"
        y.backward()  # and this one frees it
        with pytest.raises(RuntimeError, match="a second time"):
            lib.autograd.grad(y, x)


TORCH_WARNINGS = """
import warnings, torch
x = torch.tensor([1.0, 2.0], requires_grad=True)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    torch.autograd.grad((x * x).sum(), x, create_graph=True)
    print(len(w))
    (x * x).sum().backward(create_graph=True, inputs=[x])
    (x * x).sum().backward(create_graph=True)
    print(len(w))
    print(w[0].message)
"""


def test_backward_create_graph_warns_once_as_torch() -> None:
    # torch warns once per process (TORCH_WARN_ONCE), so it runs in a fresh one
    lines = subprocess.run(
        [sys.executable, "-c", TORCH_WARNINGS], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert lines[:2] == ["0", "1"] and lines[2].startswith(re_autograd.CYCLE_WARNING)
    re_autograd._cycle_warned = False  # as in a fresh process
    x = re.tensor([1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        re.autograd.grad((x * x).sum(), x, create_graph=True)
        assert len(caught) == 0
        (x * x).sum().backward(create_graph=True, inputs=[x])
        (x * x).sum().backward(create_graph=True)
    assert [str(w.message) for w in caught] == [re_autograd.CYCLE_WARNING]
    assert caught[0].category is UserWarning


def _random_program(lib: Any, x: Any, w: Any, steps: Sequence[int]) -> Any:
    h = x
    for step in steps:
        h = [
            lambda h: h.tanh(),
            lambda h: h.sin() * h,
            lambda h: lib.matmul(w, h),
            lambda h: h.sigmoid() + h.exp() / 4,
            lambda h: (h * h + 1).log(),
            lambda h: h.relu() - h.abs() * h,
        ][step](h)
    return (h * h).sum()


@pytest.mark.parametrize("seed", range(4))
def test_hessian_vector_product_of_a_random_program_matches_torch(seed: int) -> None:
    rng = np.random.default_rng(seed)
    steps = [2, *rng.integers(0, 6, size=4).tolist()]  # w @ h first: w is always used
    xa, wa, va = rng.standard_normal(4), rng.standard_normal((4, 4)) / 2, rng.standard_normal(4)
    hvps = []
    for lib in (re, torch):
        x, w = lib.tensor(xa, requires_grad=True), lib.tensor(wa, requires_grad=True)
        (gx,) = lib.autograd.grad(_random_program(lib, x, w, steps), x, create_graph=True)
        # the seed itself requires grad: H v by the double-backward trick, then d/du (J^T u)
        u = lib.tensor(np.ones(4), requires_grad=True)
        (jtu,) = lib.autograd.grad(gx, x, u, create_graph=True)
        (hv,) = lib.autograd.grad(jtu, u, lib.tensor(va))
        hx, hw = lib.autograd.grad((gx * lib.tensor(va)).sum(), (x, w))
        hvps.append([hv.numpy(), hx.numpy(), hw.numpy()])
    for r, t in zip(*hvps, strict=True):
        _tolerance_check(r, t, f"HVP of program {steps}")


def test_hooks_and_retain_grad_see_differentiable_gradients_as_torch() -> None:
    results = []
    for lib in (re, torch):
        x = lib.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
        h = x.sin()
        seen: list[Any] = []
        h.register_hook(lambda g, seen=seen: seen.append(g) or g * 2)
        h.retain_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (h * h).sum().backward(create_graph=True)
        flags = [seen[0].requires_grad, seen[0].grad_fn is not None]
        flags += [h.grad.requires_grad, type(h.grad.grad_fn).__name__]
        # an autograd.grad passing through h runs its retain_grad again, out of place, here
        # outside grad mode: h.grad becomes old + new without history (torch 2.13 observed)
        (hx,) = lib.autograd.grad(x.grad.sum(), x)
        flags += [h.grad.requires_grad, h.grad.grad_fn is not None]
        results.append((flags, hx.numpy()))
    assert results[0][0] == results[1][0]
    assert results[0][0][:6] == [True, True, True, "CloneBackward0", False, False]
    _tolerance_check(results[0][1], results[1][1], "second derivative through a hook")


def test_retained_grad_is_replaced_out_of_place_as_in_torch() -> None:
    for lib in (re, torch):
        x = lib.tensor(np.array([0.5, -1.0]), requires_grad=True)
        h = x.sin()
        h.retain_grad()
        (h * h).sum().backward(retain_graph=True)
        first, before = h.grad, h.grad.tolist()
        (h * h).sum().backward()
        assert h.grad is not first and first.tolist() == before, lib.__name__


def _inputs_history(lib: Any, retain: bool, create: bool, both: bool) -> list[Any]:
    """Per backward(inputs=...) call and input: .grad's values, its grad_fn, and whether it is
    still the tensor the previous call left (accumulated in place)."""
    x = lib.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 2
    if retain:
        h.retain_grad()
    y = (h * h * x).sum()
    inputs = [x, h] if both else [h]
    history: list[Any] = []
    previous: dict[int, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            y.backward(inputs=inputs, retain_graph=True, create_graph=create)
            for i, t in enumerate(inputs):
                same = previous.get(i) is t.grad
                history.append((t.grad.tolist(), type(t.grad.grad_fn).__name__, same))
                previous[i] = t.grad
    return history


@pytest.mark.parametrize("create", [False, True])
@pytest.mark.parametrize("retain", [False, True])
@pytest.mark.parametrize("both", [False, True])
def test_backward_inputs_accumulates_as_torch(create: bool, retain: bool, both: bool) -> None:
    # a non-leaf input gets .grad as retain_grad gives it (once, even when it also retains)
    assert _inputs_history(re, retain, create, both) == _inputs_history(torch, retain, create, both)


def test_saved_tensor_written_before_the_second_backward_is_refused_as_torch() -> None:
    messages = []
    for lib in (re, torch):
        x = lib.tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = x.exp()
        (g,) = lib.autograd.grad((y * 1.0).sum(), x, create_graph=True)
        with lib.no_grad():
            y.mul_(2)  # ExpBackward0 saved y, and so did the graph of g
        with pytest.raises(RuntimeError) as raised:
            lib.autograd.grad(g.sum(), x)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]


def test_create_graph_records_even_under_no_grad_as_torch() -> None:
    for lib in (re, torch):
        x = lib.tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = (x * x).sum()
        with lib.no_grad():
            (g,) = lib.autograd.grad(y, x, create_graph=True)
            assert not lib.is_grad_enabled()  # the engine's grad mode was its own
        assert g.requires_grad and g.grad_fn is not None


def test_grad_with_create_graph_hands_back_the_gradient_itself_as_torch() -> None:
    # d y / d y with seed v: torch returns v itself (no copy) with create_graph=True
    for lib in (re, torch):
        x = lib.tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = x.exp()
        v = lib.tensor(np.array([0.5, 2.0]))
        (g,) = lib.autograd.grad(y, y, v, create_graph=True)
        assert g is v, lib.__name__
