"""grad_fn names and next_functions structure equal torch's; AccumulateGrad sharing; the
PyTorch tutorial example run with only the import changed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from re_helpers import structure

import autograd_conformance_reference as re

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")

GRAPHS = {
    "add": lambda lib, a, b: a + b,
    "add_scalar": lambda lib, a, b: a + 1,
    "radd": lambda lib, a, b: 1 + a,
    "sub": lambda lib, a, b: a - b,
    "rsub": lambda lib, a, b: 1 - a,
    "mul": lambda lib, a, b: a * b,
    "mul_scalar": lambda lib, a, b: 2 * a,
    "div": lambda lib, a, b: a / b,
    "rdiv": lambda lib, a, b: 2 / a,
    "neg": lambda lib, a, b: -a,
    "pow": lambda lib, a, b: a**2,
    "pow_tensor": lambda lib, a, b: a**b,
    "rpow": lambda lib, a, b: 2**a,
    "exp": lambda lib, a, b: a.exp(),
    "log": lambda lib, a, b: a.log(),
    "sigmoid": lambda lib, a, b: a.sigmoid(),
    "tanh": lambda lib, a, b: a.tanh(),
    "relu": lambda lib, a, b: a.relu(),
    "abs": lambda lib, a, b: a.abs(),
    "sum": lambda lib, a, b: a.sum(),
    "sum_dim": lambda lib, a, b: a.sum(0),
    "sum_tuple": lambda lib, a, b: a.sum((0,)),
    "mean": lambda lib, a, b: a.mean(),
    "mean_dim": lambda lib, a, b: a.mean(-1, keepdim=True),
    "t": lambda lib, a, b: a.t(),
    "T": lambda lib, a, b: a.T,
    "transpose": lambda lib, a, b: a.transpose(0, 1),
    "view": lambda lib, a, b: a.view(-1),
    "reshape": lambda lib, a, b: a.reshape(3, 2),
    "expand": lambda lib, a, b: a[:1].expand(4, 3),
    "index": lambda lib, a, b: a[lib.tensor([1, 0, 1])],
    "select": lambda lib, a, b: a[1],
    "slice": lambda lib, a, b: a[0:1],
    "mm": lambda lib, a, b: a @ b.t(),
    "mv": lambda lib, a, b: a @ b[0],
    "dot": lambda lib, a, b: a[0] @ b[0],
    "vec_mat": lambda lib, a, b: a[0] @ b.t(),
    "diamond": lambda lib, a, b: a * a + a,
    "reuse": lambda lib, a, b: (a + a) + (a + a),
    "linear2d": lambda lib, a, b: lib.nn.functional.linear(a, b, b[0, :2]),
    "linear2d_nobias": lambda lib, a, b: lib.nn.functional.linear(a, b),
    "linear1d": lambda lib, a, b: lib.nn.functional.linear(a[0], b, b[0, :2]),
    "linear1d_nobias": lambda lib, a, b: lib.nn.functional.linear(a[0], b),
    "linear3d": lambda lib, a, b: lib.nn.functional.linear(a.reshape(1, 2, 3), b, b[0, :2]),
    "matmul3d_2d": lambda lib, a, b: a.reshape(1, 2, 3) @ b.t(),
    "matmul3d_1d": lambda lib, a, b: a.reshape(1, 2, 3) @ b[0],
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("requires", [(True, True), (True, False), (False, True)])
def test_graph_structure_matches_torch(name: str, requires: tuple[bool, bool]) -> None:
    a = np.array([[1.0, 2.0, 3.0], [0.5, 1.5, 2.5]])
    b = np.array([[0.5, -1.0, 2.0], [1.0, 0.25, -0.5]])
    got = []
    for lib in (torch, re):
        ta = lib.tensor(a, requires_grad=requires[0])
        tb = lib.tensor(b, requires_grad=requires[1])
        out = GRAPHS[name](lib, ta, tb)
        got.append((structure(out, [ta, tb]), out.requires_grad, out.is_leaf))
    assert got[1] == got[0]


def test_under_no_grad_nothing_is_recorded() -> None:
    for lib in (torch, re):
        a = lib.ones(3, requires_grad=True)
        with lib.no_grad():
            r = (a * 2).sum()
        assert r.is_leaf and not r.requires_grad and r.grad_fn is None


def test_accumulate_grad_is_shared_by_every_use_of_a_leaf() -> None:
    w = re.randn(3, requires_grad=True)
    n1, n2 = (w * 1).grad_fn, (w + 2).grad_fn
    acc = n1.next_functions[0][0]
    assert acc is n2.next_functions[0][0]
    assert type(acc).__name__ == "AccumulateGrad" and acc.variable is w
    torch_acc = (torch.ones(1, requires_grad=True) * 1).grad_fn.next_functions[0][0]
    assert acc.name() == torch_acc.name() == "torch::autograd::AccumulateGrad"
    assert acc.next_functions == ()


def test_seed_example_graph_matches_the_semantics_doc() -> None:
    x, y = re.ones(5), re.zeros(3)
    W, b = re.randn(5, 3, requires_grad=True), re.randn(3, requires_grad=True)
    z = re.matmul(x, W) + b
    loss = re.nn.functional.binary_cross_entropy_with_logits(z, y)
    assert structure(loss, [W, b]) == (
        "BinaryCrossEntropyWithLogitsBackward0",
        (
            (
                "AddBackward0",
                (
                    ("SqueezeBackward4", (("MmBackward0", (None, ("AccumulateGrad", 0))),)),
                    ("AccumulateGrad", 1),
                ),
            ),
            None,
        ),
    )
    assert repr(z.grad_fn).startswith("<AddBackward0 object at 0x")
    assert repr(loss.grad_fn).startswith("<BinaryCrossEntropyWithLogitsBackward0 object at 0x")
    assert loss.grad_fn.next_functions[1] == (None, 0)


EXAMPLE = textwrap.dedent(
    """
    import numpy as np
    import {lib} as torch
    torch.manual_seed(0)
    c1 = torch.randn(5, 3); c2 = torch.Tensor([1, 2, 3])
    param = torch.ones(3, requires_grad=True)
    c2.requires_grad_(True); param.requires_grad_(False)
    x = torch.ones(5); y = torch.zeros(3)
    W = torch.randn(5, 3, requires_grad=True); b = torch.randn(3, requires_grad=True)
    z = torch.matmul(x, W) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    print(z.grad_fn, loss.grad_fn)
    loss.backward(); print(W.grad, b.grad)
    print("LEAF", [t.is_leaf for t in (c1, c2, param, x, y, W, b, z, loss)])
    print("REQ", [t.requires_grad for t in (c1, c2, param, x, y, W, b, z, loss)])
    zz = z.detach().numpy().astype(np.float64)
    dz = (1 / (1 + np.exp(-zz)) - y.numpy()) / 3
    assert np.allclose(b.grad.numpy(), dz, rtol=1e-6, atol=1e-7)
    assert np.allclose(W.grad.numpy(), np.outer(x.numpy(), dz), rtol=1e-6, atol=1e-7)
    assert np.array_equal(W.grad.numpy(), np.outer(x.numpy(), b.grad.numpy()))
    print("OK")
    """
)


def _run_example(lib: str) -> list[str]:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", EXAMPLE.format(lib=lib)],
        capture_output=True,
        text=True,
        cwd=root,
        check=True,
    )
    return proc.stdout.splitlines()


def _strip_addresses(line: str) -> str:
    import re as regex

    return regex.sub(r" at 0x[0-9a-f]+", "", line)


def test_tutorial_example_runs_with_only_the_import_changed() -> None:
    ours, theirs = _run_example("reference_engine"), _run_example("torch")
    assert (
        _strip_addresses(ours[0])
        == _strip_addresses(theirs[0])
        == ("<AddBackward0 object> <BinaryCrossEntropyWithLogitsBackward0 object>")
    )
    assert [x for x in ours if x.startswith(("LEAF", "REQ", "OK"))] == [
        x for x in theirs if x.startswith(("LEAF", "REQ", "OK"))
    ]
