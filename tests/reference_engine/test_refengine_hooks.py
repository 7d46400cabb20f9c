"""Tensor hooks and post-accumulate-grad hooks: each scenario runs on torch and on
reference_engine and must leave the same record (what every hook saw, in order, and the
gradients after), and a few facts of the record are asserted outright."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from re_helpers import FAST

import autograd_conformance_reference as re

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")

Record = list[Any]


def host(t: Any) -> Any:
    return None if t is None else np.asarray(t.detach().numpy()).tolist()


def same_on_both(scenario: Callable[[Any], Record]) -> Record:
    """Run `scenario` on torch and on reference_engine; their records must be equal (floats
    to float32 rounding: exp and sin round differently)."""
    want, got = scenario(torch), scenario(re)
    assert _same(got, want), f"reference_engine: {got}\ntorch: {want}"
    return want


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return bool(np.isclose(got, want, rtol=1e-5, atol=1e-6))
    if isinstance(want, list | tuple) and type(got) is type(want):
        return len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want, strict=True))
    return bool(got == want)


def recorder(log: Record, tag: str, result: Callable[[Any], Any] = lambda g: None) -> Any:
    def hook(g: Any) -> Any:
        log.append((tag, host(g)))
        return result(g)

    return hook


def test_leaf_hook_sees_and_replaces_the_accumulated_gradient() -> None:
    def scenario(lib: Any) -> Record:
        log: Record = []
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        x.register_hook(recorder(log, "x", lambda g: g * 10))
        (x * x).sum().backward()
        kept = lib.tensor([1.0, 2.0], requires_grad=True)
        kept.register_hook(recorder(log, "kept"))
        (kept * 3).sum().backward()
        return [*log, host(x.grad), host(kept.grad)]

    record = same_on_both(scenario)
    assert record[-2] == [20.0, 40.0, 60.0] and record[-1] == [3.0, 3.0]


def test_non_leaf_hook_changes_what_flows_on_and_runs_once_on_the_summed_gradient() -> None:
    def scenario(lib: Any) -> Record:
        log: Record = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.register_hook(recorder(log, "y", lambda g: g * 3))
        x.register_hook(recorder(log, "x"))  # used directly as well: one call, summed
        (y * 3 + y.exp() + x).sum().backward()
        return [*log, host(x.grad)]

    record = same_on_both(scenario)
    assert [tag for tag, _ in record[:-1]] == ["y", "x"]


def test_hooks_run_in_registration_order_each_on_the_previous_result() -> None:
    def scenario(lib: Any) -> Record:
        log: Record = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 1
        y.register_hook(recorder(log, "a", lambda g: g + 1))
        y.register_hook(recorder(log, "none"))
        y.register_hook(recorder(log, "b", lambda g: g * 10))
        x.register_hook(recorder(log, "leaf1", lambda g: g * 2))
        x.register_hook(recorder(log, "leaf2"))
        y.sum().backward()
        return [*log, host(x.grad)]

    record = same_on_both(scenario)
    assert record[-1] == [40.0, 40.0]


def test_removed_hooks_stop_and_the_others_keep_running() -> None:
    def scenario(lib: Any) -> Record:
        log: Record = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        first = x.register_hook(recorder(log, "first", lambda g: g * 100))
        x.register_hook(recorder(log, "second"))
        first.remove()
        first.remove()  # a second remove is harmless
        x.sum().backward()
        with x.register_hook(recorder(log, "scoped", lambda g: g * 0)):
            pass
        x.sum().backward()
        return [*log, host(x.grad)]

    record = same_on_both(scenario)
    assert record[-1] == [2.0, 2.0]


@pytest.mark.parametrize("retain_first", [True, False])
def test_retain_grad_sees_the_gradient_after_every_hook(retain_first: bool) -> None:
    def scenario(lib: Any) -> Record:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 1
        if retain_first:
            y.retain_grad()
        y.register_hook(lambda g: g * 10)
        if not retain_first:
            y.retain_grad()
        y.register_hook(lambda g: g + 1)
        y.sum().backward(retain_graph=True)
        first = host(y.grad)
        y.sum().backward()
        return [first, host(y.grad), host(x.grad)]

    assert same_on_both(scenario) == [[11.0, 11.0], [22.0, 22.0], [22.0, 22.0]]


def test_refusals() -> None:
    def scenario(lib: Any) -> Record:
        found: Record = []

        def attempt(fn: Callable[[], Any]) -> None:
            try:
                fn()
                found.append("no error")
            except RuntimeError as exc:
                found.append(str(exc).split("\n")[0])

        plain = lib.ones(2)
        attempt(lambda: plain.register_hook(lambda g: g))
        attempt(lambda: plain.register_post_accumulate_grad_hook(lambda t: None))
        leaf = lib.ones(2, requires_grad=True)
        attempt(lambda: (leaf * 2).register_post_accumulate_grad_hook(lambda t: None))

        def reshaped(g: Any) -> Any:
            return g.sum()

        def widened(g: Any) -> Any:
            return g.double()

        for hook in (reshaped, widened):
            y = leaf * 1
            y.register_hook(hook)
            attempt(lambda y=y: (y * 3).sum().backward())
        returns = lib.ones(2, requires_grad=True)
        returns.register_post_accumulate_grad_hook(lambda t: t.grad * 0)
        attempt(lambda: (returns * 3).sum().backward())
        return found

    record = same_on_both(scenario)
    assert record[0] == "cannot register a hook on a tensor that doesn't require gradient"
    assert "no error" not in record


def test_post_accumulate_hooks_run_after_accumulation_and_receive_the_leaf() -> None:
    def scenario(lib: Any) -> Record:
        log: Record = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(lambda g: log.append(("pre", host(g), host(x.grad))) or g * 2)
        first = x.register_post_accumulate_grad_hook(
            lambda t: log.append(("post1", t is x, host(t.grad)))
        )
        x.register_post_accumulate_grad_hook(lambda t: log.append(("post2", host(t.grad))))
        (x * 3).sum().backward(retain_graph=True)
        first.remove()
        (x * 3).sum().backward()
        # switched off after use: nothing accumulates, yet both kinds of hook still run
        off = lib.tensor([1.0, 2.0], requires_grad=True)
        off.register_hook(lambda g: log.append("off pre"))
        off.register_post_accumulate_grad_hook(lambda t: log.append("off post"))
        out = (off * 2).sum()
        off.requires_grad_(False)
        out.backward()
        return [*log, host(off.grad)]

    record = same_on_both(scenario)
    assert record[1] == ("post1", True, [6.0, 6.0])


def test_hooks_under_autograd_grad_and_backward_inputs() -> None:
    def scenario(lib: Any) -> Record:
        log: Record = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        x.register_hook(recorder(log, "x", lambda g: g * 10))
        y.register_hook(recorder(log, "y", lambda g: g * 3))
        x.register_post_accumulate_grad_hook(lambda t: log.append("x post"))
        (gx,) = lib.autograd.grad((y * y).sum(), [x], retain_graph=True)
        log.append(("grad x", host(gx), host(x.grad), host(y.grad)))
        # y is captured and its node also runs: torch captures it before its hooks
        gy, gx = lib.autograd.grad((y * y).sum(), [y, x], retain_graph=True)
        log.append(("grad y, x", host(gy), host(gx)))
        (gy,) = lib.autograd.grad(y.sum(), [y], retain_graph=True)
        log.append(("grad y", host(gy)))
        y.sum().backward(inputs=[x])
        log.append(("inputs=[x]", host(x.grad)))
        other = lib.tensor([1.0, 2.0], requires_grad=True)
        off_path = other * 2
        off_path.register_hook(recorder(log, "off the path"))
        lib.autograd.grad((off_path * x).sum(), [x])
        return log

    record = same_on_both(scenario)
    assert ("grad x", [240.0, 480.0], None, [12.0, 24.0]) in record


@FAST
@given(
    factors=st.lists(st.sampled_from([-2.0, 0.0, 0.5, 1.0, 3.0]), min_size=4, max_size=4),
    nones=st.lists(st.booleans(), min_size=4, max_size=4),
    values=st.lists(st.floats(-2, 2, width=32), min_size=3, max_size=3),
)
def test_scaling_hooks_anywhere_in_a_graph(
    factors: list[float], nones: list[bool], values: list[float]
) -> None:
    def scenario(lib: Any) -> Record:
        log: Record = []
        a = lib.tensor(np.array(values, dtype=np.float64), requires_grad=True)
        b = a.sin()
        c = b * a
        d = c.exp() + b
        for tensor, factor, none, tag in zip((a, b, c, d), factors, nones, "abcd", strict=True):
            keep: Callable[[Any], Any] = lambda g: None  # noqa: E731
            tensor.register_hook(recorder(log, tag, keep if none else lambda g, f=factor: g * f))
        (d * d).sum().backward()
        return [*log, host(a.grad)]

    same_on_both(scenario)
