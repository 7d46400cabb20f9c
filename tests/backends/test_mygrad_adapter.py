"""The mygrad adapter's concept mapping: constant <-> requires_grad, creator <-> grad_fn, ..."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

mygrad = pytest.importorskip("mygrad")  # an optional extra: autograd-conformance[mygrad]

from closed_form import (  # noqa: E402
    assert_matches_closed_form,
    closed_form,
    example,
    forward,
    present,
    vjp_gradients,
)

from conformance.backends.mygrad import MygradAdapter  # noqa: E402
from conformance.protocol import DeviceUnavailable, EngineMissing, missing_members  # noqa: E402


@pytest.fixture(scope="module")
def adapter() -> MygradAdapter:
    return MygradAdapter("cpu")


def test_satisfies_the_protocol_for_what_it_declares() -> None:
    assert missing_members(MygradAdapter) == []


def test_every_absent_capability_is_explained() -> None:
    caps = MygradAdapter.capabilities
    absent = [
        c for c in ("tape", "graph", "retain_graph", "retain_grad", "no_grad") if not caps.has(c)
    ]
    absent += [] if caps.requires_grad_toggle else ["requires_grad_toggle"]
    assert absent == ["graph", "retain_graph", "retain_grad", "requires_grad_toggle"]
    assert all(caps.notes.get(c) for c in absent)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_tensor_keeps_dtype_shape_and_values(adapter: MygradAdapter, dtype: str) -> None:
    array = np.arange(6).reshape(2, 3).astype(dtype)
    t = adapter.tensor(array)
    assert isinstance(t, mygrad.Tensor)
    assert adapter.dtype(t) == dtype
    np.testing.assert_array_equal(adapter.to_numpy(t), array)
    assert adapter.to_numpy(t).dtype == array.dtype


def test_requires_grad_is_the_inverse_of_constant(adapter: MygradAdapter) -> None:
    on = adapter.tensor(np.ones(2), requires_grad=True)
    off = adapter.tensor(np.ones(2), requires_grad=False)
    assert on.constant is False and adapter.requires_grad(on)
    assert off.constant is True and not adapter.requires_grad(off)


def test_integer_tensors_refuse_requires_grad_with_mygrads_own_error(
    adapter: MygradAdapter,
) -> None:
    with pytest.raises(ValueError, match="Integer-valued tensors must be treated as constants"):
        adapter.tensor(np.arange(3), requires_grad=True)


def test_constant_cannot_be_toggled_and_the_engine_error_passes_through(
    adapter: MygradAdapter,
) -> None:
    with pytest.raises(AttributeError):
        adapter.set_requires_grad(adapter.tensor(np.ones(2)), True)


def test_leaves_have_no_creator_and_results_have_one(adapter: MygradAdapter) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    y = adapter.apply("mul", [w, w], {})
    assert adapter.is_leaf(w) and adapter.grad_fn(w) is None
    assert not adapter.is_leaf(y)
    assert isinstance(adapter.grad_fn(y), mygrad.operation_base.Operation)
    assert adapter.grad_fn(y) is y.creator


def test_backward_writes_grad_with_the_leafs_dtype(adapter: MygradAdapter) -> None:
    w = adapter.tensor(np.array([1.0, -2.0, 3.0], dtype=np.float32), requires_grad=True)
    loss = adapter.apply("sum", [adapter.apply("mul", [w, w], {})], {})
    adapter.backward(loss)
    np.testing.assert_array_equal(adapter.grad(w), [2.0, -4.0, 6.0])
    assert adapter.grad_dtype(w) == "float32"


def test_backward_with_a_seed_gradient(adapter: MygradAdapter) -> None:
    w = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    adapter.backward(adapter.apply("exp", [w], {}), np.array([1.0, 0.5]))
    np.testing.assert_allclose(
        present(adapter.grad(w)), np.exp([1.0, 2.0]) * [1.0, 0.5], rtol=1e-15
    )


def test_retain_graph_and_inputs_are_refused_not_ignored(adapter: MygradAdapter) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    loss = adapter.apply("sum", [w], {})
    with pytest.raises(TypeError, match="retain_graph"):
        adapter.backward(loss, retain_graph=True)
    with pytest.raises(TypeError, match="inputs"):
        adapter.backward(loss, inputs=[w])


def test_clear_grad_and_zero_grad(adapter: MygradAdapter) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    adapter.backward(adapter.apply("sum", [w], {}))
    adapter.zero_grad(w)
    np.testing.assert_array_equal(adapter.grad(w), [0.0, 0.0])
    adapter.clear_grad(w)
    assert adapter.grad(w) is None


def test_no_autodiff_records_no_creator(adapter: MygradAdapter) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    with adapter.no_grad():
        y = adapter.apply("mul", [w, w], {})
    assert adapter.grad_fn(y) is None and adapter.is_leaf(y)
    assert adapter.grad_fn(adapter.apply("mul", [w, w], {})) is not None  # tracking is back on


def test_detach_gives_a_constant_leaf_with_the_same_values(adapter: MygradAdapter) -> None:
    w = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    d = adapter.detach(adapter.apply("mul", [w, w], {}))
    assert adapter.is_leaf(d) and not adapter.requires_grad(d)
    np.testing.assert_array_equal(adapter.to_numpy(d), [1.0, 4.0])


def test_apis_mygrad_lacks_raise(adapter: MygradAdapter) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(NotImplementedError):
        adapter.grad_of([adapter.apply("sum", [w], {})], [w])
    with pytest.raises(NotImplementedError):
        adapter.enable_grad()
    with pytest.raises(NotImplementedError):
        adapter.retain_grad(adapter.apply("mul", [w, w], {}))


def test_vjp_over_two_outputs_and_an_unused_input(adapter: MygradAdapter) -> None:
    a, b, unused = np.array([1.0, 2.0]), np.array([3.0, -1.0]), np.array([5.0])
    values, grads = adapter.vjp(
        lambda t: [adapter.apply("mul", [t[0], t[1]], {}), adapter.apply("exp", [t[0]], {})],
        [a, b, unused],
        [np.array([1.0, 2.0]), np.array([0.5, 0.25])],
    )
    np.testing.assert_array_equal(values[0], a * b)
    np.testing.assert_allclose(
        present(grads[0]), b * [1.0, 2.0] + np.exp(a) * [0.5, 0.25], rtol=1e-15
    )
    np.testing.assert_array_equal(grads[1], a * [1.0, 2.0])
    assert grads[2] is None


def test_vjp_gives_no_gradient_for_integer_inputs(adapter: MygradAdapter) -> None:
    _, grads = adapter.vjp(
        lambda t: [adapter.apply("index", [t[0]], {"indices": [1, 1]})],
        [np.array([1.0, 2.0]), np.array([1, 2])],
        [np.array([1.0, 3.0])],
    )
    np.testing.assert_array_equal(grads[0], [0.0, 4.0])
    assert grads[1] is None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("weighted", "reduction"), [(False, "mean"), (True, "mean"), (True, "sum"), (False, "none")]
)
def test_linear_bce_matches_the_closed_form_via_vjp(
    adapter: MygradAdapter, dtype: str, weighted: bool, reduction: str
) -> None:
    ex = example(
        dtype, batch=5, features_in=3, features_out=2, weighted=weighted, reduction=reduction
    )
    assert_matches_closed_form(ex, vjp_gradients(adapter, ex))


def test_linear_bce_matches_the_closed_form_via_backward(adapter: MygradAdapter) -> None:
    ex = example("float64", batch=4, features_in=3, features_out=2)
    x, y = adapter.tensor(ex.x), adapter.tensor(ex.y)
    W, b = adapter.tensor(ex.W, requires_grad=True), adapter.tensor(ex.b, requires_grad=True)
    adapter.backward(forward(adapter, ex, [x, W, b, y]))
    assert_matches_closed_form(ex, {"W": adapter.grad(W), "b": adapter.grad(b)})
    assert adapter.grad(x) is None and adapter.grad(y) is None
    np.testing.assert_allclose(present(adapter.grad(b)), closed_form(ex)["b"], rtol=1e-12)


def test_other_devices_are_unavailable() -> None:
    with pytest.raises(DeviceUnavailable):
        MygradAdapter("cuda")


def test_missing_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mygrad", None)
    with pytest.raises(EngineMissing, match=r"autograd-conformance\[mygrad\]"):
        MygradAdapter("cpu")


def test_importing_the_adapter_module_does_not_import_mygrad() -> None:
    code = "import sys, conformance.backends.mygrad; print('mygrad' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
