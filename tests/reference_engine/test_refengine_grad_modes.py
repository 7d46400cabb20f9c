"""Grad modes and inference tensors: each scenario runs on torch and on reference_engine and must
leave the same record (the modes and the probe's flags at every point, or the error raised), and
a few facts of the record are asserted outright, so that agreeing on a wrong answer fails too.

Known differences, outside what the suites check: a view (reshape, transpose, expand) of a normal
tensor taken in inference mode is a normal tensor in torch but an inference tensor here, as views
under no_grad already differ (NOGRAD-001); requires_grad_(True) and in-place ops on an inference
tensor outside inference mode are refused by torch and not here.
"""

from __future__ import annotations

import threading
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
MODES: list[tuple[str, tuple[bool, ...]]] = [
    ("no_grad", ()),
    ("enable_grad", ()),
    ("set_grad_enabled", (False,)),
    ("set_grad_enabled", (True,)),
    ("inference_mode", (True,)),
    ("inference_mode", (False,)),
    ("inference_mode", ()),
]


def observe(lib: Any, w: Any) -> tuple[bool, bool, bool, bool, bool]:
    """The two modes, and whether w*2 requires grad, records a grad_fn and is an inference
    tensor."""
    p = w * 2
    return (
        lib.is_grad_enabled(),
        lib.is_inference_mode_enabled(),
        p.requires_grad,
        p.grad_fn is not None,
        p.is_inference(),
    )


def same_on_both(scenario: Callable[[Any], Record]) -> Record:
    want, got = scenario(torch), scenario(re)
    assert got == want
    assert torch.is_grad_enabled() and re.is_grad_enabled()
    assert not torch.is_inference_mode_enabled() and not re.is_inference_mode_enabled()
    return want


# -- nesting, plain calls, exceptions -----------------------------------------------------------
Script = list[Any]
"""Items: "probe", ("set", flag) for a plain set_grad_enabled call, or ("block", mode, body,
raises)."""


def scripts(depth: int = 3) -> st.SearchStrategy[Script]:
    item: st.SearchStrategy[Any] = st.one_of(
        st.just("probe"), st.tuples(st.just("set"), st.booleans())
    )
    if depth:
        block = st.tuples(
            st.just("block"), st.sampled_from(MODES), scripts(depth - 1), st.booleans()
        )
        item = st.one_of(item, block)
    return st.lists(item, min_size=1, max_size=4)


class _Leave(Exception):
    pass


def run_script(lib: Any, script: Script, w: Any, record: Record) -> None:
    for item in script:
        if item == "probe":
            record.append(observe(lib, w))
        elif item[0] == "set":
            lib.set_grad_enabled(item[1])
        else:
            _, (name, args), body, raises = item
            try:
                with getattr(lib, name)(*args):
                    run_script(lib, body, w, record)
                    if raises:
                        raise _Leave
            except _Leave:
                record.append("left by an exception")
            record.append(observe(lib, w))


@FAST
@given(script=scripts())
def test_any_nesting_of_modes_and_plain_calls_matches_torch(script: Script) -> None:
    def scenario(lib: Any) -> Record:
        record: Record = []
        w = lib.ones(2, requires_grad=True)
        try:
            run_script(lib, script, w, record)
        finally:
            lib.set_grad_enabled(True)  # a plain call at the top level stays: undo it
        return record

    same_on_both(scenario)


def test_inference_mode_facts() -> None:
    def scenario(lib: Any) -> Record:
        w = lib.ones(2, requires_grad=True)
        record: Record = []
        with lib.inference_mode():
            record.append(observe(lib, w))
            with lib.enable_grad():
                record.append(observe(lib, w))
            with lib.inference_mode(False):
                record.append(observe(lib, w))
        with lib.no_grad(), lib.inference_mode(False):
            record.append(observe(lib, w))
        return record

    record = same_on_both(scenario)
    assert record == [
        (False, True, False, False, True),
        (True, True, False, False, True),  # grad mode on, still nothing recorded
        (True, False, True, True, False),
        (True, False, True, True, False),  # inference_mode(False) turns grad mode on
    ]


# -- decorators ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES, ids=lambda m: f"{m[0]}{m[1]}")
@pytest.mark.parametrize("raises", [False, True])
def test_decorators_match_torch(mode: tuple[str, tuple[bool, ...]], raises: bool) -> None:
    name, args = mode

    def scenario(lib: Any) -> Record:
        w = lib.ones(2, requires_grad=True)
        record: Record = []
        for outer in ("no_grad", "enable_grad", "inference_mode"):
            with getattr(lib, outer)():

                def body() -> str:
                    record.append(observe(lib, w))
                    if raises:
                        raise _Leave
                    return "returned"

                decorated = getattr(lib, name)(*args)(body)
                record.append(("after decorating", observe(lib, w)))
                record.append(decorated.__name__)
                try:
                    record.append(decorated())
                except _Leave:
                    record.append("raised")
                record.append(("after the call", observe(lib, w)))
        return record

    same_on_both(scenario)


def test_decorators_without_parentheses() -> None:
    def scenario(lib: Any) -> Record:
        w = lib.ones(2, requires_grad=True)

        @lib.no_grad
        def off() -> Any:
            return observe(lib, w)

        @lib.inference_mode
        def inference() -> Any:
            return observe(lib, w)

        return [off(), inference(), observe(lib, w)]

    assert same_on_both(scenario)[:2] == [
        (False, False, False, False, False),
        (False, True, False, False, True),
    ]


def test_set_grad_enabled_as_a_decorator_switches_only_inside() -> None:
    def scenario(lib: Any) -> Record:
        w = lib.ones(2, requires_grad=True)
        switch = lib.set_grad_enabled(False)
        record: Record = [observe(lib, w)]  # construction alone switches the mode
        decorated = switch(lambda: observe(lib, w))
        record += [observe(lib, w), decorated(), observe(lib, w)]
        return record

    record = same_on_both(scenario)
    assert [r[0] for r in record] == [False, True, False, True]


# -- threads ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES, ids=lambda m: f"{m[0]}{m[1]}")
def test_modes_belong_to_a_thread(mode: tuple[str, tuple[bool, ...]]) -> None:
    name, args = mode

    def scenario(lib: Any) -> Record:
        w = lib.ones(2, requires_grad=True)
        record: Record = []

        def in_thread() -> None:
            record.append(("thread", observe(lib, w)))

        with getattr(lib, name)(*args):
            thread = threading.Thread(target=in_thread)
            thread.start()
            thread.join()
        entered, release = threading.Event(), threading.Event()

        def hold() -> None:
            with getattr(lib, name)(*args):
                record.append(("holder", observe(lib, w)))
                entered.set()
                release.wait()

        holder = threading.Thread(target=hold)
        holder.start()
        entered.wait()
        record.append(("main", observe(lib, w)))
        release.set()
        holder.join()
        return record

    record = same_on_both(scenario)
    default = (True, False, True, True, False)
    assert record[0] == ("thread", default) and record[2] == ("main", default)


def test_a_plain_call_in_one_thread_leaves_the_others() -> None:
    def scenario(lib: Any) -> Record:
        w = lib.ones(2, requires_grad=True)
        record: Record = []

        def switch_off() -> None:
            lib.set_grad_enabled(False)
            record.append(observe(lib, w))

        thread = threading.Thread(target=switch_off)
        thread.start()
        thread.join()
        record.append(observe(lib, w))
        return record

    assert [r[0] for r in same_on_both(scenario)] == [False, True]


# -- inference tensors ----------------------------------------------------------------------------
BINARY: dict[str, Callable[[Any, Any, Any], Any]] = {
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / b,
    "add": lambda lib, a, b: a + b,
    "sub": lambda lib, a, b: a - b,
    "pow": lambda lib, a, b: a**b,
    "matmul": lambda lib, a, b: a @ b,
    "linear": lambda lib, a, b: lib.nn.functional.linear(a.reshape(1, 2), b.reshape(1, 2)),
    "bce": lambda lib, a, b: lib.nn.functional.binary_cross_entropy_with_logits(a, b.sigmoid()),
}


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        out = fn()
    except RuntimeError as exc:
        return ("RuntimeError", str(exc))
    node = None if out.grad_fn is None else out.grad_fn.name()
    return (out.requires_grad, node, out.is_inference())


SAME_DTYPE_ONLY = ("matmul", "linear")
"""torch refuses mixed dtypes in these before anything is saved (mm: expected m1 and m2 to have
the same dtype); reference_engine promotes them."""


@pytest.mark.parametrize(
    ("op", "dtypes"),
    [(op, ("float32", "float32")) for op in sorted(BINARY)]
    + [(op, ("float64", "float32")) for op in sorted(BINARY) if op not in SAME_DTYPE_ONLY],
)
def test_saving_an_inference_tensor_matches_torch(op: str, dtypes: tuple[str, str]) -> None:
    def scenario(lib: Any) -> Record:
        w = lib.tensor([1.5, 2.0], dtype=getattr(lib, dtypes[0]), requires_grad=True)
        c = lib.tensor([0.5, 3.0], dtype=getattr(lib, dtypes[1]))
        with lib.inference_mode():
            x = c * 1
        f = BINARY[op]
        return [
            x.is_inference(),
            outcome(lambda: f(lib, w, x)),
            outcome(lambda: f(lib, x, w)),
            outcome(lambda: f(lib, x, c)),  # nothing requires grad: nothing is saved
        ]

    record = same_on_both(scenario)
    refused = ("RuntimeError", re.grad_mode.INFERENCE_SAVED_MSG)
    if op in ("add", "sub"):
        assert refused not in record
    elif op in ("mul", "div", "matmul"):
        assert record[1] == record[2] == refused


OPS_IN_INFERENCE: dict[str, Callable[[Any, Any], Any]] = {
    "exp": lambda lib, w: w.exp(),
    "sum": lambda lib, w: w.sum(),
    "mean": lambda lib, w: w.mean(dim=0),
    "mul": lambda lib, w: w * w,
    "index": lambda lib, w: w[lib.tensor([0, 0])],
    "gt": lambda lib, w: w > 0,
    "to": lambda lib, w: w.to(lib.float64),
    "ones": lambda lib, w: lib.ones(2),
    "tensor": lambda lib, w: lib.tensor([1.0]),
    "zeros_like": lambda lib, w: lib.zeros_like(w),
}


@pytest.mark.parametrize("op", sorted(OPS_IN_INFERENCE))
def test_results_made_in_inference_mode_match_torch(op: str) -> None:
    def scenario(lib: Any) -> Record:
        w = lib.tensor([1.5, -2.0], requires_grad=True)
        f = OPS_IN_INFERENCE[op]
        with lib.inference_mode():
            inside = f(lib, w)
        outside = f(lib, w)
        # An inference tensor used outside, where nothing needs saving, gives normal results.
        later = inside * 2
        return [
            (inside.is_inference(), inside.requires_grad, inside.grad_fn is None),
            (outside.is_inference(), w.is_inference()),
            (later.is_inference(), later.requires_grad),
            np.asarray(inside.detach().numpy()).tolist(),
        ]

    record = same_on_both(scenario)
    assert record[0] == (True, False, True)
