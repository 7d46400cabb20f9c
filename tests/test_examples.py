"""The worked third-party adapter (examples/micrograd_adapter): found by entry point and by import
path, declaring what micrograd lacks, and giving micrograd's gradients faithfully."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_conformance_suites.strategies import for_backend, programs
from conformance.backends.registry import ENTRY_POINT_GROUP, BackendError, load_backend
from conformance.protocol import Adapter, TapeAdapter, missing_members
from conformance.spec.program import Apply, Input, Program
from conformance.spec.tolerances import lookup

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytest.importorskip("micrograd")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "micrograd_adapter"
SPEC = "micrograd_adapter:MicrogradAdapter"
NOT_IN_MICROGRAD = ("exp", "log", "sigmoid", "tanh", "abs", "gt", "linear", "bce_with_logits")


@pytest.fixture(scope="module")
def micrograd() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLE))
        yield load_backend(SPEC)


@pytest.fixture(scope="module")
def reference() -> Any:
    return load_backend("reference")


# -- discovery ----------------------------------------------------------------------------------
def declared_entry_points() -> dict[str, str]:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    return dict(project["entry-points"][ENTRY_POINT_GROUP])


def test_pyproject_declares_the_entry_point() -> None:
    assert declared_entry_points() == {"micrograd": SPEC}


def test_loads_by_entry_point_when_installed(tmp_path: Path) -> None:
    """An install is simulated by what pip leaves behind: the module and a .dist-info directory
    with the entry points from the example's pyproject.toml, on sys.path."""
    site = tmp_path / "site"
    dist = site / "micrograd_conformance_adapter-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: micrograd-conformance-adapter\nVersion: 0.1.0\n"
    )
    lines = [f"{name} = {target}" for name, target in declared_entry_points().items()]
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n" + "\n".join(lines) + "\n")
    shutil.copy(EXAMPLE / "micrograd_adapter.py", site)
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from conformance.backends.registry import BackendError, known_backends, load_backend
        adapter = load_backend("micrograd")
        on_cpu = load_backend("micrograd:cpu")
        try:
            load_backend("nosuchengine")
        except BackendError as exc:
            unknown = str(exc)
        _, grads = adapter.vjp(lambda ts: [ts[0] * ts[0]], [np.array([3.0, -1.0])], [np.ones(2)])
        print(json.dumps({
            "known": known_backends().get("micrograd"),
            "file": sys.modules[type(adapter).__module__].__file__,
            "labels": [f"{a.name}:{a.device}" for a in (adapter, on_cpu)],
            "unknown": unknown,
            "grad": grads[0].tolist(),
        }))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["known"] == SPEC
    assert Path(seen["file"]) == site / "micrograd_adapter.py"
    assert seen["labels"] == ["micrograd:cpu", "micrograd:cpu"]
    assert "micrograd" in seen["unknown"]  # the unknown-backend message lists the plugin
    assert seen["grad"] == [6.0, -2.0]


@pytest.mark.parametrize("spec", [SPEC, f"{SPEC}:cpu"])
def test_loads_by_import_path(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    adapter = load_backend(spec)
    assert (adapter.name, adapter.device) == ("micrograd", "cpu")
    assert missing_members(type(adapter)) == []
    assert isinstance(adapter, Adapter) and not isinstance(adapter, TapeAdapter)
    assert adapter.version() == "0.1.0"


def test_import_path_with_an_unknown_device_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    with pytest.raises(BackendError, match=r"has no device 'cuda'; its devices: cpu$"):
        load_backend(f"{SPEC}:cuda")


def test_missing_micrograd_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party adapter names its own install command, not an extra of this package."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setitem(sys.modules, "micrograd", None)
    monkeypatch.setitem(sys.modules, "micrograd.engine", None)
    with pytest.raises(BackendError, match=r"needs its engine: pip install micrograd$"):
        load_backend(SPEC)


# -- honest declaration -------------------------------------------------------------------------
def test_declares_the_functional_level_and_float64_only(micrograd: Any) -> None:
    caps = micrograd.capabilities
    absent = ("tape", "graph", "retain_graph", "retain_grad", "no_grad", "requires_grad_toggle")
    assert not any(caps.has(c) for c in absent)
    assert all(caps.notes.get(c) for c in absent)  # each absence says why
    assert caps.dtypes == frozenset({"float64"}) and not caps.has("integer_tensors")
    assert not caps.has("dtype:float32") and caps.notes.get("dtype:float32")


@pytest.mark.parametrize("op", NOT_IN_MICROGRAD)
def test_ops_micrograd_lacks_are_declared_absent_and_not_emulated(micrograd: Any, op: str) -> None:
    assert not micrograd.capabilities.has(f"op:{op}")
    x = micrograd.tensor(np.array([0.5, 1.5]))
    with pytest.raises(NotImplementedError, match="not in capabilities.ops"):
        micrograd.apply(op, [x, x], {})


def test_refuses_float32_rather_than_computing_in_float64(micrograd: Any) -> None:
    with pytest.raises(TypeError, match="float32"):
        micrograd.tensor(np.ones(2, dtype=np.float32))


# -- gradients ----------------------------------------------------------------------------------
def without_pow_zero(program: Program) -> bool:
    """micrograd differentiates x**0 as 0 * x**-1, which raises at x == 0 (see below)."""
    return not any(s.op == "pow" and s.params["exponent"] == 0 for s in program.steps)


@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_gradients_match_the_reference(
    micrograd: Any, reference: Any, data: st.DataObject, seed: int
) -> None:
    program = data.draw(for_backend(micrograd, programs).filter(without_pow_zero))
    assert program.ops <= micrograd.capabilities.ops
    rng = np.random.default_rng(seed)
    cots = [rng.uniform(-1, 1, size=out.shape) for out in program.forward(reference)]
    outs, grads = program.vjp(micrograd, cots)
    want_outs, want_grads = program.vjp(reference, cots)
    tol = lookup("float64", "cpu", "reference")
    for got, want in [*zip(outs, want_outs, strict=True), *zip(grads, want_grads, strict=True)]:
        assert (got is None) == (want is None)
        if want is not None:
            assert got.dtype == np.float64 and got.shape == want.shape
            np.testing.assert_allclose(
                got, want, rtol=tol.rtol, atol=tol.atol * max(1.0, float(np.max(np.abs(want))))
            )


def test_repeated_use_accumulates_and_unused_inputs_get_none(micrograd: Any) -> None:
    program = Program(
        (Input("x", np.array([2.0, -3.0]), True), Input("unused", np.array(1.0), True)),
        (
            Apply("sq", "mul", ("x", "x")),
            Apply("both", "add", ("sq", "x")),
            Apply("picked", "index", ("both",), {"indices": [0, 0, 1]}),
        ),
        ("picked",),
    )
    outs, grads = program.vjp(micrograd, [np.array([1.0, 10.0, 100.0])])
    assert outs[0].tolist() == [6.0, 6.0, 6.0]
    # d/dx (x*x + x) = 2x + 1, gathered twice for x[0]: (1 + 10) * 5 and 100 * -5.
    assert grads[0] is not None and grads[0].tolist() == [55.0, -500.0]
    assert grads[1] is None


def test_a_second_vjp_does_not_see_the_first_ones_grads(micrograd: Any) -> None:
    def fn(ts: Any) -> list[Any]:
        return [micrograd.apply("mul", [ts[0], ts[0]], {})]

    first = micrograd.vjp(fn, [np.array([1.0, 2.0])], [np.ones(2)])
    second = micrograd.vjp(fn, [np.array([1.0, 2.0])], [np.ones(2)])
    assert first[1][0].tolist() == second[1][0].tolist() == [2.0, 4.0]


def test_micrograd_errors_pass_through_untranslated(micrograd: Any, reference: Any) -> None:
    """PyTorch's d/dx x**0 is 0 everywhere; micrograd computes 0 * 0**-1 and raises. The adapter
    reports what the engine does: the suites, not the adapter, judge the difference."""
    program = Program(
        (Input("x", np.array([0.0, 2.0]), True),),
        (Apply("y", "pow", ("x",), {"exponent": 0}),),
        ("y",),
    )
    grad = program.vjp(reference, [np.ones(2)])[1][0]
    assert grad is not None and grad.tolist() == [0.0, 0.0]
    with pytest.raises(ZeroDivisionError):
        program.vjp(micrograd, [np.ones(2)])


# -- the minimal example in docs/adapters.md ----------------------------------------------------
def docs_example(tmp_path: Path) -> Path:
    """The page's "complete minimal example", saved as the file it tells the reader to save."""
    page = (EXAMPLE.parents[1] / "docs" / "adapters.md").read_text()
    section = page.split("## A complete minimal example", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "tiny_micrograd.py"
    path.write_text(code)
    return path


def test_docs_minimal_example_loads_and_differentiates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Any
) -> None:
    docs_example(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tiny_micrograd", raising=False)
    adapter = load_backend("tiny_micrograd:TinyMicrograd")
    program = Program(
        (Input("x", np.array([[1.0, -2.0], [3.0, 0.5]]), True), Input("y", np.array([2.0, 3.0]))),
        (
            Apply("p", "mul", ("x", "y")),
            Apply("q", "add", ("p", "x")),
            Apply("s", "sum", ("q",), {"dim": [1], "keepdim": False}),
        ),
        ("s", "q"),
    )
    cots = [np.array([1.0, -1.0]), np.array([[0.5, 1.0], [2.0, -3.0]])]
    got, want = program.vjp(adapter, cots), program.vjp(reference, cots)
    for a, b in zip([*got[0], *got[1]], [*want[0], *want[1]], strict=True):
        np.testing.assert_array_equal(a, b)


def test_docs_run_command_runs_the_suites_on_the_minimal_example(tmp_path: Path) -> None:
    docs_example(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "autograd_conformance_suites", "-q"]
        + ["-p", "no:cacheprovider"]
        + ["--conformance-backend", "tiny_micrograd:TinyMicrograd"]
        + ["--conformance-profile", "dev", "-rs"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "not applicable: LEAF-001 needs tape" in done.stdout


def test_docs_minimal_example_gives_none_for_an_unused_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs_example(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tiny_micrograd", raising=False)
    adapter = load_backend("tiny_micrograd:TinyMicrograd")
    outs, grads = adapter.vjp(
        lambda ts: [adapter.apply("mul", [ts[0], ts[0]], {})],
        [np.array([3.0]), np.array([1.0])],
        [np.array([2.0])],
    )
    assert outs[0].tolist() == [9.0] and grads[0] is not None and grads[0].tolist() == [12.0]
    assert grads[1] is None
