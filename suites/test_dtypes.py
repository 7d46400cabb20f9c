"""Floating-point dtypes: op results keep a low-precision dtype, gradients have their input's
dtype and its precision, mixed-dtype ops promote their result but not their gradients, and .grad
of a low-precision or mixed-dtype leaf has the leaf's dtype.

Values are drawn in float64 and rounded to the dtype under test; the float64 reference then
runs on the rounded values, so what is measured is the backend's own rounding, judged by the
dtype's entry of the tolerance table. bfloat16, which NumPy lacks, travels as float32 holding
bfloat16 values and is made and read with the adapter's `cast`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line, vjp_repro
from conformance.judge.numerics import compare
from conformance.plugin import NOT_APPLICABLE
from conformance.spec.ops import OP_ORDER, OPS
from conformance.spec.program import Program
from conformance.spec.render import literal
from conformance.spec.tolerances import FD_STEP

from .requirement import requirement
from .strategies import arrays, for_backend, programs
from .support import draw_cotangent, reference_gradients, reference_scale, shape_of, tolerance

LOW_PRECISION = ("float16", "bfloat16")
HOST = ("float16", "float32", "float64")
"""Dtypes NumPy has: they travel as host arrays of their own dtype."""
DIFFERENTIABLE_OPS = tuple(op for op in OP_ORDER if OPS[op].differentiable)
MIXED_OPS = ("add", "sub", "mul", "div")
PRECISION = {"float16": 0, "bfloat16": 0, "float32": 1, "float64": 2}
"""Rank of each dtype's precision (bfloat16 has fewer significand bits than float16 but a wider
range; neither holds the other, which is why PyTorch promotes their mix to float32)."""
FINITE_LIMIT = {"float16": 65504.0 / 64, "bfloat16": 3.0e38 / 64, "float32": 3.0e38 / 64}
"""Largest magnitude a computation may reach in the dtype: 64x below its largest finite value,
so no intermediate overflows to inf where float64 does not."""
PER_CASE = 4
"""Examples per (op, dtype) case under `ci` (a quarter of the profile's budget under others)."""


def _budget() -> int:
    return max(PER_CASE, settings.default.max_examples // 8)


def require_dtype(backend: Any, dtype: str) -> None:
    if dtype not in backend.capabilities.dtypes:
        note = backend.capabilities.notes.get(f"dtype:{dtype}", "the engine does not declare it")
        pytest.skip(f"{NOT_APPLICABLE} dtype {dtype} ({note})")


def require_op(backend: Any, op: str) -> None:
    if op not in backend.capabilities.ops:
        pytest.skip(f"{NOT_APPLICABLE} the engine does not declare op {op!r}")


def round_to(values: np.ndarray, dtype: str) -> np.ndarray:
    """The values rounded to `dtype` (to nearest, ties to even), as float64."""
    if dtype != "bfloat16":
        return np.asarray(values).astype(dtype).astype(np.float64)
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def host_dtype(dtype: str) -> str:
    return "float32" if dtype == "bfloat16" else dtype


def rounded_program(program: Program, dtype: str) -> Program:
    """The program's float inputs rounded to `dtype`, in float64."""
    return program.with_values(
        [round_to(i.value, dtype) if i.value.dtype.kind == "f" else i.value for i in program.inputs]
    )


def in_dtype(program: Program, dtype: str) -> Program:
    """The (rounded) program with float inputs stored in `dtype`'s host dtype."""
    return program.with_values(
        [
            i.value.astype(host_dtype(dtype)) if i.value.dtype.kind == "f" else i.value
            for i in program.inputs
        ]
    )


def made(backend: Any, tensors: Sequence[Any], dtype: str) -> list[Any]:
    """The tensors in `dtype`: bfloat16 ones cast from their float32 carriers."""
    if dtype != "bfloat16":
        return list(tensors)
    return [backend.cast(t, dtype) if _is_float(backend, t) else t for t in tensors]


def _is_float(backend: Any, tensor: Any) -> bool:
    return backend.dtype(tensor).startswith(("float", "bfloat"))


def one_op_program(data: st.DataObject, backend: Any, op: str) -> Program:
    """One application of `op` to float64 inputs (every input requires grad, BCE's weights
    aside), drawn where the backend can run it."""
    return data.draw(
        for_backend(
            backend, programs, dtypes=("float64",), focus=op, min_steps=1, max_steps=1,
            requires_grad=True, max_rank=2,
        ),
        label="program",
    )  # fmt: skip


def at_kink(program: Program) -> bool:
    values = {i.name: i.value for i in program.inputs}
    return any(
        np.any(values[step.args[0]] == kink.at)
        for step in program.steps
        for kink in OPS[step.op].kinks
        if step.args[0] in values
    )


def dtype_of_result(backend: Any, tensor: Any) -> str:
    dtype = getattr(backend, "dtype", None)
    return dtype(tensor) if dtype is not None else backend.to_numpy(tensor).dtype.name


# -- DTYPE-002 ------------------------------------------------------------------------------------
@requirement("DTYPE-002")
@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("op", OP_ORDER)
@settings(max_examples=_budget())
@given(data=st.data())
def test_ops_keep_low_precision_dtype(
    backend: Any, op: str, dtype: str, data: st.DataObject
) -> None:
    require_dtype(backend, dtype)
    require_op(backend, op)
    program = in_dtype(rounded_program(one_op_program(data, backend, op), dtype), dtype)
    tensors = made(backend, [backend.tensor(i.value) for i in program.inputs], dtype)
    with engine_must_not_raise(f"{op} in {dtype}", Repro(backend), program):
        env = program.evaluate(backend, tensors)
    step = program.steps[0]
    got = dtype_of_result(backend, env[step.name])
    want = "bool" if op == "gt" else dtype
    if got != want:
        repro = Repro(backend).line("", evaluate_line())
        repro.line(
            f"assert {step.name}.dtype == torch.{want}, f'{step.name} is {{{step.name}.dtype}}'",
            f"assert adapter.dtype(env[{step.name!r}]) == {want!r}",
        )
        raise repro.fail(f"{op} of {dtype} operands returned {got}; expected {want}", program)


# -- DTYPE-003 ------------------------------------------------------------------------------------
@requirement("DTYPE-003")
@pytest.mark.parametrize("dtype", ("float16", "bfloat16", "float32"))
@pytest.mark.parametrize("op", DIFFERENTIABLE_OPS)
@settings(max_examples=_budget())
@given(data=st.data())
def test_gradients_have_dtype_and_precision(
    backend: Any, reference: Any, op: str, dtype: str, data: st.DataObject
) -> None:
    require_dtype(backend, dtype)
    require_op(backend, op)
    wide = rounded_program(one_op_program(data, backend, op), dtype)
    # Which one-sided derivative an engine takes exactly at a kink of relu or abs is judged by
    # the gradient requirements (the op table's kinks); here only dtype and precision are.
    assume(not at_kink(wide))
    root = wide.steps[0].name
    single = Program(wide.inputs, wide.steps, (root,))
    cotangent = round_to(draw_cotangent(data, shape_of(single, root)), dtype)
    scale = reference_scale(reference, single, [cotangent])
    assume(scale < FINITE_LIMIT[dtype])
    expected = reference_gradients(reference, single, [cotangent])
    program = in_dtype(single, dtype)
    tol = tolerance(backend, dtype, "reference")
    repro = vjp_repro(backend, program, [cotangent], expected, tol, f"{op} in {dtype}", scale)
    # As Program.vjp: inputs that do not require grad (BCE's weights) enter as constants. A
    # bfloat16 computation runs between casts from and back to float32, so its gradients come
    # back as float32 holding bfloat16 values; DTYPE-005 reads the bfloat16 .grad's dtype.
    wrt = [n for n, i in enumerate(program.inputs) if i.differentiable]

    def fn(tensors: Sequence[Any]) -> list[Any]:
        given = dict(zip(wrt, tensors, strict=True))
        full = [given.get(n) for n in range(len(program.inputs))]
        full = [
            t if t is not None else backend.tensor(i.value)
            for t, i in zip(full, program.inputs, strict=True)
        ]
        out = program.evaluate(backend, made(backend, full, dtype))[root]
        return [backend.cast(out, "float32") if dtype == "bfloat16" else out]

    primals = [program.inputs[n].value for n in wrt]
    seed = cotangent.astype(host_dtype(dtype))
    with engine_must_not_raise(f"the VJP of {op} in {dtype}", repro, program):
        _, grads = backend.vjp(fn, primals, [seed])
    for n, got in zip(wrt, grads, strict=True):
        name = program.inputs[n].name
        want = expected.get(name)
        if want is None:
            continue
        if got is None:
            raise repro.fail(f"no gradient for {name} ({op} in {dtype})", program)
        if np.asarray(got).dtype.name != host_dtype(dtype):
            raise repro.fail(
                f"the gradient of {name} has dtype {np.asarray(got).dtype.name}; expected the "
                f"operand's {dtype} ({op})",
                program,
            )
        comparison = compare(got, want, tol, scale=scale)
        if not comparison.ok:
            raise repro.fail(
                f"the {dtype} gradient of {name} ({op}) against float64 at the same values: "
                f"{comparison.describe()}",
                program,
            )


# -- DTYPE-004 ------------------------------------------------------------------------------------
def result_type(a: np.ndarray, b: np.ndarray) -> str:
    """torch.result_type for two float tensors: a dimensioned operand beats a 0-d one; between
    two of the same kind the wider wins."""
    if (a.ndim == 0) != (b.ndim == 0):
        return (b if a.ndim == 0 else a).dtype.name
    return np.promote_types(a.dtype, b.dtype).name


@st.composite
def mixed_operands(draw: Any, dtypes: Sequence[str], op: str) -> tuple[np.ndarray, np.ndarray]:
    first, second = draw(st.permutations(sorted(dtypes)).map(lambda d: d[:2]))
    shape = draw(st.sampled_from([(3,), (2, 3)]))
    other = draw(st.sampled_from([shape, shape[-1:], (), (1, *shape[-1:])]))
    if draw(st.booleans()):
        shape, other = other, shape
    values = st.floats(-3.0, 3.0, width=32)
    a = draw(arrays(values, shape, "float64"))
    if op == "div":
        values = st.one_of(st.floats(0.25, 3.0, width=32), st.floats(-3.0, -0.25, width=32))
    b = draw(arrays(values, other, "float64"))
    return round_to(a, first).astype(first), round_to(b, second).astype(second)


@requirement("DTYPE-004")
@pytest.mark.parametrize("op", MIXED_OPS)
@settings(max_examples=_budget() * 2)
@given(data=st.data())
def test_mixed_dtypes_promote_results_not_gradients(
    backend: Any, reference: Any, op: str, data: st.DataObject
) -> None:
    require_op(backend, op)
    dtypes = [d for d in HOST if d in backend.capabilities.dtypes]
    a, b = data.draw(mixed_operands(dtypes, op), label="operands")
    promoted = result_type(a, b)
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    cotangent = round_to(draw_cotangent(data, out_shape), "float16")
    repro = Repro(backend).line(
        f"a = torch.tensor({literal(a)}, dtype=torch.{a.dtype.name}, requires_grad=True)",
    )
    repro.line(f"b = torch.tensor({literal(b)}, dtype=torch.{b.dtype.name}, requires_grad=True)")
    repro.line(f"y = torch.{op}(a, b)")
    repro.line(f"assert y.dtype == torch.{promoted}, y.dtype")
    repro.line(
        f"ga, gb = torch.autograd.grad(y, [a, b], "
        f"torch.tensor({literal(cotangent)}, dtype=y.dtype))"
    )
    repro.line(f"assert (ga.dtype, gb.dtype) == (torch.{a.dtype.name}, torch.{b.dtype.name})")

    def fn(tensors: Sequence[Any]) -> list[Any]:
        return [backend.apply(op, tensors, {})]

    with engine_must_not_raise(f"{op} of {a.dtype.name} and {b.dtype.name}", repro, None):
        (out,), grads = backend.vjp(fn, [a, b], [cotangent.astype(promoted)])
    if np.asarray(out).dtype.name != promoted:
        raise repro.fail(
            f"{op} of {a.dtype.name} {a.shape} and {b.dtype.name} {b.shape} gave "
            f"{np.asarray(out).dtype.name}; expected {promoted}",
            None,
        )
    wide = [a.astype(np.float64), b.astype(np.float64)]
    _, want = reference.vjp(lambda t: [reference.apply(op, t, {})], wide, [cotangent])
    scale = max([1.0] + [float(np.max(np.abs(v), initial=0.0)) for v in (*wide, *want, cotangent)])
    for name, operand, got, expected in zip("ab", (a, b), grads, want, strict=True):
        if got is None or np.asarray(got).dtype != operand.dtype:
            got_dtype = None if got is None else np.asarray(got).dtype.name
            raise repro.fail(
                f"the gradient of {name} ({operand.dtype.name}) has dtype {got_dtype}; expected "
                f"{operand.dtype.name} ({op} computed in {promoted})",
                None,
            )
        lowest = min((operand.dtype.name, promoted), key=lambda d: PRECISION[d])
        tol = tolerance(backend, lowest, "reference")
        comparison = compare(got, expected, tol, scale=scale)
        if not comparison.ok:
            raise repro.fail(
                f"the gradient of {name} ({op} of {a.dtype.name} and {b.dtype.name}) against "
                f"float64: {comparison.describe()}",
                None,
            )


# -- DTYPE-005 ------------------------------------------------------------------------------------
@requirement("DTYPE-005")
@pytest.mark.parametrize("dtype", (*LOW_PRECISION, "mixed"))
@settings(max_examples=_budget())
@given(data=st.data())
def test_grad_has_the_leaf_dtype(backend: Any, dtype: str, data: st.DataObject) -> None:
    if dtype == "mixed":
        dtypes = [d for d in HOST if d in backend.capabilities.dtypes]
        if len(dtypes) < 2:
            pytest.skip(f"{NOT_APPLICABLE} mixing needs two float dtypes; the engine has {dtypes}")
        a, b = data.draw(mixed_operands(dtypes, "mul"), label="operands")
        leaves = [backend.tensor(a, requires_grad=True), backend.tensor(b, requires_grad=True)]
        root = backend.apply("mul", leaves, {})
        seed = np.ones(np.broadcast_shapes(a.shape, b.shape), dtype=result_type(a, b))
        described = f"mul of a {a.dtype.name} {a.shape} and b {b.dtype.name} {b.shape}"
        names = ["a", "b"]
        program = None
    else:
        require_dtype(backend, dtype)
        if dtype == "bfloat16" and not backend.capabilities.requires_grad_toggle:
            pytest.skip(f"{NOT_APPLICABLE} a bfloat16 leaf is made by requires_grad_(True)")
        op = data.draw(
            st.sampled_from([o for o in DIFFERENTIABLE_OPS if o in backend.capabilities.ops]),
            label="op",
        )
        program = in_dtype(rounded_program(one_op_program(data, backend, op), dtype), dtype)
        if dtype == "bfloat16":
            leaves = [
                backend.set_requires_grad(backend.cast(backend.tensor(i.value), dtype), True)
                if i.differentiable
                else backend.cast(backend.tensor(i.value), dtype)
                for i in program.inputs
            ]
        else:
            leaves = program.make_inputs(backend)
        env = program.evaluate(backend, leaves)
        root = env[program.steps[0].name]
        if dtype == "bfloat16":
            root = backend.cast(root, "float32")
        seed = np.ones(np.shape(backend.to_numpy(root)), dtype=host_dtype(dtype))
        described = f"{op} of {dtype} leaves"
        names = [i.name for i in program.inputs]
    repro = Repro(backend).line(f"# {described}; backward with a seed of ones")
    with engine_must_not_raise(f"backward of {described}", repro, program):
        backend.backward(root, seed)
    for name, leaf in zip(names, leaves, strict=True):
        got = backend.grad_dtype(leaf)
        if got is not None and got != backend.dtype(leaf):
            repro.line(f"assert {name}.grad.dtype == {name}.dtype")
            raise repro.fail(
                f"{name}.grad has dtype {got}; expected the leaf's {backend.dtype(leaf)} "
                f"({described})",
                program,
            )
    if all(backend.grad_dtype(leaf) is None for leaf in leaves):
        raise repro.fail(f"backward of {described} left no .grad at all", program)


# -- DTYPE-006 ------------------------------------------------------------------------------------
COMPLEX_OPS = ("mul", "add", "sub", "div", "exp", "sin", "tanh")


@st.composite
def complex_arrays(draw: Any, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    """complex128 values whose real and imaginary parts have magnitudes in [low, high]."""
    magnitude = st.floats(low, high, width=32)
    parts = st.tuples(magnitude, st.booleans()).map(lambda mb: -mb[0] if mb[1] else mb[0])
    real = draw(arrays(parts, shape, "float64"))
    imag = draw(arrays(parts, shape, "float64"))
    return np.asarray(real + 1j * imag, dtype=np.complex128)


def complex_loss(backend: Any, op: str, z: Any, constant: Any) -> Any:
    """sum(|op(z, c)|^2): a real scalar of a complex tensor."""
    w = backend.apply(op, [z, constant] if op in MIXED_OPS else [z], {})
    squared = backend.apply("pow", [backend.apply("abs", [w], {})], {"exponent": 2.0})
    return backend.apply("sum", [squared], {})


@requirement("DTYPE-006")
@settings(max_examples=_budget() * 2)
@given(data=st.data())
def test_complex_gradients_follow_pytorch_convention(backend: Any, data: st.DataObject) -> None:
    op = data.draw(st.sampled_from(COMPLEX_OPS), label="op")
    shape = data.draw(st.sampled_from([(), (3,), (2, 2)]), label="shape")
    z = data.draw(complex_arrays(shape, 0.0, 1.0), label="z")  # tanh's poles are at |y| = pi/2
    c = data.draw(complex_arrays(shape, 0.25, 1.5), label="c")  # a divisor away from 0
    leaf = backend.tensor(z, requires_grad=True)
    repro = Repro(backend).line(f"z = torch.tensor({literal(z)}, requires_grad=True)")
    repro.line(f"c = torch.tensor({literal(c)})")
    w_src = f"torch.{op}(z, c)" if op in MIXED_OPS else f"torch.{op}(z)"
    repro.line(f"{w_src}.abs().pow(2).sum().backward()")
    with engine_must_not_raise(f"backward of sum(|{op}(z)|^2) for complex z", repro, None):
        backend.backward(complex_loss(backend, op, leaf, backend.tensor(c)))
    got, got_dtype = backend.grad(leaf), backend.grad_dtype(leaf)
    if got is None or got_dtype != backend.dtype(leaf):
        raise repro.fail(f"z.grad is {got_dtype}; expected z's {backend.dtype(leaf)}", None)

    # dL/dx and dL/dy by central differences of the backend's own forward, element by element.
    def loss_at(values: np.ndarray) -> float:
        tensor = backend.tensor(values)
        return float(backend.to_numpy(complex_loss(backend, op, tensor, backend.tensor(c))))

    expected = np.zeros(shape, np.complex128)
    magnitude = abs(loss_at(z))
    for index in np.ndindex(shape):
        h = FD_STEP * max(1.0, abs(z[index]))
        for unit in (1.0, 1j):
            plus, minus = z.copy(), z.copy()
            plus[index] += h * unit
            minus[index] -= h * unit
            high, low = loss_at(plus), loss_at(minus)
            expected[index] += unit * (high - low) / (2 * h)
            magnitude = max(magnitude, abs(high), abs(low))
    tol = tolerance(backend, "float64", "finite_difference")
    for part, take in (("real", np.real), ("imaginary", np.imag)):
        comparison = compare(take(got), take(expected), tol, scale=magnitude)
        if not comparison.ok:
            repro.line(f"# expected z.grad = dL/dx + i dL/dy = {literal(expected)}")
            raise repro.fail(
                f"the {part} part of z.grad ({op}) against dL/dx + i dL/dy by central "
                f"differences: {comparison.describe()}",
                None,
            )
