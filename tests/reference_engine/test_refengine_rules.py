"""The autograd rules of the semantics doc (sections 1-3), each checked on torch and on
reference_engine side by side: same exception type at the same point, same key message."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd_conformance_reference as re

torch = pytest.importorskip("torch", reason="checked against PyTorch, which is not installed")

LIBS = pytest.mark.parametrize("lib", [torch, re], ids=["torch", "reference_engine"])


def raises(fn: Callable[[], Any], exc: type[BaseException], key: str) -> None:
    with pytest.raises(exc) as info:
        fn()
    assert key in str(info.value), str(info.value)


def arr(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy())


# --- section 1: leaves, roots, grad_fn -------------------------------------------------------
@LIBS
def test_leaf_flags(lib: Any) -> None:
    a = lib.ones(3)
    b = lib.ones(3, requires_grad=True)
    cases = {
        "plain": (a, True, False, None),
        "plain_op": (a * 2, True, False, None),
        "requires": (b, True, True, None),
        "op": (b * 2, False, True, "MulBackward0"),
        "detach": (b.detach(), True, False, None),
        "op_detach": ((b * 2).detach(), True, False, None),
        "mixed": (a + b, False, True, "AddBackward0"),
    }
    for name, (t, leaf, req, fn) in cases.items():
        assert t.is_leaf is leaf, name
        assert t.requires_grad is req, name
        assert (None if t.grad_fn is None else type(t.grad_fn).__name__) == fn, name
    with lib.no_grad():
        r = b * 2
        c = lib.ones(2, requires_grad=True)
    assert r.is_leaf and not r.requires_grad and r.grad_fn is None
    assert c.is_leaf and c.requires_grad


@LIBS
def test_detach_and_data_share_storage(lib: Any) -> None:
    b = lib.ones(3, requires_grad=True)
    d = b.detach()
    d.add_(1)
    assert arr(b).tolist() == [2.0, 2.0, 2.0]
    b.data.mul_(2)
    assert arr(b).tolist() == [4.0, 4.0, 4.0] and b.is_leaf and b.grad_fn is None
    assert not b.data.requires_grad


@LIBS
def test_inplace_on_leaf_requiring_grad(lib: Any) -> None:
    b = lib.ones(3, requires_grad=True)
    msg = "a leaf Variable that requires grad is being used in an in-place operation."
    raises(lambda: b.add_(1), RuntimeError, msg)
    raises(lambda: b.mul_(2), RuntimeError, msg)
    raises(lambda: b.sub_(2), RuntimeError, msg)
    raises(lambda: b.zero_(), RuntimeError, msg)

    def setitem() -> None:
        b[0] = 5

    raises(setitem, RuntimeError, "a view of a leaf Variable that requires grad")
    with lib.no_grad():
        b.add_(1)
        b.sub_(0.5)
        b.mul_(2)
    assert b.is_leaf and b.grad_fn is None and b.requires_grad
    assert arr(b).tolist() == [3.0, 3.0, 3.0]


@LIBS
def test_inplace_with_grad_input_rebases_history(lib: Any) -> None:
    w = lib.ones(3, requires_grad=True)
    t = lib.ones(3)
    t.add_(w)
    assert not t.is_leaf and t.requires_grad and type(t.grad_fn).__name__ == "AddBackward0"
    u = lib.ones(3) * 3
    u.mul_(w)
    (t.sum() + u.sum()).backward()
    assert arr(w.grad).tolist() == [4.0, 4.0, 4.0]
    y = w * 2
    y.zero_()
    assert type(y.grad_fn).__name__ == "ZeroBackward0"


@LIBS
def test_grad_zero_and_optimizer_step(lib: Any) -> None:
    w = lib.ones(3, requires_grad=True)
    (w * 2).sum().backward()
    g = w.grad
    g.zero_()
    (w * 3).sum().backward()
    assert w.grad is g and arr(g).tolist() == [3.0, 3.0, 3.0]
    with lib.no_grad():
        w.sub_(w.grad * 0.5)
    assert arr(w).tolist() == [-0.5, -0.5, -0.5] and w.is_leaf


# --- section 2: requires_grad toggling -------------------------------------------------------
@LIBS
def test_requires_grad_toggling(lib: Any) -> None:
    a = lib.ones(3)
    assert a.requires_grad_() is a and a.requires_grad
    a.requires_grad_(False)
    a.requires_grad = True
    assert a.requires_grad
    y = a * 2
    raises(lambda: y.requires_grad_(False), RuntimeError, "var_no_grad = var.detach()")

    def set_false() -> None:
        y.requires_grad = False

    def set_true() -> None:
        y.requires_grad = True

    raises(set_false, RuntimeError, "you can only change requires_grad flags of leaf variables")
    raises(set_true, RuntimeError, "you can only change requires_grad flags of leaf variables")
    fn = y.grad_fn
    assert y.requires_grad_(True) is y and y.grad_fn is fn


@LIBS
def test_integer_tensors_cannot_require_grad(lib: Any) -> None:
    raises(
        lambda: lib.ones(3, dtype=lib.long).requires_grad_(),
        RuntimeError,
        "only Tensors of floating point dtype can require gradients",
    )
    raises(
        lambda: lib.ones(3, dtype=lib.bool).requires_grad_(),
        RuntimeError,
        "only Tensors of floating point dtype can require gradients",
    )
    raises(
        lambda: lib.tensor([1, 2], requires_grad=True),
        RuntimeError,
        "Only Tensors of floating point and complex dtype can require gradients",
    )
    raises(
        lambda: lib.ones(2, dtype=lib.long, requires_grad=True),
        RuntimeError,
        "Only Tensors of floating point and complex dtype can require gradients",
    )
    t = lib.ones(3, dtype=lib.int32)

    def set_true() -> None:
        t.requires_grad = True

    raises(set_true, RuntimeError, "only Tensors of floating point and complex dtype")
    t.requires_grad_(False)


@LIBS
def test_grad_mode_contexts_nest_and_restore(lib: Any) -> None:
    w = lib.ones(2, requires_grad=True)
    with lib.no_grad():
        assert not (w * 2).requires_grad and not lib.is_grad_enabled()
        with lib.enable_grad():
            assert (w * 2).requires_grad
        with lib.set_grad_enabled(True):
            assert lib.is_grad_enabled()
        assert not lib.is_grad_enabled()
    assert lib.is_grad_enabled()
    with pytest.raises(ValueError), lib.no_grad():
        raise ValueError
    assert lib.is_grad_enabled()
    lib.set_grad_enabled(False)
    assert not lib.is_grad_enabled() and not (w * 2).requires_grad
    lib.set_grad_enabled(True)
    assert lib.is_grad_enabled()
    with lib.set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert lib.is_grad_enabled()


@LIBS
def test_toggling_a_leaf_after_use(lib: Any) -> None:
    w = lib.ones(2, requires_grad=True)
    out = (w * w).sum()
    w.requires_grad_(False)
    out.backward()
    assert w.grad is None
    out2 = (w * 3).sum()
    w.requires_grad_(True)
    raises(out2.backward, RuntimeError, "element 0 of tensors does not require grad")
    a = lib.ones(2, requires_grad=True)
    o1 = (a * 3).sum()
    a.requires_grad_(False)
    a.requires_grad_(True)
    o2 = (a * 5).sum()
    o1.backward()
    o2.backward()
    assert arr(a.grad).tolist() == [8.0, 8.0]


# --- section 3: gradient accumulation --------------------------------------------------------
FREED = "Trying to backward through the graph a second time"


@LIBS
def test_backward_twice(lib: Any) -> None:
    t = lib.ones(3, requires_grad=True)
    s = (t + 1).sum()
    s.backward()
    s.backward()  # nothing saved: allowed
    assert arr(t.grad).tolist() == [2.0, 2.0, 2.0]
    m = (t * 2).sum()
    m.backward()
    before = arr(t.grad).copy()
    raises(m.backward, RuntimeError, FREED)
    assert arr(t.grad).tolist() == before.tolist()


@LIBS
def test_retain_graph_doubles_exactly(lib: Any) -> None:
    lib.manual_seed(0)
    x, y = lib.ones(5), lib.zeros(3)
    W, b = lib.randn(5, 3, requires_grad=True), lib.randn(3, requires_grad=True)
    loss = lib.nn.functional.binary_cross_entropy_with_logits(lib.matmul(x, W) + b, y)
    loss.backward(retain_graph=True)
    first = arr(b.grad).copy()
    loss.backward()
    np.testing.assert_array_equal(arr(b.grad), 2 * first)
    raises(loss.backward, RuntimeError, FREED)


@LIBS
def test_implicit_gradient_and_shape_checks(lib: Any) -> None:
    w = lib.ones(3, requires_grad=True)
    raises((w * 2).backward, RuntimeError, "grad can be implicitly created only for scalar")
    raises(
        lib.ones(3).backward,
        RuntimeError,
        "element 0 of tensors does not require grad and does not have a grad_fn",
    )
    raises(
        lambda: (w * 2).backward(lib.ones(2)),
        RuntimeError,
        "Mismatch in shape: grad_output[0] has a shape of torch.Size([2]) and output[0] has"
        " a shape of torch.Size([3]).",
    )
    (w * 2).backward(lib.ones(3, dtype=lib.float64))
    assert w.grad.dtype == lib.float32
    (w[:1] * 2).backward()  # shape (1,) works implicitly
    assert arr(w.grad).tolist() == [4.0, 2.0, 2.0]
    v = lib.ones(3, requires_grad=True)
    v.backward(lib.ones(3))
    assert arr(v.grad).tolist() == [1.0, 1.0, 1.0]


@LIBS
def test_diamond_reuse_and_accumulation(lib: Any) -> None:
    x = lib.tensor([2.0, -1.0, 0.5], requires_grad=True)
    (x * x + x).sum().backward()
    assert arr(x.grad).tolist() == [5.0, -1.0, 2.0]
    a = lib.tensor(1.0, requires_grad=True)
    b = a + a
    (b + b).backward()
    assert a.grad.item() == 4.0
    c = lib.tensor([3.0], requires_grad=True)
    d = 2 * c
    (d * d + d).sum().backward()
    assert c.grad.item() == 26.0
    e = lib.tensor([3.0], requires_grad=True)
    (e - e).sum().backward()
    assert e.grad.item() == 0.0
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    (3 * w).sum().backward()
    (w**2).sum().backward()
    assert arr(w.grad).tolist() == [5.0, 7.0]


@LIBS
def test_broadcast_grad_summed_back_and_dtype_kept(lib: Any) -> None:
    b = lib.ones(3, requires_grad=True)
    (lib.ones(4, 3) * b).sum().backward()
    assert arr(b.grad).tolist() == [4.0, 4.0, 4.0] and b.grad.dtype == lib.float32
    c = lib.ones(3, requires_grad=True)
    (c * lib.ones(2, 3, dtype=lib.float64)).sum().backward()
    assert c.grad.dtype == lib.float32 and tuple(c.grad.shape) == (3,)


@LIBS
def test_non_leaf_grad_and_retain_grad(lib: Any) -> None:
    w = lib.ones(3, requires_grad=True)
    x = lib.ones(3)
    z = w * 2
    with pytest.warns(UserWarning, match="is not a leaf Tensor is being accessed"):
        assert z.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is None
        z.retain_grad()
        assert z.retains_grad
        (z * z).sum().backward(retain_graph=True)
        assert arr(z.grad).tolist() == [4.0, 4.0, 4.0]
        (z * z).sum().backward()
        assert arr(z.grad).tolist() == [8.0, 8.0, 8.0]
    w.retain_grad()
    assert not w.retains_grad
    raises(x.retain_grad, RuntimeError, "can't retain_grad on Tensor that has requires_grad=False")


@LIBS
def test_backward_inputs_restricts_accumulation(lib: Any) -> None:
    w, u = lib.ones(3, requires_grad=True), lib.ones(3, requires_grad=True)
    (w * u).sum().backward(inputs=[w])
    assert arr(w.grad).tolist() == [1.0, 1.0, 1.0] and u.grad is None
    (w * u).sum().backward(inputs=u)
    assert arr(u.grad).tolist() == [1.0, 1.0, 1.0]
    raises(lambda: w.sum().backward(inputs=[]), RuntimeError, "cannot be empty")


@LIBS
def test_grad_setter_checks(lib: Any) -> None:
    w = lib.ones(3, requires_grad=True)

    def assign(g: Any) -> Callable[[], None]:
        def go() -> None:
            w.grad = g

        return go

    raises(assign(lib.ones(4)), RuntimeError, "attempting to assign a gradient of size '[4]'")
    raises(
        assign(lib.ones(3, dtype=lib.float64)),
        RuntimeError,
        "attempting to assign a gradient with dtype 'double'",
    )
    w.grad = lib.ones(3)
    w.grad = None
    assert w.grad is None


@LIBS
def test_autograd_grad(lib: Any) -> None:
    w, u, x = lib.ones(3, requires_grad=True), lib.ones(3, requires_grad=True), lib.ones(3)
    (g,) = lib.autograd.grad((w * 2).sum(), [w])
    assert arr(g).tolist() == [2.0, 2.0, 2.0] and w.grad is None
    raises(
        lambda: lib.autograd.grad((w * 2).sum(), [w, u]),
        RuntimeError,
        "The differentiated Tensor at index 1 appears to not have been used in the graph.",
    )
    assert lib.autograd.grad((w * 2).sum(), [w, u], allow_unused=True)[1] is None
    raises(
        lambda: lib.autograd.grad((w * 2).sum(), [x]),
        RuntimeError,
        "One of the differentiated Tensors does not require grad",
    )
    raises(lambda: lib.autograd.grad(w * 2, w), RuntimeError, "implicitly created only for scalar")
    z = w * 3
    out = (z * z).sum()
    (gz,) = lib.autograd.grad(out, z, retain_graph=True)
    assert arr(gz).tolist() == [6.0, 6.0, 6.0]
    (gw,) = lib.autograd.grad(out, w)
    assert arr(gw).tolist() == [18.0, 18.0, 18.0]
    raises(lambda: lib.autograd.grad(out, w), RuntimeError, FREED)
    (g2,) = lib.autograd.grad(w.sum(), w, grad_outputs=lib.tensor(2.0))
    assert arr(g2).tolist() == [2.0, 2.0, 2.0]
    (g3,) = lib.autograd.grad([(w * 2).sum(), (w * 3).sum()], [w])
    assert arr(g3).tolist() == [5.0, 5.0, 5.0]


@LIBS
def test_tensor_api_basics(lib: Any) -> None:
    t = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert tuple(t.shape) == (2, 2) and t.dim() == 2 and t.numel() == 4 and len(t) == 2
    assert tuple(t.size()) == (2, 2) and t.size(1) == 2 and str(t.device) == "cpu"
    assert repr(t.shape) == "torch.Size([2, 2])"
    assert lib.tensor(2.5).item() == 2.5
    w = lib.ones(2, requires_grad=True)
    raises(w.numpy, RuntimeError, "Can't call numpy() on Tensor that requires grad.")
    assert w.detach().numpy().tolist() == [1.0, 1.0]
    a = np.arange(3.0)
    s = lib.from_numpy(a)
    a[0] = 7
    assert s.numpy()[0] == 7 and s.dtype == lib.float64
    assert lib.float32 is lib.ones(1).dtype and lib.long is lib.int64
    assert repr(w * 2) == "tensor([2., 2.], grad_fn=<MulBackward0>)"
    assert repr(w) == "tensor([1., 1.], requires_grad=True)"
    assert lib.zeros_like(w).requires_grad is False


def test_dtype_repr() -> None:
    assert repr(re.float32) == "reference_engine.float32"
    assert repr(re.tensor([1.0], dtype=re.float64)) == (
        "tensor([1.], dtype=reference_engine.float64)"
    )
