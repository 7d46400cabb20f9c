"""The refusals of the ERR requirements, run on torch and on reference_engine side by side: the
same exception type, raised by the same call, with the same message. Above all the version
counter: which tensors each op saves, so which in-place writes make a later backward refuse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd_conformance_reference as re

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")

LIBS = pytest.mark.parametrize("lib", [torch, re], ids=["torch", "reference_engine"])


def outcome(lib: Any, case: Callable[[Any], Any]) -> tuple[str, str, np.ndarray | None]:
    """(exception class name, message, None) of the case, or ("", "", what it returned)."""
    try:
        got = case(lib)
    except (RuntimeError, ValueError) as exc:
        return type(exc).__name__, str(exc), None
    return "", "", None if got is None else np.asarray(got.detach().numpy())


def assert_same_outcome(case: Callable[[Any], Any]) -> None:
    """The same refusal (class and message), or results equal up to float32 rounding."""
    ours, theirs = outcome(re, case), outcome(torch, case)
    assert ours[:2] == theirs[:2]
    assert (ours[2] is None) == (theirs[2] is None)
    if ours[2] is not None and theirs[2] is not None:
        assert ours[2].dtype == theirs[2].dtype and ours[2].shape == theirs[2].shape
        np.testing.assert_allclose(ours[2], theirs[2], rtol=2e-6)


def leaf(lib: Any, shape: tuple[int, ...] = (3,), dtype: Any = None) -> Any:
    values = np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)
    return lib.tensor(values, dtype=dtype or lib.float32, requires_grad=True)


def const(lib: Any, shape: tuple[int, ...] = (3,)) -> Any:
    return lib.tensor(np.linspace(1.0, 2.0, int(np.prod(shape))).reshape(shape), dtype=lib.float32)


def backward_grad(out: Any, a: Any) -> Any:
    out.sum().backward()
    return a.grad


# Each case builds a graph, writes one tensor in place, and runs backward: (name, case).
VERSION_CASES: list[tuple[str, Callable[[Any], Any]]] = []


def case(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    VERSION_CASES.append((fn.__name__, fn))
    return fn


@case
def sigmoid_result_scaled(lib: Any) -> Any:
    a = leaf(lib)
    y = a.sigmoid()
    y.mul_(2)
    return backward_grad(y, a)


@case
def exp_tanh_relu_reciprocal_results(lib: Any) -> Any:
    a = leaf(lib, (2, 3), lib.float64)
    outs = [a.exp(), a.tanh(), a.relu(), a.reciprocal()]
    outs[2].zero_()
    return backward_grad(sum(outs[1:], outs[0]), a)


@case
def zero_dim_result_written(lib: Any) -> Any:
    a = leaf(lib, ())
    y = a.exp()
    y.add_(1)
    return backward_grad(y, a)


@case
def zero_dim_sum_written_then_used(lib: Any) -> Any:  # sum saves nothing: writes are fine
    a = leaf(lib)
    s = a.sum()
    s.add_(1)
    s.zero_()
    y = s * a
    y.sum().backward()
    return a.grad


@case
def exp_input_written(lib: Any) -> Any:  # exp saves its result, not its input: no refusal
    a = leaf(lib)
    h = a * 1
    y = h.exp()
    h.add_(1)
    return backward_grad(y, a)


@case
def sin_input_written(lib: Any) -> Any:
    a = leaf(lib, (2, 3), lib.float64)
    h = a * 1
    y = h.sin()
    h.add_(1)
    return backward_grad(y, a)


@case
def log_abs_pow_inputs(lib: Any) -> Any:
    a = leaf(lib)
    h = a * 1
    y = h.log() + h.abs() + h**2
    h.sub_(0.25)
    return backward_grad(y, a)


@case
def add_then_mul_in_place(lib: Any) -> Any:  # add saves nothing: the in-place op is fine
    a, b = leaf(lib), leaf(lib)
    y = a + b
    y.mul_(2)
    y.add_(const(lib))
    return backward_grad(y, a)


@case
def mul_saves_only_what_is_needed(lib: Any) -> Any:  # h*c saves c, not h (c needs no grad)
    a = leaf(lib)
    h = a * 1
    y = h * const(lib)
    h.add_(1)
    return backward_grad(y, a)


@case
def mul_constant_operand_written(lib: Any) -> Any:  # ... and then c is written: a leaf, no name
    a = leaf(lib)
    c = const(lib)
    y = a * c
    c.add_(1)
    return backward_grad(y, a)


@case
def mul_square_written_twice(lib: Any) -> Any:  # saved at version 1, now at 2
    a = leaf(lib)
    h = a * 2
    h.add_(1)
    y = h * h
    h.add_(1)
    return backward_grad(y, a)


@case
def div_by_constant_numerator_written(lib: Any) -> Any:
    a = leaf(lib)
    h = a * 1
    c = const(lib)
    y = c / h
    c.add_(1)
    return backward_grad(y, a)


@case
def div_by_constant_input_written(lib: Any) -> Any:  # h / c saves c only
    a = leaf(lib)
    h = a * 1
    y = h / const(lib)
    h.add_(1)
    return backward_grad(y, a)


@case
def pow_tensor_exponent_result_written(lib: Any) -> Any:
    a = leaf(lib)
    y = a ** const(lib)
    y.add_(1)
    return backward_grad(y, a)


@case
def rpow_result_written(lib: Any) -> Any:
    a = leaf(lib)
    y = 2**a
    y.mul_(3)
    return backward_grad(y, a)


@case
def mm_saves_only_the_other_operand(lib: Any) -> Any:  # h @ c saves c: writing h is fine
    a = leaf(lib, (2, 3))
    h = a * 1
    y = h @ const(lib, (3, 2))
    h.add_(1)
    return backward_grad(y, a)


@case
def mm_constant_operand_written(lib: Any) -> Any:
    a = leaf(lib, (2, 3))
    c = const(lib, (3, 2))
    y = a @ c
    c.mul_(2)
    return backward_grad(y, a)


@case
def dot_mv_and_batched_operands_written(lib: Any) -> Any:
    a, v = leaf(lib, (2, 3, 3)), leaf(lib, (3,))
    h = v * 1
    y = (a @ h).sum() + (h @ h) + (a[0] @ h).sum() + (lib.ones(4, 2, 3, 3) @ a).sum()
    h.add_(1)
    return backward_grad(y, a)


@case
def linear_input_written(lib: Any) -> Any:  # addmm saves its input for the weight's gradient
    x, w, b = leaf(lib, (4, 3)), leaf(lib, (2, 3)), leaf(lib, (2,))
    h = x * 1
    y = lib.nn.functional.linear(h, w, b)
    h.add_(1)
    return backward_grad(y, w)


@pytest.mark.parametrize("written", ["input", "target", "weight", "pos_weight"])
def test_bce_with_logits_saves_all_four(written: str) -> None:
    def build(lib: Any) -> Any:
        x = leaf(lib)
        operands = {
            "input": x * 1,
            "target": const(lib) / 2,
            "weight": const(lib),
            "pos_weight": const(lib),
        }
        loss = lib.nn.functional.binary_cross_entropy_with_logits(
            operands["input"],
            operands["target"],
            weight=operands["weight"],
            pos_weight=operands["pos_weight"],
        )
        operands[written].add_(1)
        loss.backward()
        return x.grad

    assert_same_outcome(build)


@case
def written_through_detach(lib: Any) -> Any:  # detach() shares the version counter
    a = leaf(lib)
    y = a.exp()
    y.detach().add_(1)
    return backward_grad(y, a)


@case
def written_through_data(lib: Any) -> Any:  # .data does not
    a = leaf(lib)
    y = a.exp()
    y.data.add_(1)
    return backward_grad(y, a)


@case
def written_through_a_view(lib: Any) -> Any:
    a = leaf(lib, (2, 3))
    y = a.exp()
    y.reshape(6).add_(1)
    return backward_grad(y, a)


@case
def written_under_no_grad(lib: Any) -> Any:  # no_grad does not hide a write from the counter
    a = leaf(lib)
    y = a.exp()
    with lib.no_grad():
        y.add_(1)
    return backward_grad(y, a)


@case
def written_between_two_backwards(lib: Any) -> Any:
    a = leaf(lib)
    y = a.exp()
    loss = y.sum()
    loss.backward(retain_graph=True)
    y.add_(1)
    loss.backward()
    return a.grad


@case
def written_by_index_assignment(lib: Any) -> Any:
    a = leaf(lib)
    c = const(lib)
    y = a * c
    c[0] = 5.0
    return backward_grad(y, a)


@case
def scalar_operands_are_not_saved(lib: Any) -> Any:
    a = leaf(lib)
    h = a * 1
    y = h * 2.0 + h / 2.0 + h.float().double() + 2 / h
    h.add_(1)
    return backward_grad(y, a)


@pytest.mark.parametrize(("name", "build"), VERSION_CASES, ids=[n for n, _ in VERSION_CASES])
def test_version_counter_refusals_match_torch(name: str, build: Callable[[Any], Any]) -> None:
    assert_same_outcome(build)


@LIBS
def test_version_counts_in_place_writes(lib: Any) -> None:
    x = lib.ones(3)
    alias, view, data = x.detach(), x.reshape(3), x.data
    x.add_(1)
    view.mul_(2)
    x.zero_()
    x[0] = 1.0
    assert (x._version, alias._version, view._version, data._version) == (4, 4, 4, 0)
    assert (x * 2)._version == 0


# -- the other refusals ------------------------------------------------------------------------
def implicit_non_scalar(lib: Any) -> Any:
    return (leaf(lib) * 2).backward()


def root_without_grad(lib: Any) -> Any:
    return (const(lib) * 2).sum().backward()


def leaf_root_without_grad(lib: Any) -> Any:
    return lib.ones(()).backward()


def gradient_of_wrong_shape(lib: Any) -> Any:
    return (leaf(lib) * 2).backward(lib.ones(1, 3))


def gradient_broadcastable_but_wrong(lib: Any) -> Any:
    return (leaf(lib) * 2).backward(lib.ones(1))


def gradient_of_another_dtype(lib: Any) -> Any:  # cast, not refused
    a = leaf(lib)
    (a * 2).backward(lib.tensor([1.0, -1.0, 0.5], dtype=lib.float64))
    assert a.grad.dtype == lib.float32
    return a.grad


def unused_input(lib: Any) -> Any:
    a, b = leaf(lib), leaf(lib)
    return lib.autograd.grad((a * 2).sum(), [a, b])


def unused_input_allowed(lib: Any) -> Any:
    a, b = leaf(lib), leaf(lib)
    ga, gb = lib.autograd.grad((a * 2).sum(), [a, b], allow_unused=True)
    assert gb is None
    return ga


def unused_input_materialized(lib: Any) -> Any:
    a, b = leaf(lib), leaf(lib, (2, 2), lib.float64)
    _, gb = lib.autograd.grad((a * 2).sum(), [a, b], materialize_grads=True)
    assert gb.dtype == lib.float64
    return gb


def materialize_with_allow_unused_false(lib: Any) -> Any:
    a, b = leaf(lib), leaf(lib)
    return lib.autograd.grad((a * 2).sum(), [a, b], materialize_grads=True, allow_unused=False)


def input_without_grad(lib: Any) -> Any:
    a = leaf(lib)
    return lib.autograd.grad((a * 2).sum(), [a, const(lib)], allow_unused=True)


def leaf_in_place(lib: Any) -> Any:
    a = leaf(lib)
    try:
        a.mul_(2)
    finally:
        assert np.asarray(a.detach().numpy()).tolist() == [0.5, 1.0, 1.5]  # refused before writing


def leaf_in_place_under_no_grad(lib: Any) -> Any:
    a = leaf(lib)
    with lib.no_grad():
        a.add_(1)
    assert a.is_leaf and a.requires_grad and a.grad_fn is None
    return a * 1


OTHER_CASES = [
    implicit_non_scalar,
    root_without_grad,
    leaf_root_without_grad,
    gradient_of_wrong_shape,
    gradient_broadcastable_but_wrong,
    gradient_of_another_dtype,
    unused_input,
    unused_input_allowed,
    unused_input_materialized,
    materialize_with_allow_unused_false,
    input_without_grad,
    leaf_in_place,
    leaf_in_place_under_no_grad,
]


@pytest.mark.parametrize("build", OTHER_CASES, ids=[c.__name__ for c in OTHER_CASES])
def test_refusals_match_torch(build: Callable[[Any], Any]) -> None:
    def first(lib: Any) -> Any:
        got = build(lib)
        return got[0] if isinstance(got, tuple) else got

    assert_same_outcome(first)
