"""Numerical ground truth: float64 NumPy semantics of the op set, central finite differences of a
backend's own forward, the directional ("fast mode") check, comparisons that record evidence,
and the closed-form gradients of the linear + BCE-with-logits example.

Nothing here imports an engine: the finite differences call the backend under test through the
adapter protocol (`Program.forward`), so a backend is judged against its own forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.judge import evidence
from conformance.spec import ops
from conformance.spec.ops import OPS, sigmoid
from conformance.spec.ops import logsigmoid as _logsigmoid
from conformance.spec.program import Apply, Input, Program
from conformance.spec.tolerances import FD_STEP, Tolerance


# -- float64 semantics of the op set: the op table's forward (used to keep drawn programs inside
# every op's domain, and as the engine-independent oracle with the table's VJPs) ---------------
def numpy_apply(op: str, args: Sequence[np.ndarray], p: Mapping[str, Any]) -> np.ndarray:
    """Op-set semantics in NumPy (PyTorch's meaning; float64 in, float64 or bool out)."""
    if op not in OPS:
        raise ValueError(f"numpy_apply: unknown op {op!r}")
    return ops.forward(op, args, p)


# -- comparisons --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    ok: bool
    max_abs: float
    max_rel: float
    worst: tuple[int, ...] | None
    """Index of the element furthest outside (or closest to) its tolerance."""
    actual_at_worst: float | None
    expected_at_worst: float | None
    tolerance: Tolerance
    scale: float
    shape_error: str | None = None

    def describe(self) -> str:
        """One line: where, got vs expected, errors, tolerance."""
        if self.shape_error:
            return self.shape_error
        where = "" if not self.worst else f" at {list(self.worst)}"
        return (
            f"got {self.actual_at_worst!r} expected {self.expected_at_worst!r}{where}; "
            f"max abs error {self.max_abs:.3g}, max rel error {self.max_rel:.3g} "
            f"(rtol {self.tolerance.rtol:g}, atol {self.tolerance.atol:g} x scale {self.scale:.3g})"
        )


def compare(
    actual: np.ndarray | None,
    expected: np.ndarray,
    tolerance: Tolerance,
    *,
    scale: float | None = None,
    record: bool = True,
) -> Comparison:
    """Elementwise |actual - expected| <= atol*scale + rtol*|expected| (see tolerances), with
    scale = max(1, max |expected|, `scale`): pass as `scale` the largest magnitude the
    computation went through, since rounding errors scale with it, not with the result.

    A missing or wrongly shaped `actual` fails with a shape message; NaN matches NaN and an
    infinity matches the same infinity. With `record`, the errors go into the report.
    """
    expected = np.asarray(expected, dtype=np.float64)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(np.max(finite, initial=0.0)), scale or 0.0)
    if actual is None or np.shape(actual) != expected.shape:
        got = "None" if actual is None else f"shape {tuple(np.shape(actual))}"
        return Comparison(
            False,
            math.inf,
            math.inf,
            None,
            None,
            None,
            tolerance,
            scale,
            shape_error=f"got {got}, expected shape {tuple(expected.shape)}",
        )
    actual = np.asarray(actual, dtype=np.float64)
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    with np.errstate(all="ignore"):
        diff = np.where(same, 0.0, np.abs(actual - expected))
        diff = np.where(np.isnan(diff), np.inf, diff)
        # Relative to the expected value, but never to less than the absolute floor: an element
        # expected to cancel to ~0 would otherwise report a relative error of 1e300.
        floor = max(tolerance.atol * scale, np.finfo(np.float64).tiny)
        rel = np.where(same, 0.0, diff / np.maximum(np.abs(expected), floor))
        budget = tolerance.atol * scale + tolerance.rtol * np.abs(expected)
        excess = np.where(same, -np.inf, diff - budget)
    ok = bool(np.all(excess <= 0))
    max_abs = float(np.max(diff, initial=0.0))
    max_rel = float(np.max(rel, initial=0.0))
    worst = (
        tuple(int(i) for i in np.unravel_index(np.argmax(excess), excess.shape))
        if (excess.size)
        else None
    )
    if record:
        evidence.measure(max_abs, max_rel, tolerance.rtol, tolerance.atol)
    pick = (lambda arr: float(arr[worst])) if worst is not None else (lambda arr: None)
    return Comparison(ok, max_abs, max_rel, worst, pick(actual), pick(expected), tolerance, scale)


# -- finite differences -------------------------------------------------------------------------
Scalar = Callable[[Sequence[np.ndarray]], float]


def fsum_dot(
    outputs: Sequence[np.ndarray], cotangents: Sequence[np.ndarray]
) -> tuple[float, float]:
    """sum_k <out_k, c_k> (float outputs only) and sum_k <|out_k|, |c_k|>, both with fsum."""
    total, magnitude = [], []
    for out, cot in zip(outputs, cotangents, strict=True):
        if out.dtype.kind != "f":
            continue
        terms = np.asarray(out, np.float64) * np.broadcast_to(cot, out.shape)
        total.extend(terms.ravel().tolist())
        magnitude.extend(np.abs(terms).ravel().tolist())
    return math.fsum(total), math.fsum(magnitude)


def scalarised(
    adapter: Any, program: Program, cotangents: Sequence[np.ndarray]
) -> Callable[[Sequence[np.ndarray]], tuple[float, float]]:
    """f(input values) = sum_k <output_k, cotangent_k> through the adapter's own forward,
    with the magnitude sum_k <|output_k|, |cotangent_k|> (for scaling the tolerance)."""

    def f(values: Sequence[np.ndarray]) -> tuple[float, float]:
        return fsum_dot(program.forward(adapter, values), cotangents)

    return f


def central_differences(
    f: Callable[[Sequence[np.ndarray]], tuple[float, float]],
    values: Sequence[np.ndarray],
    wrt: Sequence[int],
    step: float = FD_STEP,
) -> tuple[list[np.ndarray], float]:
    """Gradients of f w.r.t. the inputs in `wrt`, element by element, and the largest magnitude
    of f seen (the scale of the rounding error). Values must be float64."""
    base = [np.array(v, dtype=np.float64, copy=True) for v in values]
    grads, magnitude = [], 0.0
    for k in wrt:
        grad = np.zeros_like(base[k])
        for index in np.ndindex(base[k].shape):
            h = step * max(1.0, abs(float(base[k][index])))
            original = base[k][index]
            base[k][index] = original + h
            plus, mag_plus = f(base)
            base[k][index] = original - h
            minus, mag_minus = f(base)
            base[k][index] = original
            # (x+h) - (x-h) is not exactly 2h in floating point; divide by what was taken.
            taken = (original + h) - (original - h)
            grad[index] = (plus - minus) / taken
            magnitude = max(magnitude, mag_plus, mag_minus)
        grads.append(grad)
    return grads, magnitude


DIRECTION_SEED = 67280421310721
"""Fixed, as in PyTorch's gradcheck fast mode, so a directional check is deterministic."""


def unit_direction(shapes: Sequence[tuple[int, ...]], rng: np.random.Generator) -> list[np.ndarray]:
    """A random unit vector over several arrays, every entry in [0.5, 1.5] before normalising:
    no element is weighted near zero, so an error in any single element moves v^T J u."""
    parts = [rng.uniform(0.5, 1.5, size=shape) for shape in shapes]
    norm = math.sqrt(sum(float(np.sum(p * p)) for p in parts)) or 1.0
    return [p / norm for p in parts]


@dataclass(frozen=True)
class Directional:
    numerical: float
    analytical: float
    magnitude: float


def directional_derivative(
    f: Callable[[Sequence[np.ndarray]], tuple[float, float]],
    values: Sequence[np.ndarray],
    wrt: Sequence[int],
    grads: Sequence[np.ndarray],
    direction: Sequence[np.ndarray],
    step: float = FD_STEP,
) -> Directional:
    """(f(x + h u) - f(x - h u)) / 2h against <grad, u>: one pair of forwards, any input size."""
    base = [np.asarray(v, dtype=np.float64) for v in values]
    largest = max([1.0] + [float(np.max(np.abs(base[k]), initial=0.0)) for k in wrt])
    h = step * largest
    plus, minus = list(base), list(base)
    for k, u in zip(wrt, direction, strict=True):
        plus[k] = base[k] + h * u
        minus[k] = base[k] - h * u
    f_plus, mag_plus = f(plus)
    f_minus, mag_minus = f(minus)
    analytical = math.fsum(
        (np.asarray(g, np.float64) * u).ravel().sum() for g, u in zip(grads, direction, strict=True)
    )
    return Directional((f_plus - f_minus) / (2 * h), analytical, max(mag_plus, mag_minus))


# -- VJP of a program w.r.t. the inputs that require grad -----------------------------------------
def program_vjp(
    adapter: Any, program: Program, cotangents: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], dict[str, np.ndarray | None]]:
    """Outputs, and gradients by input name for the program's differentiable inputs."""
    outputs, grads = program.vjp(adapter, cotangents)
    return outputs, {
        i.name: g for i, g in zip(program.inputs, grads, strict=True) if i.differentiable
    }


def program_jvp(
    adapter: Any, program: Program, tangents: Mapping[str, np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Outputs, and their tangents (forward mode, `adapter.jvp`) for the tangents of the
    program's differentiable inputs, by input name; the other inputs enter as constants."""
    wrt = [n for n, i in enumerate(program.inputs) if i.differentiable]

    def fn(tensors: Sequence[Any]) -> list[Any]:
        given = dict(zip(wrt, tensors, strict=True))
        full = [
            given[n] if n in given else adapter.tensor(i.value)
            for n, i in enumerate(program.inputs)
        ]
        return program.output_tensors(adapter, full)

    primals = [program.inputs[n].value for n in wrt]
    outputs, pushed = adapter.jvp(fn, primals, [tangents[program.inputs[n].name] for n in wrt])
    return list(outputs), list(pushed)


# -- the linear + BCE-with-logits example -------------------------------------------------------
@dataclass(frozen=True)
class LinearBCE:
    """`z = x @ W + b` (form "matmul", W is in x out) or `z = F.linear(x, W, b)` (form "linear",
    W is out x in), then `loss = binary_cross_entropy_with_logits(z, y, weight, pos_weight)`."""

    x: np.ndarray
    W: np.ndarray  # noqa: N815 - the layer's conventional name
    b: np.ndarray | None
    y: np.ndarray
    weight: np.ndarray | None
    pos_weight: np.ndarray | None
    reduction: str
    form: str
    x_requires_grad: bool = False
    y_requires_grad: bool = False

    def program(self) -> Program:
        inputs = [Input("x", self.x, self.x_requires_grad), Input("W", self.W, True)]
        if self.b is not None:
            inputs.append(Input("b", self.b, True))
        inputs.append(Input("y", self.y, self.y_requires_grad))
        optional = []
        for name in ("weight", "pos_weight"):
            value = getattr(self, name)
            if value is not None:
                inputs.append(Input(name, value, False))
                optional.append(name)
        steps = []
        if self.form == "linear":
            extra = {"optional": ["bias"]} if self.b is not None else {}
            args = ("x", "W", "b") if self.b is not None else ("x", "W")
            steps.append(Apply("z", "linear", args, extra))
        elif self.b is not None:
            steps += [Apply("xW", "matmul", ("x", "W")), Apply("z", "add", ("xW", "b"))]
        else:
            steps.append(Apply("z", "matmul", ("x", "W")))
        params: dict[str, Any] = {"reduction": self.reduction}
        if optional:
            params["optional"] = optional
        steps.append(Apply("loss", "bce_with_logits", ("z", "y", *optional), params))
        return Program(tuple(inputs), tuple(steps), ("loss",))

    def logits(self) -> np.ndarray:
        x, w = self.x.astype(np.float64), self.W.astype(np.float64)
        z = x @ (w if self.form == "matmul" else w.T)
        return z + self.b.astype(np.float64) if self.b is not None else z

    def closed_form(self, cotangent: np.ndarray | float = 1.0) -> tuple[np.ndarray, dict[str, Any]]:
        """Loss and float64 gradients by input name (x, W, b, y), from the formulas:
        dL/dz = w ((pw y + 1 - y) sigmoid(z) - pw y), dL/dy = w (-z - (pw - 1) logsigmoid(z)),
        divided by numel(z) for 'mean'; then dW = x^T dz (or dz^T x), db = sum over the batch,
        dx = dz W^T (or dz W)."""
        z = self.logits()
        y = self.y.astype(np.float64)
        w = 1.0 if self.weight is None else self.weight.astype(np.float64)
        pw = 1.0 if self.pos_weight is None else self.pos_weight.astype(np.float64)
        loss = numpy_apply("bce_with_logits", [z, y, *self._extras()], self._params())
        scale = 1.0 / z.size if self.reduction == "mean" else 1.0
        c = np.broadcast_to(np.asarray(cotangent, np.float64), z.shape) * scale
        dz = c * np.broadcast_to(w * ((pw * y + 1.0 - y) * sigmoid(z) - pw * y), z.shape)
        dy = c * np.broadcast_to(w * (-z - (pw - 1.0) * _logsigmoid(z)), z.shape)
        x, weight = self.x.astype(np.float64), self.W.astype(np.float64)
        x2, dz2 = np.atleast_2d(x), np.atleast_2d(dz)
        grads: dict[str, Any] = {
            "W": x2.T @ dz2 if self.form == "matmul" else dz2.T @ x2,
            "x": dz @ (weight.T if self.form == "matmul" else weight),
            "y": dy,
        }
        if self.b is not None:
            grads["b"] = dz2.sum(axis=0)
        return loss, grads

    def magnitude(self, cotangent: np.ndarray | float = 1.0) -> float:
        """The largest magnitude the computation goes through: inputs, logits, the loss terms
        (1-y)z and lw*logsigmoid(z) before they cancel, and the gradients. Rounding errors
        scale with it (see compare)."""
        z = self.logits()
        y = self.y.astype(np.float64)
        w = 1.0 if self.weight is None else np.abs(self.weight.astype(np.float64))
        pw = 1.0 if self.pos_weight is None else self.pos_weight.astype(np.float64)
        log_weight = np.abs((pw - 1.0) * y + 1.0)
        terms = w * (np.abs((1.0 - y) * z) + log_weight * np.abs(_logsigmoid(z)))
        loss, grads = self.closed_form(cotangent)
        parts = [self.x, self.W, z, terms, loss, *grads.values()]
        if self.b is not None:
            parts.append(self.b)
        return max(1.0, *(float(np.max(np.abs(p), initial=0.0)) for p in parts))

    def _extras(self) -> list[np.ndarray]:
        return [
            getattr(self, n).astype(np.float64)
            for n in ("weight", "pos_weight")
            if getattr(self, n) is not None
        ]

    def _params(self) -> dict[str, Any]:
        optional = [n for n in ("weight", "pos_weight") if getattr(self, n) is not None]
        return {"reduction": self.reduction, **({"optional": optional} if optional else {})}


# -- program helpers ----------------------------------------------------------------------------
def evaluate_numpy(program: Program) -> dict[str, np.ndarray]:
    """Every value of the program in float64 NumPy (bool for comparisons)."""
    env = {i.name: np.asarray(i.value, dtype=np.float64) for i in program.inputs}
    for step in program.steps:
        env[step.name] = numpy_apply(step.op, [env[a] for a in step.args], step.params)
    return env


def rounding_magnitude(program: Program, cotangents: Sequence[np.ndarray]) -> float:
    """The size of the rounding error of sum_k <output_k, cotangent_k>, in units of eps: its
    largest intermediate value times the largest cotangent entry. The outputs alone can
    understate it: the stable BCE-with-logits of a logit of -1e4 is a loss of 0.1 computed
    as a difference of terms of 1e4, so the loss is only known to ~1e4 eps."""
    largest = max(
        (float(np.max(np.abs(v), initial=0.0)) for v in evaluate_numpy(program).values()
         if v.dtype.kind == "f" and np.isfinite(v).all()),
        default=0.0,
    )  # fmt: skip
    seed = max((float(np.max(np.abs(c), initial=0.0)) for c in cotangents), default=0.0)
    return largest * seed


def numpy_vjp(
    program: Program, cotangents: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Outputs and VJP of a program in float64 NumPy from the op table's VJP rules alone (reverse
    mode over the steps): the engine-independent oracle. Like `Program.vjp`, gradients only for
    the inputs that require grad (None for those no output reaches through differentiable ops)."""
    env = evaluate_numpy(program)
    grads: dict[str, np.ndarray] = {}
    for name, cot in zip(program.outputs, cotangents, strict=True):
        if env[name].dtype.kind == "f":
            seed = np.broadcast_to(np.asarray(cot, np.float64), env[name].shape)
            grads[name] = grads[name] + seed if name in grads else seed
    for step in reversed(program.steps):
        if step.name not in grads:
            continue
        operands = [env[a] for a in step.args]
        local = ops.vjp(step.op, grads[step.name], operands, step.params)
        for arg, grad in zip(step.args, local, strict=True):
            if grad is not None:
                grads[arg] = grads[arg] + grad if arg in grads else grad
    outputs = [env[name] for name in program.outputs]
    return outputs, [grads.get(i.name) if i.differentiable else None for i in program.inputs]


def as_float64(program: Program) -> Program:
    """The same program with float inputs widened to float64 (exactly: float32 embeds)."""
    return program.with_values(
        [
            i.value.astype(np.float64) if i.value.dtype.kind == "f" else i.value
            for i in program.inputs
        ]
    )
