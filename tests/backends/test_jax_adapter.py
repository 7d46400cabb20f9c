"""The JAX adapter: the functional level only (jax.vjp), float64 through jax_enable_x64."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")  # an optional extra: autograd-conformance[jax]

from closed_form import assert_matches_closed_form, example, present, vjp_gradients  # noqa: E402

from conformance.backends.jax import JaxAdapter  # noqa: E402
from conformance.backends.registry import BackendError, load_backend  # noqa: E402
from conformance.protocol import (  # noqa: E402
    TAPE_METHODS,
    DeviceUnavailable,
    EngineMissing,
    missing_members,
)

TAPE_CAPABILITIES = ("tape", "graph", "retain_graph", "retain_grad", "no_grad")


@pytest.fixture(scope="module")
def adapter() -> JaxAdapter:
    return JaxAdapter("cpu")


def test_declares_only_the_functional_level_and_explains_why() -> None:
    caps = JaxAdapter.capabilities
    assert missing_members(JaxAdapter) == []
    assert not any(caps.has(c) for c in (*TAPE_CAPABILITIES, "requires_grad_toggle"))
    assert all(caps.notes.get(c) for c in (*TAPE_CAPABILITIES, "requires_grad_toggle"))
    assert caps.dtypes == {"float32", "float64"}
    # No tape methods are faked: JAX has none of them.
    assert not [m for m in TAPE_METHODS if hasattr(JaxAdapter, m)]


def test_float64_is_enabled_and_float32_stays_float32(adapter: JaxAdapter) -> None:
    assert jax.config.jax_enable_x64
    for dtype in ("float64", "float32", "int64", "bool"):
        array = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
        t = adapter.tensor(array)
        assert isinstance(t, jax.Array) and t.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(adapter.to_numpy(t), array)
    half = adapter.tensor(np.ones(3, np.float32))
    assert adapter.apply("mul", [half, half], {}).dtype == np.float32


def test_tensors_live_on_the_requested_device(adapter: JaxAdapter) -> None:
    t = adapter.tensor(np.ones(2))
    assert {d.platform for d in t.devices()} == {"cpu"}
    assert adapter.environment()["platform"] == "cpu"


def test_requires_grad_is_ignored_because_jax_has_no_such_flag(adapter: JaxAdapter) -> None:
    plain, flagged = adapter.tensor(np.ones(2)), adapter.tensor(np.ones(2), requires_grad=True)
    assert type(plain) is type(flagged)
    assert not hasattr(flagged, "requires_grad")


def test_vjp_is_jax_vjp_over_several_outputs(adapter: JaxAdapter) -> None:
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    values, grads = adapter.vjp(
        lambda t: [adapter.apply("mul", [t[0], t[1]], {}), adapter.apply("exp", [t[0]], {})],
        [a, b],
        [np.array([1.0, 2.0]), np.array([0.5, 0.25])],
    )
    np.testing.assert_array_equal(values[0], a * b)
    np.testing.assert_allclose(
        present(grads[0]), b * [1.0, 2.0] + np.exp(a) * [0.5, 0.25], rtol=1e-15
    )
    np.testing.assert_array_equal(grads[1], a * [1.0, 2.0])


def test_vjp_bool_outputs_and_integer_inputs_carry_no_gradient(adapter: JaxAdapter) -> None:
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


def test_an_input_no_output_uses_gets_jaxs_materialised_zeros(adapter: JaxAdapter) -> None:
    _, grads = adapter.vjp(
        lambda t: [adapter.apply("neg", [t[0]], {})], [np.ones(2), np.ones(3)], [np.ones(2)]
    )
    np.testing.assert_array_equal(grads[1], np.zeros(3))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("weighted", "reduction"), [(False, "mean"), (True, "mean"), (True, "sum"), (False, "none")]
)
def test_linear_bce_matches_the_closed_form(
    adapter: JaxAdapter, dtype: str, weighted: bool, reduction: str
) -> None:
    ex = example(
        dtype, batch=5, features_in=3, features_out=2, weighted=weighted, reduction=reduction
    )
    grads = vjp_gradients(adapter, ex)
    assert grads["W"] is not None and grads["W"].dtype == np.dtype(dtype)
    assert_matches_closed_form(ex, grads)


def test_bce_rejects_an_unknown_reduction(adapter: JaxAdapter) -> None:
    z = adapter.tensor(np.zeros(2))
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        adapter.apply("bce_with_logits", [z, z], {"reduction": "avg"})


def test_expand_keeps_dimensions_given_as_minus_one(adapter: JaxAdapter) -> None:
    t = adapter.apply(
        "expand", [adapter.tensor(np.arange(3.0).reshape(3, 1))], {"shape": [2, -1, 4]}
    )
    assert t.shape == (2, 3, 4)


def test_cuda_is_a_gpu_or_unavailable_never_a_cpu_fallback() -> None:
    if any(d.platform == "gpu" for d in jax.devices()):
        assert {d.platform for d in JaxAdapter("cuda").tensor(np.ones(1)).devices()} == {"gpu"}
        return
    with pytest.raises(DeviceUnavailable, match="jax:cuda"):
        JaxAdapter("cuda")
    with pytest.raises(BackendError, match="jax:cuda"):
        load_backend("jax:cuda")


def test_missing_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(EngineMissing, match=r"autograd-conformance\[jax\]"):
        JaxAdapter("cpu")


def test_importing_the_adapter_module_does_not_import_jax() -> None:
    code = "import sys, conformance.backends.jax; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
