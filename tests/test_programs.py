"""Programs: executed by the reference engine and PyTorch alike, serialised losslessly, and
rendered as standalone scripts that reproduce their values.

Drawn by the suites' own strategies (suites.strategies), so what is checked here is what the
suites run.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograd_conformance_suites.strategies import linear_bce_programs, programs
from conformance.backends.registry import load_backend
from conformance.judge.numerics import compare
from conformance.spec.program import Apply, Input, Program
from conformance.spec.render import render_program
from conformance.spec.tolerances import Tolerance, lookup

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "micrograd_adapter"
ENGINES = {"torch": "", "reference": str(ROOT)}
"""PYTHONPATH a reproducer needs for its engine: the reference engine is this checkout's."""

FLOAT64_SAME_ENGINE_API = Tolerance(
    1e-12,
    1e-12,
    "PyTorch and the reference engine both compute in float64; they differ only in summation "
    "order and libm (a few ulps per op, ~1e-15 over the strategies' shallow programs), so 1e-12 "
    "relative to the element or to the array's largest magnitude leaves ~1000x margin",
)


@pytest.fixture(scope="module")
def reference() -> Any:
    return load_backend("reference")


@pytest.fixture(scope="module")
def torch_cpu() -> Any:
    return load_backend("torch:cpu")


def cotangents(program: Program, adapter: Any, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, size=out.shape) for out in program.forward(adapter)]


def run_vjp(adapter: Any, program: Program, cots: Sequence[np.ndarray]) -> Any:
    """`Program.vjp`'s result, or the exception the engine raised (type and message)."""
    try:
        return program.vjp(adapter, cots)
    except Exception as exc:  # noqa: BLE001 - the engines' refusals are compared, not hidden
        return (type(exc).__name__, str(exc))


def has_bce_weight(program: Program) -> bool:
    """PyTorch refuses a gradient for BCE's weight and pos_weight, which `Program.vjp` asks
    for (it differentiates every float input)."""
    return any(
        step.op == "bce_with_logits" and step.params.get("optional") for step in program.steps
    )


def assert_close(actual: np.ndarray | None, expected: np.ndarray | None, tol: Tolerance) -> None:
    assert (actual is None) == (expected is None), f"got {actual!r}, expected {expected!r}"
    if actual is None or expected is None:
        return
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    if expected.dtype.kind == "b":
        assert actual.dtype.kind == "b" and np.array_equal(actual, expected)
        return
    result = compare(actual, expected, tol, record=False)
    assert result.ok, result.describe()


def assert_agree(
    program: Program, got: Any, expected: Any, tol: Tolerance, dtype: str | None = None
) -> None:
    if isinstance(expected, tuple) and isinstance(expected[0], str):
        assert got == expected, f"reference raised {expected}, the backend gave {got}"
        assert has_bce_weight(program), f"unexpected refusal {expected} for {program.to_json()}"
        return
    assert not (isinstance(got, tuple) and isinstance(got[0], str)), f"raised {got}"
    (outs, grads), (want_outs, want_grads) = got, expected
    assert len(outs) == len(want_outs) and len(grads) == len(want_grads)
    for out, want in [*zip(outs, want_outs, strict=True), *zip(grads, want_grads, strict=True)]:
        if dtype is not None and out is not None and out.dtype.kind == "f":
            assert out.dtype.name == dtype, f"{out.dtype} where the program is {dtype}"
        assert_close(out, want, tol)


# -- the same program on the reference engine and on PyTorch ------------------------------------
@given(program=programs(dtypes=("float64",)), seed=st.integers(0, 2**32 - 1))
def test_float64_programs_agree_between_reference_and_torch(
    reference: Any, torch_cpu: Any, program: Program, seed: int
) -> None:
    cots = cotangents(program, reference, seed)
    expected = run_vjp(reference, program, cots)
    assert_agree(program, run_vjp(torch_cpu, program, cots), expected, FLOAT64_SAME_ENGINE_API)


@given(program=linear_bce_programs(), seed=st.integers(0, 2**32 - 1))
def test_linear_bce_programs_agree_between_reference_and_torch(
    reference: Any, torch_cpu: Any, program: Program, seed: int
) -> None:
    cots = cotangents(program, reference, seed)
    expected = run_vjp(reference, program, cots)
    assert_agree(program, run_vjp(torch_cpu, program, cots), expected, FLOAT64_SAME_ENGINE_API)


@given(program=programs(dtypes=("float32",)), seed=st.integers(0, 2**32 - 1))
def test_float32_programs_stay_float32_and_near_the_float64_reference(
    reference: Any, torch_cpu: Any, program: Program, seed: int
) -> None:
    """Each engine's float32 result against the reference in float64 on the same inputs."""
    upcast = program.with_values(
        [
            i.value.astype(np.float64) if i.value.dtype.kind == "f" else i.value
            for i in program.inputs
        ]
    )
    cots = cotangents(upcast, reference, seed)
    expected = run_vjp(reference, upcast, cots)
    tol = lookup("float32", "cpu", "reference")
    for adapter in (reference, torch_cpu):
        assert_agree(program, run_vjp(adapter, program, cots), expected, tol, dtype="float32")


# -- JSON ---------------------------------------------------------------------------------------
def assert_same_bits(got: np.ndarray | None, want: np.ndarray | None) -> None:
    assert got is not None and want is not None
    assert (got.dtype, got.shape) == (want.dtype, want.shape)
    differ = f"{got.dtype} {got.ravel().tolist()} != {want.ravel().tolist()}"  # full precision
    if want.dtype.kind == "f":
        # Equal values with equal sign bits are equal bits; NaN's payload is not kept.
        assert np.array_equal(got, want, equal_nan=True), differ
        finite = ~np.isnan(want)
        assert np.array_equal(np.signbit(got[finite]), np.signbit(want[finite])), differ
    else:
        assert np.array_equal(got, want), differ


def assert_round_trip(program: Program) -> None:
    text = program.to_json()
    back = Program.from_json(text)
    assert back == program and back.to_json() == text
    for got, want in zip(back.inputs, program.inputs, strict=True):
        assert (got.name, got.requires_grad) == (want.name, want.requires_grad)
        assert_same_bits(got.value, want.value)
    assert back.steps == tuple(
        Apply(s.name, s.op, s.args, json.loads(json.dumps(dict(s.params)))) for s in program.steps
    )
    assert back.outputs == program.outputs


@given(program=st.one_of(programs(dtypes=("float32", "float64")), linear_bce_programs()))
def test_drawn_programs_survive_json(program: Program) -> None:
    assert_round_trip(program)


ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@given(
    arrays=st.lists(
        st.one_of(
            hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, min_side=0), elements=ANY_FLOAT),
            hnp.arrays(
                np.float32,
                hnp.array_shapes(min_dims=0, min_side=0),
                elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
            ),
            hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, min_side=0)),
            hnp.arrays(np.bool_, hnp.array_shapes(min_dims=0, min_side=0)),
        ),
        min_size=1,
        max_size=4,
    ),
    flags=st.lists(st.booleans(), min_size=4, max_size=4),
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_values_survive_json(arrays: list[np.ndarray], flags: list[bool]) -> None:
    """float32 and float64 bit for bit (-0.0, subnormals, nan, +-inf), ints, bools, 0-d and
    empty arrays."""
    inputs = tuple(
        Input(f"x{n}", a, f) for n, (a, f) in enumerate(zip(arrays, flags, strict=False))
    )
    assert_round_trip(Program(inputs, (), tuple(i.name for i in inputs)))


def test_specials_survive_json() -> None:
    specials = [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, 1.0000000000000002, 0.1]
    assert_round_trip(
        Program(
            (
                Input("a", np.array(specials, dtype=np.float64), True),
                Input("b", np.array(specials, dtype=np.float32)),
                Input("c", np.array(-0.0)),
                Input("d", np.zeros((2, 0), dtype=np.float32)),
            ),
            (),
            ("a", "b", "c", "d"),
        )
    )


def test_tuple_params_come_back_as_lists_and_mean_the_same(torch_cpu: Any) -> None:
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    program = Program(
        (Input("x", x, True),),
        (
            Apply("s", "sum", ("x",), {"dim": (0, 2), "keepdim": True}),
            Apply("r", "reshape", ("s",), {"shape": (-1,)}),
            Apply("e", "expand", ("r",), {"shape": (2, 3)}),
            Apply("i", "index", ("e",), {"indices": (1, 1, -2)}),
        ),
        ("i",),
    )
    back = Program.from_json(program.to_json())
    assert back.steps[0].params == {"dim": [0, 2], "keepdim": True}
    assert_round_trip(program)
    got, want = back.vjp(torch_cpu, [np.ones((3, 3))]), program.vjp(torch_cpu, [np.ones((3, 3))])
    for a, b in zip([*got[0], *got[1]], [*want[0], *want[1]], strict=True):
        assert_same_bits(a, b)


# -- rendered reproducers -----------------------------------------------------------------------
SUFFIX_TORCH_API = """
import json as _json
_leaves = [_t for _t in [{inputs}] if _t.requires_grad]
_roots = [(_o, _c) for _o, _c in zip(outputs, {cotangents}) if _o.requires_grad]
_grads = torch.autograd.grad(
    [_o for _o, _ in _roots], _leaves,
    grad_outputs=[torch.tensor(_c, dtype=_o.dtype) for _o, _c in _roots], allow_unused=True,
) if _roots and _leaves else [None] * len(_leaves)
_host = lambda _t: None if _t is None else _t.detach().numpy()
_encode = lambda _a: None if _a is None else [str(_a.dtype), list(_a.shape), _a.ravel().tolist()]
print(_json.dumps([[_encode(_host(_o)) for _o in outputs], [_encode(_host(_g)) for _g in _grads]]))
"""

SUFFIX_ADAPTER = """
import json as _json
_encode = lambda _a: [str(_a.dtype), list(_a.shape), _a.ravel().tolist()]
print(_json.dumps([[_encode(adapter.to_numpy(_o)) for _o in outputs], []]))
"""

RUNNER = """
import runpy, sys
for path in sys.argv[1:]:
    runpy.run_path(path, run_name="__main__")
"""


def run_scripts(
    sources: list[str], tmp_path: Path, *, block: str | None, pythonpath: str = ""
) -> list[Any]:
    """Runs each source as a script in one fresh interpreter; the JSON each one printed.

    `block` makes a package unimportable there, to prove a reproducer does not need it.
    """
    paths = []
    for n, source in enumerate(sources):
        path = tmp_path / f"repro_{n}.py"
        path.write_text(source)
        paths.append(str(path))
    prelude = f"import sys; sys.modules[{block!r}] = None\n" if block else ""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    done = subprocess.run(
        [sys.executable, "-c", prelude + RUNNER, *paths],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[[")]
    assert len(printed) == len(sources)
    return printed


def decode(encoded: Any) -> np.ndarray | None:
    if encoded is None:
        return None
    dtype, shape, data = encoded
    return np.array(data, dtype=dtype).reshape(shape)


def expected_tape_run(adapter: Any, program: Program, cots: Sequence[np.ndarray]) -> Any:
    """The same run in this process, through the adapter's tape level."""
    leaves = program.make_inputs(adapter)
    outputs = program.output_tensors(adapter, leaves)
    roots = [(o, c) for o, c in zip(outputs, cots, strict=True) if adapter.requires_grad(o)]
    wanted = [t for t in leaves if adapter.requires_grad(t)]
    grads: list[np.ndarray | None] = [None] * len(wanted)
    if roots and wanted:
        grads = adapter.grad_of(
            [o for o, _ in roots],
            wanted,
            [np.asarray(c, dtype=adapter.dtype(o)) for o, c in roots],
            allow_unused=True,
        )
    return [adapter.to_numpy(o) for o in outputs], grads


def assert_reproduced(printed: Any, expected: Any) -> None:
    """Same engine, same program: the same bits."""
    (outs, grads), (want_outs, want_grads) = printed, expected
    for got, want in [*zip(outs, want_outs, strict=True), *zip(grads, want_grads, strict=True)]:
        assert (got is None) == (want is None)
        if want is not None:
            assert_same_bits(decode(got), want)


REPRO_PROGRAMS = st.lists(
    st.one_of(programs(dtypes=("float32", "float64")), linear_bce_programs()),
    min_size=6,
    max_size=6,
)


@pytest.mark.parametrize("dialect", ["torch", "reference"])
@given(batch=REPRO_PROGRAMS, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=3)
def test_native_reproducers_run_standalone_and_reproduce(
    dialect: str, batch: list[Program], seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    adapter = load_backend(dialect)
    sources, expected = [], []
    for program in batch:
        cots = cotangents(program, adapter, seed)
        suffix = SUFFIX_TORCH_API.format(
            inputs=", ".join(i.name for i in program.inputs),
            cotangents=repr([c.tolist() for c in cots]),
        )
        source = render_program(program, dialect)
        # Standalone: the engine alone (the reference engine is its own package), no harness.
        assert not re.search(r"^\s*(from|import) conformance\b", source, re.MULTILINE), source
        assert "load_backend" not in source
        sources.append(source + "\n" + suffix)
        expected.append(expected_tape_run(adapter, program, cots))
    printed = run_scripts(
        sources, tmp_path_factory.mktemp(dialect), block="conformance", pythonpath=ENGINES[dialect]
    )
    for printed_one, want in zip(printed, expected, strict=True):
        assert_reproduced(printed_one, want)


def test_reproducer_of_non_finite_and_empty_values(reference: Any, tmp_path: Path) -> None:
    program = Program(
        (
            Input("x", np.array([1.0, math.nan, -math.inf, -0.0]), True),
            Input("y", np.array(math.inf, dtype=np.float32)),
            Input("z", np.zeros((0, 2)), True),
        ),
        (
            Apply("a", "mul", ("x", "x")),
            Apply("b", "neg", ("y",)),
            Apply("c", "sum", ("z",), {"dim": 0, "keepdim": False}),
        ),
        ("a", "b", "c"),
    )
    for dialect in ("torch", "reference"):
        adapter = load_backend(dialect)
        cots = [np.ones(4), np.array(1.0), np.ones(2)]
        source = (
            render_program(program, dialect)
            + "\n"
            + SUFFIX_TORCH_API.format(inputs="x, y, z", cotangents=repr([c.tolist() for c in cots]))
        )
        (printed,) = run_scripts(
            [source], tmp_path, block="conformance", pythonpath=ENGINES[dialect]
        )
        assert_reproduced(printed, expected_tape_run(adapter, program, cots))


MICROGRAD_PROGRAMS = st.lists(
    programs(
        dtypes=("float64",),
        ops=("add", "sub", "mul", "div", "neg", "pow", "relu", "sum", "mean", "matmul")
        + ("transpose", "reshape", "expand", "index"),
    ),
    min_size=6,
    max_size=6,
)


@given(batch=MICROGRAD_PROGRAMS)
@settings(max_examples=2)
def test_adapter_reproducers_replay_through_the_adapter(
    batch: list[Program], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A backend without a native dialect: the script loads the adapter by its specifier."""
    spec = "micrograd_adapter:MicrogradAdapter"
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLE))
        adapter = load_backend(spec)
        expected: list[Any] = [(program.forward(adapter), []) for program in batch]
    sources = [render_program(program, spec) + "\n" + SUFFIX_ADAPTER for program in batch]
    tmp = tmp_path_factory.mktemp("adapter")
    printed = run_scripts(sources, tmp, block=None, pythonpath=f"{EXAMPLE}:{ROOT}")
    for got, want in zip(printed, expected, strict=True):
        assert_reproduced(got, want)
