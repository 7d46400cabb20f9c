"""The PaddlePaddle adapter: stop_gradient <-> requires_grad, GradNodeBase nodes, paddle.grad."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.backends.paddle import PaddleAdapter, import_paddle
from conformance.protocol import DeviceUnavailable, EngineMissing, missing_members

with contextlib.suppress(EngineMissing):
    import_paddle()  # first import with HOME redirected: `import paddle` writes ~/.cache/paddle
paddle = pytest.importorskip("paddle")  # an optional extra: autograd-conformance[paddle]

from closed_form import (  # noqa: E402
    assert_matches_closed_form,
    closed_form,
    example,
    forward,
    present,
    vjp_gradients,
)


@pytest.fixture(scope="module")
def adapter() -> PaddleAdapter:
    return PaddleAdapter("cpu")


def test_declares_every_capability() -> None:
    assert missing_members(PaddleAdapter) == []
    caps = PaddleAdapter.capabilities
    for capability in ("tape", "graph", "retain_graph", "retain_grad", "no_grad"):
        assert caps.has(capability)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_tensor_keeps_dtype_shape_and_values(adapter: PaddleAdapter, dtype: str) -> None:
    array = (np.arange(6).reshape(2, 3) % 3).astype(dtype)
    t = adapter.tensor(array)
    assert isinstance(t, paddle.Tensor) and adapter.dtype(t) == dtype
    np.testing.assert_array_equal(adapter.to_numpy(t), array)
    assert adapter.to_numpy(t).dtype == array.dtype


def test_requires_grad_is_the_inverse_of_stop_gradient(adapter: PaddleAdapter) -> None:
    on = adapter.tensor(np.ones(2), requires_grad=True)
    off = adapter.tensor(np.ones(2))
    assert on.stop_gradient is False and adapter.requires_grad(on)
    assert off.stop_gradient is True and not adapter.requires_grad(off)
    assert adapter.set_requires_grad(off, True) is off and off.stop_gradient is False
    adapter.set_requires_grad(off, False)
    assert off.stop_gradient is True


def test_leaves_results_and_the_backward_graph(adapter: PaddleAdapter) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    c = adapter.tensor(np.ones(2))
    y = adapter.apply("mul", [w, c], {})
    assert adapter.is_leaf(w) and not adapter.is_leaf(y)
    node = adapter.grad_fn(y)
    assert adapter.node_name(node) == "MultiplyGradNode"
    accumulate, constant = adapter.next_nodes(node)
    assert constant is None  # c does not require grad
    assert adapter.node_name(accumulate) == "GradNodeAccumulation"
    assert adapter.accumulated_tensor(accumulate) is w
    assert adapter.accumulated_tensor(node) is None


def test_backward_accumulates_and_retain_graph_is_paddles(adapter: PaddleAdapter) -> None:
    w = adapter.tensor(np.array([1.0, -2.0], np.float32), requires_grad=True)
    loss = adapter.apply("sum", [adapter.apply("mul", [w, w], {})], {})
    adapter.backward(loss, retain_graph=True)
    adapter.backward(loss)
    np.testing.assert_array_equal(adapter.grad(w), [4.0, -8.0])
    assert adapter.grad_dtype(w) == "float32"
    with pytest.raises(Exception, match="retain_graph"):  # Paddle's own error, untranslated
        adapter.backward(loss)


def test_clear_grad_gives_none_and_zero_grad_zeroes(adapter: PaddleAdapter) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    adapter.backward(adapter.apply("sum", [w], {}))
    adapter.zero_grad(w)
    np.testing.assert_array_equal(adapter.grad(w), [0.0, 0.0])
    adapter.clear_grad(w)
    assert adapter.grad(w) is None


def test_retain_grad_detach_and_grad_modes(adapter: PaddleAdapter) -> None:
    w = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = adapter.apply("mul", [w, w], {})
    adapter.retain_grad(y)
    adapter.backward(adapter.apply("sum", [y], {}))
    np.testing.assert_array_equal(adapter.grad(y), [1.0, 1.0])
    d = adapter.detach(y)
    assert adapter.is_leaf(d) and not adapter.requires_grad(d)
    with adapter.no_grad():
        assert not adapter.requires_grad(adapter.apply("mul", [w, w], {}))
        with adapter.enable_grad():
            assert adapter.requires_grad(adapter.apply("mul", [w, w], {}))


def test_grad_of_is_paddle_grad_and_leaves_grad_alone(adapter: PaddleAdapter) -> None:
    w = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = adapter.grad_of([adapter.apply("sum", [adapter.apply("mul", [w, w], {})], {})], [w])
    np.testing.assert_array_equal(g, [2.0, 4.0])
    assert adapter.grad(w) is None


def test_vjp_over_two_outputs(adapter: PaddleAdapter) -> None:
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    values, grads = adapter.vjp(
        lambda t: [adapter.apply("mul", [t[0], t[1]], {}), adapter.apply("exp", [t[0]], {})],
        [a, b, np.array([7])],
        [np.array([1.0, 2.0]), np.array([0.5, 0.25])],
    )
    np.testing.assert_array_equal(values[0], a * b)
    np.testing.assert_allclose(
        present(grads[0]), b * [1.0, 2.0] + np.exp(a) * [0.5, 0.25], rtol=1e-15
    )
    np.testing.assert_array_equal(grads[1], a * [1.0, 2.0])
    assert grads[2] is None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("weighted", "reduction"), [(False, "mean"), (True, "mean"), (True, "sum"), (False, "none")]
)
def test_linear_bce_matches_the_closed_form_via_vjp(
    adapter: PaddleAdapter, dtype: str, weighted: bool, reduction: str
) -> None:
    ex = example(
        dtype, batch=5, features_in=3, features_out=2, weighted=weighted, reduction=reduction
    )
    assert_matches_closed_form(ex, vjp_gradients(adapter, ex))


def test_linear_bce_matches_the_closed_form_via_backward(adapter: PaddleAdapter) -> None:
    ex = example("float64", batch=4, features_in=3, features_out=2)
    x, y = adapter.tensor(ex.x), adapter.tensor(ex.y)
    W, b = adapter.tensor(ex.W, requires_grad=True), adapter.tensor(ex.b, requires_grad=True)
    adapter.backward(forward(adapter, ex, [x, W, b, y]))
    assert_matches_closed_form(ex, {"W": adapter.grad(W), "b": adapter.grad(b)})
    assert adapter.grad(x) is None
    np.testing.assert_allclose(present(adapter.grad(b)), closed_form(ex)["b"], rtol=1e-12)


def test_cuda_is_a_gpu_or_unavailable_never_a_cpu_fallback() -> None:
    if paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        assert "gpu" in str(PaddleAdapter("cuda").tensor(np.ones(1)).place).lower()
        return
    with pytest.raises(DeviceUnavailable, match="paddle:cuda"):
        PaddleAdapter("cuda")


def test_missing_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "paddle", None)
    with pytest.raises(EngineMissing, match=r"autograd-conformance\[paddle\]"):
        PaddleAdapter("cpu")


def test_importing_the_adapter_module_does_not_import_paddle() -> None:
    code = "import sys, conformance.backends.paddle; print('paddle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_leaves_the_home_directory_alone(tmp_path: Path) -> None:
    code = (
        "import os; from conformance.backends.paddle import import_paddle; import_paddle(); "
        "print(os.path.exists(os.path.join(os.environ['HOME'], '.cache', 'paddle')))"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
