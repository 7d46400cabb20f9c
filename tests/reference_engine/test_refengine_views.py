"""Views and in-place ops: each scenario runs on torch and on reference_engine and must leave the
same record (values, gradients, grad_fn names down the graph, or the error raised), and a few
facts of the record are asserted outright, so that agreeing on a wrong answer fails too.

Known differences, outside what the suites check: torch regenerates the grad_fn of every other
view of a base written in place (AsStridedBackward0, on its next access); here only the view
written through changes. A 0-d selection (`b[0]` of a 1-d b) is a copy here, not a view.
"""

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


def same_on_both(scenario: Callable[[Any], Record]) -> Record:
    want, got = scenario(torch), scenario(re)
    assert _plain(got) == _plain(want)
    return want


def _plain(record: Record) -> Record:
    return [np.asarray(r).tolist() if isinstance(r, np.ndarray) else r for r in record]


def host(t: Any) -> Any:
    return None if t is None else np.asarray(t.detach().numpy(), dtype=np.float64).round(10)


def names(node: Any, depth: int = 3) -> Any:
    """The node's name() and, recursively, its next functions' (None for a missing edge)."""
    if node is None:
        return None
    if depth == 0:
        return node.name()
    return [node.name(), [names(n, depth - 1) for n, _ in node.next_functions]]


def error(call: Callable[[], Any]) -> str:
    try:
        call()
    except (RuntimeError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def tensor(lib: Any, values: Any, requires_grad: bool = False) -> Any:
    return lib.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


X = [[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]]
S = [[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]]


# -- in-place on non-leaves ---------------------------------------------------------------------
def test_inplace_chain_on_a_non_leaf_rebases_and_differentiates() -> None:
    def scenario(lib: Any) -> Record:
        x = tensor(lib, X, True)
        o = tensor(lib, S, True)
        b = x * 2
        b.mul_(o)
        b.add_(o)
        b.mul_(3)
        (b * tensor(lib, S)).sum().backward()
        return [host(b), names(b.grad_fn, 4), b.is_leaf, host(x.grad), host(o.grad), b._version]

    record = same_on_both(scenario)
    assert record[1][0] == "MulBackward0" and record[5] == 3


def test_inplace_on_a_leaf_without_grad_makes_it_a_non_leaf() -> None:
    def scenario(lib: Any) -> Record:
        t = tensor(lib, X)
        w = tensor(lib, S, True)
        t.mul_(w)
        return [t.is_leaf, t.requires_grad, names(t.grad_fn)]

    assert same_on_both(scenario)[:2] == [False, True]


# -- in-place through a view --------------------------------------------------------------------
VIEWS: dict[str, Callable[[Any], Any]] = {
    "narrow": lambda b: b.narrow(1, 0, 2),
    "narrow0": lambda b: b.narrow(0, 1, 1),
    "transpose": lambda b: b.transpose(0, 1),
    "t": lambda b: b.t(),
    "view": lambda b: b.view(6),
    "reshape": lambda b: b.reshape(3, 2),
    "slice": lambda b: b[:, 1:],
    "row": lambda b: b[1],
    "unsqueeze": lambda b: b.unsqueeze(0),
    "narrow_of_t": lambda b: b.t().narrow(0, 1, 2),
}


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("op", ["add_", "mul_", "sub_", "div_", "zero_"])
@pytest.mark.parametrize("w_requires_grad", [True, False])
def test_inplace_on_a_view_rebases_the_base(view: str, op: str, w_requires_grad: bool) -> None:
    def scenario(lib: Any) -> Record:
        x = tensor(lib, X, True)
        b = x * 1.5
        v = VIEWS[view](b)
        w = lib.ones(v.shape, dtype=lib.float64) * 2.5
        w.requires_grad_(w_requires_grad)
        getattr(v, op)() if op == "zero_" else getattr(v, op)(w)
        loss = (b * tensor(lib, S)).sum() + (v * v).sum()
        loss.backward()
        return [
            host(b),
            names(b.grad_fn),
            names(v.grad_fn),
            host(x.grad),
            host(w.grad),
            b._version,
            v._version,
        ]

    record = same_on_both(scenario)
    assert record[1][0] == "torch::autograd::CopySlices"
    assert record[2][0] == "AsStridedBackward0"


@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
    data=st.data(),
)
@FAST
def test_narrow_then_mul_matches_torch_everywhere(rows: int, cols: int, data: Any) -> None:
    dim = data.draw(st.integers(0, 1))
    size = (rows, cols)[dim]
    start = data.draw(st.integers(0, size - 1))
    length = data.draw(st.integers(1, size - start))
    values = data.draw(st.lists(st.floats(-3, 3), min_size=rows * cols, max_size=rows * cols))

    def scenario(lib: Any) -> Record:
        x = tensor(lib, np.reshape(values, (rows, cols)), True)
        b = x.sin()  # saves x, not b, which the write below changes
        v = b.narrow(dim, start, length)
        w = lib.ones(v.shape, dtype=lib.float64).requires_grad_()
        v.mul_(w * 3)
        b.sum().backward()
        return [host(b), host(x.grad), host(w.grad)]

    same_on_both(scenario)


def test_a_base_without_grad_written_through_a_view_joins_the_graph() -> None:
    def scenario(lib: Any) -> Record:
        b = tensor(lib, X)
        w = lib.ones(2, 2, dtype=lib.float64).requires_grad_()
        v = b.narrow(1, 0, 2)
        v.add_(w)
        (b * tensor(lib, S)).sum().backward()
        return [b.is_leaf, b.requires_grad, names(b.grad_fn), names(v.grad_fn), host(w.grad)]

    assert same_on_both(scenario)[:2] == [False, True]


def test_create_graph_through_copy_slices() -> None:
    def scenario(lib: Any) -> Record:
        x = tensor(lib, X, True)
        b = x * x
        b.narrow(1, 1, 2).mul_(x.narrow(1, 0, 2))
        (g,) = lib.autograd.grad(b.sum(), [x], create_graph=True)
        (g * tensor(lib, S)).sum().backward()
        return [host(g), host(x.grad)]

    same_on_both(scenario)


# -- refusals -----------------------------------------------------------------------------------
REFUSED: dict[str, Callable[[Any], Any]] = {
    "view of a leaf": lambda lib: tensor(lib, X, True).narrow(0, 0, 1).add_(1),
    "transpose of a leaf": lambda lib: tensor(lib, X, True).t().mul_(2),
    "zero_ on a view of a leaf": lambda lib: tensor(lib, X, True)[0].zero_(),
    "view of a view of a leaf": lambda lib: tensor(lib, X, True).t().narrow(0, 1, 1).add_(1),
    "expanded view": lambda lib: (tensor(lib, [1.0, 2.0], True) * 1).expand(3, 2).mul_(2),
    "narrow past the end": lambda lib: tensor(lib, X).narrow(1, 2, 2),
    "narrow start out of range": lambda lib: tensor(lib, X).narrow(0, 3, 0),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals_match(case: str) -> None:
    message = same_on_both(lambda lib: [error(lambda: REFUSED[case](lib))])[0]
    assert message != "no error"


def test_a_view_of_a_leaf_may_be_written_under_no_grad() -> None:
    def scenario(lib: Any) -> Record:
        x = tensor(lib, X, True)
        with lib.no_grad():
            x.narrow(1, 1, 2).mul_(2)
        (x * x).sum().backward()
        return [x.is_leaf, x.requires_grad, x.grad_fn is None, host(x), host(x.grad)]

    assert same_on_both(scenario)[:3] == [True, True, True]


# -- version counters shared by a view and its base ------------------------------------------------
SAVED: dict[str, Callable[[Any, Any, Any], Any]] = {
    "view saved, base written": lambda lib, b, v: (v.sin(), b.add_(1)),
    "base saved, view written": lambda lib, b, v: (b.sin(), v.add_(1)),
    "view saved, view written": lambda lib, b, v: (v.sin(), v.mul_(2)),
}


@pytest.mark.parametrize("case", sorted(SAVED))
def test_modified_views_are_refused_with_torchs_message(case: str) -> None:
    def scenario(lib: Any) -> Record:
        x = tensor(lib, X, True)
        b = x * 1
        y, _ = SAVED[case](lib, b, b.narrow(0, 0, 1))
        return [error(lambda: y.sum().backward())]

    assert "modified by an inplace operation" in same_on_both(scenario)[0]


# -- detach ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_detach_shares_storage_and_version_but_not_the_graph(shape: tuple[int, ...]) -> None:
    def scenario(lib: Any) -> Record:
        x = lib.ones(shape, dtype=lib.float64).requires_grad_()
        y = x * 2
        d = y.detach()
        d.add_(1)
        flags = [d.is_leaf, d.requires_grad, d.grad_fn is None, y._version, d._version]
        y.sum().backward()
        return [host(y), *flags, host(x.grad)]

    assert same_on_both(scenario)[1:4] == [True, False, True]


# -- index assignment -------------------------------------------------------------------------
SETS: dict[str, Callable[[Any, Any, Any], None]] = {
    "slice from a tensor": lambda b, w, lib: b.__setitem__((slice(0, 2), 1), w[0:2]),
    "row from a broadcast tensor": lambda b, w, lib: b.__setitem__(1, w),
    "row from a scalar": lambda b, w, lib: b.__setitem__(0, 5.0),
    "element": lambda b, w, lib: b.__setitem__((1, 2), w[0]),
    "through a transposed view": lambda b, w, lib: b.t().__setitem__(2, w[1:]),
}


@pytest.mark.parametrize("case", sorted(SETS))
@pytest.mark.parametrize("base_requires_grad", [True, False])
def test_index_assignment_rebases_the_base(case: str, base_requires_grad: bool) -> None:
    def scenario(lib: Any) -> Record:
        x = tensor(lib, X, True)
        b = x * 2 if base_requires_grad else tensor(lib, X)
        w = tensor(lib, [7.0, 8.0, 9.0], True)
        SETS[case](b, w, lib)
        refused = error(lambda: (b * tensor(lib, S)).sum().backward())  # when nothing needs grad
        return [host(b), names(b.grad_fn), refused, host(x.grad), host(w.grad), b._version]

    record = same_on_both(scenario)
    assert record[1] is None or record[1][0] == "torch::autograd::CopySlices"


def test_index_assignment_into_a_leaf_is_refused() -> None:
    same_on_both(lambda lib: [error(lambda: tensor(lib, X, True).__setitem__(0, 1.0))])
