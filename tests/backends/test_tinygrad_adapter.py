"""The tinygrad adapter: the functional level via Tensor.gradient, on its CPU and PYTHON devices."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tinygrad = pytest.importorskip("tinygrad")  # an optional extra: autograd-conformance[tinygrad]

from closed_form import assert_matches_closed_form, example, present, vjp_gradients  # noqa: E402

from conformance.backends.tinygrad import VERSION, TinygradAdapter  # noqa: E402
from conformance.protocol import (  # noqa: E402
    TAPE_METHODS,
    DeviceUnavailable,
    EngineMissing,
    missing_members,
)

HAS_CLANG = shutil.which(os.environ.get("CC", "clang")) is not None
# tinygrad's CPU device needs clang; its PYTHON device needs nothing and is always tested.
DEVICES = ["python", "cpu"] if HAS_CLANG else ["python"]


@pytest.fixture(scope="module", params=DEVICES)
def adapter(request: pytest.FixtureRequest) -> TinygradAdapter:
    return TinygradAdapter(request.param)


def test_the_pinned_version_is_installed() -> None:
    assert TinygradAdapter("python").version() == VERSION


def test_declares_only_the_functional_level_and_explains_why() -> None:
    caps = TinygradAdapter.capabilities
    absent = ("tape", "graph", "retain_graph", "retain_grad", "no_grad", "requires_grad_toggle")
    assert missing_members(TinygradAdapter) == []
    assert not any(caps.has(c) for c in absent)
    assert all(caps.notes.get(c) for c in absent)
    assert not [m for m in TAPE_METHODS if m != "dtype" and hasattr(TinygradAdapter, m)]


def test_the_kernel_cache_is_not_in_the_home_directory(adapter: TinygradAdapter) -> None:
    cachedb = Path(adapter.environment()["cachedb"]).resolve()
    assert Path.home().resolve() not in cachedb.parents


def test_cpu_is_available_exactly_when_clang_is() -> None:
    if HAS_CLANG:
        assert TinygradAdapter("cpu").environment()["tinygrad_device"] == "CPU"
    else:
        with pytest.raises(DeviceUnavailable, match="clang"):
            TinygradAdapter("cpu")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_tensor_keeps_dtype_shape_and_values(adapter: TinygradAdapter, dtype: str) -> None:
    array = (np.arange(6).reshape(2, 3) % 3).astype(dtype)
    t = adapter.tensor(array)
    assert isinstance(t, tinygrad.Tensor) and adapter.dtype(t) == dtype
    assert t.device == adapter._device
    out = adapter.to_numpy(t)
    assert out.dtype == array.dtype
    np.testing.assert_array_equal(out, array)


def test_vjp_is_tensor_gradient_over_several_outputs(adapter: TinygradAdapter) -> None:
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    values, grads = adapter.vjp(
        lambda t: [adapter.apply("mul", [t[0], t[1]], {}), adapter.apply("exp", [t[0]], {})],
        [a, b],
        [np.array([1.0, 2.0]), np.array([0.5, 0.25])],
    )
    np.testing.assert_array_equal(values[0], a * b)
    np.testing.assert_allclose(
        present(grads[0]), b * [1.0, 2.0] + np.exp(a) * [0.5, 0.25], rtol=1e-14
    )
    np.testing.assert_array_equal(grads[1], a * [1.0, 2.0])


def test_vjp_leaves_grad_untouched(adapter: TinygradAdapter) -> None:
    seen: list[Any] = []

    def fn(tensors: Sequence[Any]) -> list[Any]:
        seen.extend(tensors)
        return [adapter.apply("sum", [adapter.apply("mul", [tensors[0], tensors[0]], {})], {})]

    adapter.vjp(fn, [np.array([1.0, 2.0])], [np.array(1.0)])
    assert all(t.grad is None for t in seen)


def test_vjp_bool_outputs_and_integer_inputs_carry_no_gradient(adapter: TinygradAdapter) -> None:
    values, grads = adapter.vjp(
        lambda t: [
            adapter.apply("gt", [t[0], t[1]], {}),
            adapter.apply("index", [t[0]], {"indices": [1, 1]}),
        ],
        [np.array([1.0, 2.0]), np.array([1.5, 1.5]), np.array([4])],
        [np.ones(2), np.array([1.0, 3.0])],
    )
    np.testing.assert_array_equal(values[0], [False, True])
    np.testing.assert_array_equal(grads[0], [0.0, 4.0])  # a repeated index sums
    assert grads[2] is None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("weighted", "reduction"), [(False, "mean"), (True, "mean"), (True, "sum"), (False, "none")]
)
def test_linear_bce_matches_the_closed_form(
    adapter: TinygradAdapter, dtype: str, weighted: bool, reduction: str
) -> None:
    ex = example(
        dtype, batch=5, features_in=3, features_out=2, weighted=weighted, reduction=reduction
    )
    grads = vjp_gradients(adapter, ex)
    assert grads["W"] is not None and grads["W"].dtype == np.dtype(dtype)
    assert_matches_closed_form(ex, grads)


def test_linear_uses_the_out_by_in_weight_like_tinygrad_nn_linear(adapter: TinygradAdapter) -> None:
    x, W, b = np.ones((4, 3)), np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0])
    out = adapter.apply("linear", [adapter.tensor(a) for a in (x, W, b)], {"optional": ["bias"]})
    np.testing.assert_array_equal(adapter.to_numpy(out), x @ W.T + b)


def test_unknown_devices_are_refused() -> None:
    with pytest.raises(DeviceUnavailable, match="unknown device"):
        TinygradAdapter("metal")


def test_missing_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tinygrad", None)
    with pytest.raises(EngineMissing, match=r"autograd-conformance\[tinygrad\]"):
        TinygradAdapter("python")


def test_importing_the_adapter_module_does_not_import_tinygrad() -> None:
    code = "import sys, conformance.backends.tinygrad; print('tinygrad' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
