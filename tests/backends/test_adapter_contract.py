"""The adapter contract, checked once for every shipped adapter (ONNX backend-test style).

Every built-in adapter of `conformance.backends` on each of its host devices, and the worked
third-party adapter in examples/micrograd_adapter, runs the same cases: it has the protocol members
for what it declares and explains what it does not; tensors survive a round trip in every declared
dtype; every declared op computes what the op set's float64 NumPy semantics say
(`conformance.judge.numerics.numpy_apply`); the VJP of the linear + BCE-with-logits example equals
its closed form; and, for engines with a tape, leaves, `.grad`, no-grad blocks and the graph walk
do what the protocol says. A case runs only on adapters that declare what it needs.

An adapter whose engine is not installed is skipped with the extra that installs it; in the
engine's own environment (`tox -e jax`, ...) it runs. Facts that only hold for one engine (JAX's
float64 switch, Paddle's node names, tinygrad's kernel cache) are the short per-engine cases at the
end of this file. The adapter contract judges the adapter's translation, not the engine: whether
the engine behaves like PyTorch is what the suites report.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograd_conformance_suites.strategies import programs
from conformance.backends.registry import BUILTINS, BackendError, load_backend
from conformance.judge.numerics import LinearBCE, compare, evaluate_numpy, program_vjp
from conformance.protocol import (
    TAPE_METHODS,
    Adapter,
    Capabilities,
    DeviceUnavailable,
    EngineMissing,
    GraphAdapter,
    TapeAdapter,
    missing_members,
)
from conformance.spec.ops import ALL_OPS
from conformance.spec.tolerances import lookup

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "micrograd_adapter"
HOST_DEVICES = ("cpu", "python")
"""Devices that compute on this machine's CPU (tinygrad's PYTHON device interprets its kernels)."""
FLOAT_DTYPES = ("float32", "float64")
LOW_PRECISION_DTYPES = ("float16", "bfloat16")


@dataclass(frozen=True)
class Case:
    """One adapter on one device, as the contract runs it."""

    engine: str
    device: str
    cls: type[Any]
    engine_module: str
    """The module whose presence means the engine is installed."""
    extra: str
    """The pip extra that installs the engine; "" for the reference engine (NumPy)."""

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.device}"

    @property
    def capabilities(self) -> Capabilities:
        caps: Capabilities = self.cls.capabilities
        return caps

    def construct(self) -> Any:
        return self.cls(self.device)


def _import_class(target: str) -> type[Any]:
    """The adapter class; importing an adapter module never imports its engine (checked below)."""
    module, _, name = target.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def _example_class() -> type[Any]:
    spec = importlib.util.spec_from_file_location(
        "contract_micrograd_adapter", EXAMPLE / "micrograd_adapter.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls: type[Any] = module.MicrogradAdapter
    return cls


def _cases() -> list[Case]:
    cases = []
    for engine, builtin in BUILTINS.items():
        cls = _import_class(builtin.target)
        for device in cls.devices:
            if device in HOST_DEVICES:
                cases.append(Case(engine, device, cls, builtin.engine_module, builtin.extra))
    cases.append(Case("micrograd", "cpu", _example_class(), "micrograd", "micrograd"))
    return cases


CASES = _cases()
ENGINE_CASES = [c for c in CASES if c.extra]
"""Adapters of an optional engine (all but the reference engine, which is NumPy)."""


# -- which cases a test runs on ------------------------------------------------------------------
def needs(*capabilities: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the test only on adapters that declare every one of `capabilities` (as in
    `Capabilities.has`: "tape", "op:linear", "dtype:float64", ...)."""

    def mark(test: Callable[..., Any]) -> Callable[..., Any]:
        test.needs = capabilities  # type: ignore[attr-defined]
        return test

    return mark


def only(*engines: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An engine-specific case: run only on these engines' adapters."""

    def mark(test: Callable[..., Any]) -> Callable[..., Any]:
        test.engines = engines  # type: ignore[attr-defined]
        return test

    return mark


def _applies(case: Case, test: Callable[..., Any]) -> bool:
    engines = getattr(test, "engines", None)
    wanted = getattr(test, "needs", ())
    return (engines is None or case.engine in engines) and all(
        case.capabilities.has(c) for c in wanted
    )


def of_an_engine(test: Callable[..., Any]) -> Callable[..., Any]:
    """A class-level case about the engine: not run for the reference adapter (NumPy)."""
    test.engines = tuple(c.engine for c in ENGINE_CASES)  # type: ignore[attr-defined]
    return test


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`adapter` tests get a constructed adapter, `case` tests only its class (no engine)."""
    for name, construct in (("adapter", True), ("case", False)):
        if name in metafunc.fixturenames:
            cases = [c for c in CASES if _applies(c, metafunc.function)]
            metafunc.parametrize(
                name, cases, indirect=construct, ids=[c.label for c in cases], scope="module"
            )


@pytest.fixture(scope="module")
def adapter(request: pytest.FixtureRequest) -> Any:
    case: Case = request.param
    if importlib.util.find_spec(case.engine_module) is None:
        pytest.skip(
            f"{case.label}: {case.engine_module} is not installed "
            f"(pip install 'autograd-conformance[{case.extra}]')"
        )
    try:
        return case.construct()
    except DeviceUnavailable as exc:
        pytest.skip(f"{case.label}: {exc}")


@pytest.fixture(autouse=True)
def _the_instance_declares_what_the_test_needs(request: pytest.FixtureRequest) -> None:
    """Cases are chosen by the class's declaration; an adapter may narrow it when constructed
    (to the ops its installed engine has), and then the case does not apply."""
    if "adapter" not in request.fixturenames:
        return
    adapter = request.getfixturevalue("adapter")
    lacking = [c for c in getattr(request.function, "needs", ()) if not adapter.capabilities.has(c)]
    if lacking:
        pytest.skip(f"{adapter.name}:{adapter.device} does not declare {', '.join(lacking)}")


def float_dtypes(adapter: Any) -> list[str]:
    return [d for d in FLOAT_DTYPES if d in adapter.capabilities.dtypes]


def widest_float(adapter: Any) -> str:
    return float_dtypes(adapter)[-1]


# -- declaration: members, explanations, no engine at import ------------------------------------
def test_satisfies_the_protocol_for_what_it_declares(case: Case) -> None:
    caps = case.capabilities
    assert missing_members(case.cls) == []
    assert case.cls.name == case.engine and case.device in case.cls.devices
    if not caps.tape:
        # Nothing of the tape is faked where the engine has none (`dtype` is a plain query).
        assert [m for m in TAPE_METHODS if m != "dtype" and hasattr(case.cls, m)] == []
    assert caps.ops <= ALL_OPS and caps.dtypes <= {*FLOAT_DTYPES, *LOW_PRECISION_DTYPES}


def test_bfloat16_is_made_by_cast_and_read_back_as_float32(adapter: Any) -> None:
    """A declared bfloat16 is made by `cast` from float32 and reads back as float32, exactly;
    float16 travels as a float16 host array."""
    values = np.array([[1.0, -2.5], [0.25, 3.0]], np.float32)  # exact in bfloat16 and float16
    if "bfloat16" in adapter.capabilities.dtypes:
        low = adapter.cast(adapter.tensor(values), "bfloat16")
        assert adapter.dtype(low) == "bfloat16"
        back = adapter.to_numpy(low)
        assert back.dtype == np.float32
        np.testing.assert_array_equal(back, values)
        assert adapter.dtype(adapter.cast(low, "float32")) == "float32"
    if "float16" in adapter.capabilities.dtypes:
        half = adapter.tensor(values.astype(np.float16))
        assert adapter.to_numpy(adapter.apply("mul", [half, half], {})).dtype == np.float16


def test_every_absence_is_explained(case: Case) -> None:
    """Each capability the engine lacks carries the reason reports show; an engine without a
    tape explains the tape, which covers `enable_grad`, `grad_of`, `materialize_grads`, the
    grad modes, the hooks, `tensor_seed`, in-place ops and views."""
    caps = case.capabilities
    default = Capabilities()
    absent = [
        f.name
        for f in fields(Capabilities)
        if getattr(default, f.name) is True and getattr(caps, f.name) is False
    ]
    if not caps.tape:
        covered = ("enable_grad", "grad_of", "materialize_grads", "grad_modes", "inference_mode")
        covered += ("hooks", "post_accumulate_grad_hooks", "tensor_seed", "inplace_ops", "views")
        covered += ("create_graph", "backward_create_graph", "backward_inputs")
        absent = [c for c in absent if c not in covered]
    absent += [f"op:{op}" for op in sorted(ALL_OPS - caps.ops)]
    absent += [f"dtype:{d}" for d in FLOAT_DTYPES if d not in caps.dtypes]
    assert [c for c in absent if not caps.notes.get(c)] == []


@of_an_engine
def test_importing_the_adapter_does_not_import_the_engine(case: Case) -> None:
    module = case.cls.__module__
    code = f"import sys, {module}; print({case.engine_module!r} in sys.modules)"
    if module == "contract_micrograd_adapter":
        code = f"import sys; sys.path.insert(0, {str(EXAMPLE)!r}); " + code.replace(
            module, "micrograd_adapter"
        )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@of_an_engine
def test_a_missing_engine_says_how_to_install_it(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, case.engine_module, None)
    for name in [m for m in sys.modules if m.startswith(f"{case.engine_module}.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(EngineMissing) as caught:
        case.construct()
    # A shipped adapter names this package's extra; a third-party one its own command.
    shipped = case.cls.__module__.startswith("conformance.")
    expected = f"pip install 'autograd-conformance[{case.extra}]'" if shipped else "pip install "
    assert caught.value.install.startswith(expected), caught.value.install
    assert str(caught.value).endswith(caught.value.install)


# -- tensors and ops ---------------------------------------------------------------------------
def _dtypes_of(adapter: Any) -> list[str]:
    integer = ["int64", "bool"] if adapter.capabilities.integer_tensors else []
    return [*float_dtypes(adapter), *integer]


def test_tensors_survive_a_round_trip_in_every_declared_dtype(adapter: Any) -> None:
    for dtype in _dtypes_of(adapter):
        array = (np.arange(6).reshape(2, 3) % 3).astype(dtype)
        t = adapter.tensor(array)
        back = adapter.to_numpy(t)
        assert back.dtype == array.dtype and back.shape == array.shape, dtype
        np.testing.assert_array_equal(back, array)
        if hasattr(adapter, "dtype"):
            assert adapter.dtype(t) == dtype
        if dtype in FLOAT_DTYPES:
            # An op keeps the dtype: float32 is not computed in float64 behind the caller's back.
            assert adapter.to_numpy(adapter.apply("add", [t, t], {})).dtype == array.dtype


def _declared_ops(adapter: Any) -> list[str]:
    return sorted(adapter.capabilities.ops)


@settings(
    max_examples=4,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_every_declared_op_matches_the_numpy_semantics(adapter: Any, data: st.DataObject) -> None:
    """One application of each declared op, drawn inside the op's domain by the suites'
    strategy, against float64 NumPy (the adapter's widest float dtype, at that dtype's reference
    tolerance)."""
    dtype = widest_float(adapter)
    tol = lookup(dtype, "cpu", "reference")
    for op in _declared_ops(adapter):
        program = data.draw(
            programs(dtypes=(dtype,), ops=[op], focus=op, min_steps=1, max_steps=1), label=op
        )
        want = evaluate_numpy(program)
        for name, got in zip(program.outputs, program.forward(adapter), strict=True):
            where = f"{op}, output {name} of {program.to_json()}"
            if want[name].dtype == np.bool_:
                np.testing.assert_array_equal(got, want[name], err_msg=where)
                continue
            assert got.dtype == np.dtype(dtype), where
            comparison = compare(got, want[name], tol, record=False)
            assert comparison.ok, f"{where}: {comparison.describe()}"


def test_an_undeclared_op_is_refused_not_emulated(adapter: Any) -> None:
    undeclared = sorted(ALL_OPS - adapter.capabilities.ops)
    if not undeclared:
        pytest.skip(f"{adapter.name} declares every op of the op set")
    x = adapter.tensor(np.array([0.5, 1.5]))
    for op in undeclared:
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do; a value will not
            adapter.apply(op, [x, x], {})


@needs("op:expand")
def test_expand_keeps_dimensions_given_as_minus_one(adapter: Any) -> None:
    t = adapter.apply(
        "expand", [adapter.tensor(np.arange(3.0).reshape(3, 1))], {"shape": [2, -1, 4]}
    )
    np.testing.assert_array_equal(
        adapter.to_numpy(t), np.broadcast_to(np.arange(3.0)[:, None], (2, 3, 4))
    )


@needs("op:linear")
def test_linear_takes_the_weight_as_out_by_in(adapter: Any) -> None:
    x, w, b = np.ones((4, 3)), np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0])
    out = adapter.apply("linear", [adapter.tensor(a) for a in (x, w, b)], {"optional": ["bias"]})
    np.testing.assert_array_equal(adapter.to_numpy(out), x @ w.T + b)


@needs("op:bce_with_logits")
def test_bce_refuses_an_unknown_reduction(adapter: Any) -> None:
    z = adapter.tensor(np.zeros(2))
    with pytest.raises(ValueError, match="avg"):
        adapter.to_numpy(adapter.apply("bce_with_logits", [z, z], {"reduction": "avg"}))


# -- the functional VJP ------------------------------------------------------------------------
def test_vjp_over_several_outputs(adapter: Any) -> None:
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    values, grads = adapter.vjp(
        lambda t: [adapter.apply("mul", [t[0], t[1]], {}), adapter.apply("add", [t[0], t[0]], {})],
        [a, b],
        [np.array([1.0, 2.0]), np.array([0.5, 0.25])],
    )
    np.testing.assert_array_equal(values[0], a * b)
    np.testing.assert_array_equal(values[1], a + a)
    np.testing.assert_array_equal(_present(grads[0]), b * [1.0, 2.0] + 2 * np.array([0.5, 0.25]))
    np.testing.assert_array_equal(_present(grads[1]), a * [1.0, 2.0])


@needs("op:exp")
def test_vjp_chains_through_a_transcendental(adapter: Any) -> None:
    a = np.array([1.0, 2.0])
    _, grads = adapter.vjp(
        lambda t: [adapter.apply("exp", [t[0]], {})], [a], [np.array([0.5, 0.25])]
    )
    np.testing.assert_allclose(_present(grads[0]), np.exp(a) * [0.5, 0.25], rtol=1e-14)


def test_vjp_gives_no_gradient_to_an_input_no_output_uses(adapter: Any) -> None:
    _, grads = adapter.vjp(
        lambda t: [adapter.apply("neg", [t[0]], {})], [np.ones(2), np.ones(3)], [np.ones(2)]
    )
    np.testing.assert_array_equal(_present(grads[0]), -np.ones(2))
    # None, or zeros where the engine materialises them (JAX; see its case below).
    assert grads[1] is None or (grads[1].shape == (3,) and not np.any(grads[1]))


@needs("integer_tensors", "op:gt", "op:index")
def test_vjp_integer_inputs_and_bool_outputs_carry_no_gradient(adapter: Any) -> None:
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


# -- the functional JVP (forward mode) ---------------------------------------------------------
@needs("forward_mode")
def test_jvp_over_several_outputs(adapter: Any) -> None:
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    ta, tb = np.array([1.0, 0.5]), np.array([-2.0, 0.25])
    values, tangents = adapter.jvp(
        lambda t: [adapter.apply("mul", [t[0], t[1]], {}), adapter.apply("add", [t[0], t[0]], {})],
        [a, b],
        [ta, tb],
    )
    np.testing.assert_array_equal(values[0], a * b)
    np.testing.assert_array_equal(values[1], a + a)
    np.testing.assert_array_equal(_present(tangents[0]), ta * b + a * tb)
    np.testing.assert_array_equal(_present(tangents[1]), 2 * ta)


@needs("forward_mode", "op:exp", "op:sum")
def test_jvp_chains_through_a_transcendental_and_a_reduction(adapter: Any) -> None:
    a, ta = np.array([1.0, 2.0]), np.array([0.5, 0.25])
    _, tangents = adapter.jvp(
        lambda t: [adapter.apply("sum", [adapter.apply("exp", [t[0]], {})], {})], [a], [ta]
    )
    got = _present(tangents[0])
    assert got.shape == ()
    np.testing.assert_allclose(got, np.sum(np.exp(a) * ta), rtol=1e-14)


@needs("forward_mode", "integer_tensors", "op:gt", "op:index")
def test_jvp_integer_inputs_and_bool_outputs_carry_no_tangent(adapter: Any) -> None:
    values, tangents = adapter.jvp(
        lambda t: [
            adapter.apply("gt", [t[0], t[1]], {}),
            adapter.apply("index", [t[0]], {"indices": [1, 1]}),
        ],
        [np.array([1.0, 2.0]), np.array([1.5, 1.5]), np.array([4])],
        [np.array([1.0, 3.0]), np.zeros(2), np.array([7])],
    )
    np.testing.assert_array_equal(values[0], [False, True])
    assert tangents[0] is None
    np.testing.assert_array_equal(_present(tangents[1]), [3.0, 3.0])


def _linear_bce(dtype: str, weighted: bool, reduction: str, seed: int = 0) -> LinearBCE:
    rng = np.random.default_rng(seed)

    def draw(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
        return rng.uniform(low, high, size=shape).astype(dtype)

    batch, n_in, n_out = 5, 3, 2  # non-square, batch > 1: a transposed dW cannot hide
    return LinearBCE(
        x=draw(batch, n_in),
        W=draw(n_out, n_in),
        b=draw(n_out),
        y=draw(batch, n_out, low=0.0, high=1.0),  # soft targets
        weight=draw(n_out, low=0.5, high=2.0) if weighted else None,
        pos_weight=draw(n_out, low=0.5, high=3.0) if weighted else None,
        reduction=reduction,
        form="linear",
    )


CLOSED_FORM_TOLERANCE = {  # (rtol, atol)
    # The closed form in float64 NumPy against the engine in float64: a handful of roundings.
    "float64": (1e-12, 1e-15),
    # float32 (eps 1.2e-7) through about ten ops on values of order one.
    "float32": (1e-5, 1e-6),
}
LINEAR_BCE_VARIANTS = [(False, "mean"), (True, "mean"), (True, "sum"), (False, "none")]


def _assert_closed_form(
    case: LinearBCE, grads: dict[str, Any], cotangent: np.ndarray | float = 1.0
) -> None:
    _, want = case.closed_form(cotangent)
    rtol, atol = CLOSED_FORM_TOLERANCE[case.W.dtype.name]
    for name in ("W", "b"):
        got = _present(grads[name])
        assert got.shape == want[name].shape and got.dtype == case.W.dtype, name
        np.testing.assert_allclose(got, want[name], rtol=rtol, atol=atol, err_msg=f"dL/d{name}")


@needs("op:linear", "op:bce_with_logits")
@pytest.mark.parametrize(("weighted", "reduction"), LINEAR_BCE_VARIANTS)
def test_linear_bce_vjp_matches_the_closed_form(
    adapter: Any, weighted: bool, reduction: str
) -> None:
    for dtype in float_dtypes(adapter):
        case = _linear_bce(dtype, weighted, reduction)
        program = case.program()
        cotangent = np.ones(case.y.shape if reduction == "none" else (), dtype=dtype)
        _, grads = program_vjp(adapter, program, [cotangent])
        _assert_closed_form(case, grads)


# -- the tape ----------------------------------------------------------------------------------
@needs("tape")
def test_tape_adapter_is_a_tape_adapter(adapter: Any) -> None:
    assert isinstance(adapter, TapeAdapter) and isinstance(adapter, Adapter)
    assert isinstance(adapter, GraphAdapter) == adapter.capabilities.graph


@needs("tape")
def test_requires_grad_makes_a_leaf_that_requires_grad(adapter: Any) -> None:
    on = adapter.tensor(np.ones(2), requires_grad=True)
    off = adapter.tensor(np.ones(2))
    assert adapter.requires_grad(on) and not adapter.requires_grad(off)
    assert adapter.is_leaf(on)  # (whether a leaf has a grad_fn is for the suites to judge)
    y = adapter.apply("mul", [on, on], {})
    assert not adapter.is_leaf(y) and adapter.grad_fn(y) is not None


@needs("tape")
def test_backward_writes_grad_in_the_leafs_dtype(adapter: Any) -> None:
    for dtype in float_dtypes(adapter):
        w = adapter.tensor(np.array([1.0, -2.0, 3.0], dtype=dtype), requires_grad=True)
        adapter.backward(adapter.apply("sum", [adapter.apply("mul", [w, w], {})], {}))
        np.testing.assert_array_equal(adapter.grad(w), [2.0, -4.0, 6.0])
        assert adapter.grad_dtype(w) == dtype


@needs("tape", "op:exp")
def test_backward_with_a_seed_gradient(adapter: Any) -> None:
    w = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    adapter.backward(adapter.apply("exp", [w], {}), np.array([1.0, 0.5]))
    np.testing.assert_allclose(
        _present(adapter.grad(w)), np.exp([1.0, 2.0]) * [1.0, 0.5], rtol=1e-15
    )


@needs("tape")
def test_clear_grad_gives_none_and_zero_grad_zeroes(adapter: Any) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    adapter.backward(adapter.apply("sum", [w], {}))
    adapter.zero_grad(w)
    np.testing.assert_array_equal(adapter.grad(w), [0.0, 0.0])
    adapter.clear_grad(w)
    assert adapter.grad(w) is None


@needs("tape")
def test_detach_gives_a_leaf_with_the_same_values(adapter: Any) -> None:
    w = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    d = adapter.detach(adapter.apply("mul", [w, w], {}))
    assert adapter.is_leaf(d) and not adapter.requires_grad(d)
    np.testing.assert_array_equal(adapter.to_numpy(d), [1.0, 4.0])


@needs("tape", "no_grad")
def test_no_grad_records_nothing_until_it_ends(adapter: Any) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    with adapter.no_grad():
        y = adapter.apply("mul", [w, w], {})
    assert adapter.grad_fn(y) is None and adapter.is_leaf(y)
    assert adapter.grad_fn(adapter.apply("mul", [w, w], {})) is not None


@needs("tape", "no_grad", "enable_grad")
def test_enable_grad_records_inside_no_grad(adapter: Any) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    with adapter.no_grad(), adapter.enable_grad():
        assert adapter.requires_grad(adapter.apply("mul", [w, w], {}))


@needs("tape", "requires_grad_toggle")
def test_set_requires_grad_switches_a_leaf(adapter: Any) -> None:
    t = adapter.tensor(np.ones(2))
    adapter.set_requires_grad(t, True)
    assert adapter.requires_grad(t)
    adapter.set_requires_grad(t, False)
    assert not adapter.requires_grad(t)


@needs("tape", "retain_grad")
def test_retain_grad_gives_a_non_leaf_its_gradient(adapter: Any) -> None:
    w = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = adapter.apply("mul", [w, w], {})
    adapter.retain_grad(y)
    adapter.backward(adapter.apply("sum", [y], {}))
    np.testing.assert_array_equal(adapter.grad(y), [1.0, 1.0])


@needs("tape", "grad_of")
def test_grad_of_returns_gradients_and_leaves_grad_alone(adapter: Any) -> None:
    w = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = adapter.grad_of([adapter.apply("sum", [adapter.apply("mul", [w, w], {})], {})], [w])
    np.testing.assert_array_equal(g, [2.0, 4.0])
    assert adapter.grad(w) is None


@needs("tape", "inplace_ops")
def test_inplace_writes_a_non_leaf_and_records_it(adapter: Any) -> None:
    w = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = adapter.apply("mul", [w, w], {})
    adapter.inplace("mul", y, adapter.tensor(np.array([3.0, 3.0])))
    adapter.inplace("add", y, adapter.tensor(np.array([1.0, 1.0])))
    np.testing.assert_array_equal(adapter.to_numpy(y), [4.0, 13.0])
    adapter.backward(adapter.apply("sum", [y], {}))
    np.testing.assert_array_equal(adapter.grad(w), [6.0, 12.0])


@needs("tape", "views")
def test_narrow_is_a_view_of_its_tensor(adapter: Any) -> None:
    b = adapter.tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    v = adapter.narrow(b, 1, 1, 2)
    np.testing.assert_array_equal(adapter.to_numpy(v), [[2.0, 3.0], [5.0, 6.0]])
    adapter.inplace("add", v, adapter.tensor(np.ones((2, 2))))
    np.testing.assert_array_equal(adapter.to_numpy(b), [[1.0, 3.0, 4.0], [4.0, 6.0, 7.0]])


REFUSALS: dict[str, Callable[[Any, Any], Any]] = {
    "retain_graph": lambda a, w: a.backward(a.apply("sum", [w], {}), retain_graph=True),
    "retain_grad": lambda a, w: a.retain_grad(a.apply("mul", [w, w], {})),
    "enable_grad": lambda a, w: a.enable_grad().__enter__(),
    "grad_of": lambda a, w: a.grad_of([a.apply("sum", [w], {})], [w]),
    "requires_grad_toggle": lambda a, w: a.set_requires_grad(a.tensor(np.ones(2)), True),
}


@needs("tape")
def test_what_a_tape_engine_lacks_is_refused_not_ignored(adapter: Any) -> None:
    lacking = [c for c in REFUSALS if not adapter.capabilities.has(c)]
    if not lacking:
        pytest.skip(f"{adapter.name} declares every tape capability")
    for capability in lacking:
        w = adapter.tensor(np.ones(2), requires_grad=True)
        with pytest.raises(Exception):  # noqa: B017 - the engine's own error, untranslated
            REFUSALS[capability](adapter, w)


@needs("tape", "op:linear", "op:bce_with_logits")
def test_linear_bce_backward_matches_the_closed_form(adapter: Any) -> None:
    case = _linear_bce("float64", weighted=False, reduction="mean")
    program = case.program()
    tensors = program.make_inputs(adapter)
    (loss,) = program.output_tensors(adapter, tensors)
    adapter.backward(loss)
    by_name = {i.name: t for i, t in zip(program.inputs, tensors, strict=True)}
    _assert_closed_form(case, {n: adapter.grad(by_name[n]) for n in ("W", "b")})
    assert adapter.grad(by_name["x"]) is None and adapter.grad(by_name["y"]) is None


@needs("graph")
def test_the_graph_walk_reaches_each_leafs_accumulator(adapter: Any) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    c = adapter.tensor(np.ones(2))
    node = adapter.grad_fn(adapter.apply("mul", [w, c], {}))
    accumulate, constant = adapter.next_nodes(node)
    assert constant is None  # c does not require grad
    assert adapter.accumulated_tensor(accumulate) is w
    assert adapter.accumulated_tensor(node) is None
    assert isinstance(adapter.node_name(node), str) and adapter.node_name(node)


# -- higher order ---------------------------------------------------------------------------------
def _cube_sum(adapter: Any, w: Any) -> Any:
    cube = adapter.apply("mul", [adapter.apply("mul", [w, w], {}), w], {})
    return adapter.apply("sum", [cube], {})


@needs("tape", "create_graph", "op:mul", "op:sum")
def test_grad_graph_gives_engine_tensors_that_differentiate_again(adapter: Any) -> None:
    x = np.array([1.0, 2.0])
    w = adapter.tensor(x, requires_grad=True)
    (plain,) = adapter.grad_graph([_cube_sum(adapter, w)], [w], [np.array(1.0)], create_graph=False)
    assert not adapter.requires_grad(plain)
    (g,) = adapter.grad_graph([_cube_sum(adapter, w)], [w], [np.array(1.0)])
    np.testing.assert_allclose(adapter.to_numpy(g), 3 * x**2, rtol=1e-14)
    assert adapter.requires_grad(g) and adapter.grad_fn(g) is not None
    (second,) = adapter.grad_of([adapter.apply("sum", [g], {})], [w])
    np.testing.assert_allclose(_present(second), 6 * x, rtol=1e-14)
    assert adapter.grad(w) is None


@needs("tape", "backward_create_graph", "op:mul", "op:sum")
def test_backward_graph_leaves_a_grad_tensor_a_later_backward_adds_to(adapter: Any) -> None:
    x = np.array([1.0, 2.0])
    w = adapter.tensor(x, requires_grad=True)
    adapter.backward_graph(_cube_sum(adapter, w))
    g = adapter.grad_tensor(w)
    assert g is not None and adapter.requires_grad(g)
    adapter.backward(adapter.apply("sum", [g], {}))
    np.testing.assert_allclose(_present(adapter.grad(w)), 3 * x**2 + 6 * x, rtol=1e-14)
    adapter.clear_grad(w)


@needs("tape", "backward_inputs", "op:mul", "op:sum")
def test_backward_inputs_fills_only_the_listed_leaves(adapter: Any) -> None:
    a = adapter.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = adapter.tensor(np.array([3.0, 5.0]), requires_grad=True)
    adapter.backward(adapter.apply("sum", [adapter.apply("mul", [a, b], {})], {}), inputs=[a])
    np.testing.assert_array_equal(_present(adapter.grad(a)), [3.0, 5.0])
    assert adapter.grad(b) is None


@needs("hvp", "op:mul", "op:sum")
def test_hvp_includes_the_mixed_terms(adapter: Any) -> None:
    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.0])

    def f(t: Any) -> Any:
        square = adapter.apply("mul", [t[0], t[0]], {})
        return adapter.apply("sum", [adapter.apply("mul", [square, t[1]], {})], {})

    products = adapter.hvp(f, [x, y], [np.array([1.0, 1.0]), np.zeros(2)])
    # f = sum(x^2 y): H (v, 0) = (2 y v, 2 x v)
    np.testing.assert_allclose(_present(products[0]), 2 * y, rtol=1e-14)
    np.testing.assert_allclose(_present(products[1]), 2 * x, rtol=1e-14)


def _present(array: np.ndarray | None) -> np.ndarray:
    assert array is not None, "no gradient"
    return array


# -- per-engine facts ------------------------------------------------------------------------------
@only("jax")
def test_jax_float64_is_enabled_and_tensors_are_on_the_cpu(adapter: Any) -> None:
    import jax

    assert jax.config.jax_enable_x64
    t = adapter.tensor(np.ones(2))
    assert isinstance(t, jax.Array) and {d.platform for d in t.devices()} == {"cpu"}
    assert adapter.environment()["platform"] == "cpu"


@only("jax")
def test_jax_ignores_requires_grad_because_it_has_no_such_flag(adapter: Any) -> None:
    plain, flagged = adapter.tensor(np.ones(2)), adapter.tensor(np.ones(2), requires_grad=True)
    assert type(plain) is type(flagged) and not hasattr(flagged, "requires_grad")


@only("jax")
def test_jax_materialises_zeros_for_an_unused_input(adapter: Any) -> None:
    _, grads = adapter.vjp(
        lambda t: [adapter.apply("neg", [t[0]], {})], [np.ones(2), np.ones(3)], [np.ones(2)]
    )
    np.testing.assert_array_equal(grads[1], np.zeros(3))


@only("jax")
def test_jax_cuda_is_a_gpu_or_unavailable_never_a_cpu_fallback(adapter: Any) -> None:
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        t = type(adapter)("cuda").tensor(np.ones(1))
        assert {d.platform for d in t.devices()} == {"gpu"}
        return
    with pytest.raises(DeviceUnavailable, match="jax:cuda"):
        type(adapter)("cuda")
    with pytest.raises(BackendError, match="jax:cuda"):
        load_backend("jax:cuda")


@only("mygrad")
def test_mygrad_requires_grad_is_the_inverse_of_constant(adapter: Any) -> None:
    import mygrad

    on, off = adapter.tensor(np.ones(2), requires_grad=True), adapter.tensor(np.ones(2))
    assert isinstance(on, mygrad.Tensor) and on.constant is False and off.constant is True
    y = adapter.apply("mul", [on, on], {})
    assert isinstance(adapter.grad_fn(y), mygrad.operation_base.Operation)
    assert adapter.grad_fn(y) is y.creator


@only("mygrad")
def test_mygrad_errors_pass_through_untranslated(adapter: Any) -> None:
    with pytest.raises(ValueError, match="Integer-valued tensors must be treated as constants"):
        adapter.tensor(np.arange(3), requires_grad=True)
    with pytest.raises(AttributeError):  # mygrad's `constant` is read-only
        adapter.set_requires_grad(adapter.tensor(np.ones(2)), True)
    w = adapter.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="retain_graph"):
        adapter.backward(adapter.apply("sum", [w], {}), retain_graph=True)
    with pytest.raises(TypeError, match="inputs"):
        adapter.backward(adapter.apply("sum", [w], {}), inputs=[w])
    with pytest.raises(NotImplementedError):
        adapter.grad_of([adapter.apply("sum", [w], {})], [w])
    with pytest.raises(DeviceUnavailable):
        type(adapter)("cuda")


@only("paddle")
def test_paddle_requires_grad_is_the_inverse_of_stop_gradient(adapter: Any) -> None:
    on, off = adapter.tensor(np.ones(2), requires_grad=True), adapter.tensor(np.ones(2))
    assert on.stop_gradient is False and off.stop_gradient is True
    assert adapter.set_requires_grad(off, True) is off and off.stop_gradient is False


@only("paddle")
def test_paddle_graph_nodes_are_paddles_own(adapter: Any) -> None:
    w = adapter.tensor(np.ones(2), requires_grad=True)
    node = adapter.grad_fn(adapter.apply("mul", [w, adapter.tensor(np.ones(2))], {}))
    assert adapter.node_name(node) == "MultiplyGradNode"
    assert adapter.node_name(adapter.next_nodes(node)[0]) == "GradNodeAccumulation"


@only("paddle")
def test_paddle_retain_graph_and_its_error_are_paddles(adapter: Any) -> None:
    w = adapter.tensor(np.array([1.0, -2.0], np.float32), requires_grad=True)
    loss = adapter.apply("sum", [adapter.apply("mul", [w, w], {})], {})
    adapter.backward(loss, retain_graph=True)
    adapter.backward(loss)
    np.testing.assert_array_equal(adapter.grad(w), [4.0, -8.0])
    with pytest.raises(Exception, match="retain_graph"):  # Paddle's own error, untranslated
        adapter.backward(loss)


@only("paddle")
def test_paddle_cuda_is_a_gpu_or_unavailable_never_a_cpu_fallback(adapter: Any) -> None:
    import paddle

    if paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        assert "gpu" in str(type(adapter)("cuda").tensor(np.ones(1)).place).lower()
        return
    with pytest.raises(DeviceUnavailable, match="paddle:cuda"):
        type(adapter)("cuda")


@only("paddle")
def test_paddle_import_leaves_the_home_directory_alone(adapter: Any, tmp_path: Path) -> None:
    code = (
        "import os; from conformance.backends.paddle import import_paddle; import_paddle(); "
        "print(os.path.exists(os.path.join(os.environ['HOME'], '.cache', 'paddle')))"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


@only("tinygrad")
def test_tinygrad_is_the_pinned_version_with_its_cache_outside_home(adapter: Any) -> None:
    from conformance.backends.tinygrad import VERSION

    # The extra admits patch releases of the minor version the adapter was written against.
    assert adapter.version().split(".")[:2] == VERSION.split(".")[:2]
    cachedb = Path(adapter.tg.helpers.CACHEDB).resolve()
    assert Path.home().resolve() not in cachedb.parents


@only("tinygrad")
def test_tinygrad_cpu_is_available_exactly_when_clang_is(adapter: Any) -> None:
    if shutil.which(os.environ.get("CC", "clang")) is not None:
        assert type(adapter)("cpu").environment()["tinygrad_device"] == "CPU"
    else:
        with pytest.raises(DeviceUnavailable, match="clang"):
            type(adapter)("cpu")
    with pytest.raises(DeviceUnavailable, match="unknown device"):
        type(adapter)("metal")


@only("tinygrad")
def test_tinygrad_vjp_leaves_grad_untouched(adapter: Any) -> None:
    seen: list[Any] = []

    def fn(tensors: Sequence[Any]) -> list[Any]:
        seen.extend(tensors)
        return [adapter.apply("sum", [adapter.apply("mul", [tensors[0], tensors[0]], {})], {})]

    adapter.vjp(fn, [np.array([1.0, 2.0])], [np.array(1.0)])
    assert seen and all(t.grad is None for t in seen)
    assert all(t.device == adapter._device for t in seen)
