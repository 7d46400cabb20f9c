"""The one tolerance table: (dtype, device kind, check) -> (rtol, atol, reason).

A comparison of `actual` against `expected` passes where, element by element,

    |actual - expected| <= atol * scale + rtol * |expected|

with `scale` = max(1, max |expected|, M), where M is the largest magnitude the computation went
through (every forward value and every gradient, intermediate ones included, on the reference
engine; for finite differences, the magnitude of the differenced function). Rounding errors
scale with M, not with the result: scaling atol keeps one entry meaningful for gradients of 1e-3
and of 1e4 alike, and an element that cancels to near zero is judged against the size of the
terms it came from, not against zero.

Checks:
- "reference": the backend's values or gradients against the reference engine. For a float32
  program the reference runs in float64 on the same (float32) inputs, so the error measured is
  the backend's own rounding.
- "closed_form": gradients of linear + BCE-with-logits against the float64 closed form.
- "finite_difference": gradients against central differences of the backend's own forward in
  float64 (element by element), scaled by the function's magnitude.
- "directional": v^T J u by central difference against (v^T J) u from one VJP ("fast mode").
- "accumulate": k backward calls against k times the first call's gradient.
- "parity": the backend under test against its counterpart device or engine (suites/parity).
- "nondeterminism": the same VJP computed twice on one device.

Device kinds: "cpu" and "cuda"; any other accelerator is judged with the "cuda" entries (a
different summation order and fused multiply-add are what matter, not the vendor).
"""

from __future__ import annotations

from dataclasses import dataclass

FD_STEP = 1e-6
"""Central-difference step, relative: h = FD_STEP * max(1, |x|). In float64 the truncation
error is h^2 |f'''| / 6 (~1e-12 |f'''|) and the rounding error eps |f| / h (~2e-10 |f|)."""


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str


CHECKS = (
    "reference",
    "closed_form",
    "finite_difference",
    "directional",
    "accumulate",
    "parity",
    "nondeterminism",
)
DEVICE_KINDS = ("cpu", "cuda")

_F64_REFERENCE = (
    "float64 on both sides; only summation order and op fusion differ: a few ulps (1e-16) per op "
    "over programs of depth <= 10 and sums of <= 48 terms stay below 1e-13, leaving ~1000x margin"
)
_F32_REFERENCE = (
    "float32 backend against the float64 reference on the same inputs: eps 1.2e-7 per op, "
    "amplified by at most ~1e2 through gradient chains (1/x^2 with |x| >= 0.25, exp <= 403) and "
    "by sums of <= 48 terms, stays below ~2e-5; PyTorch 2.13 float32 BCE measured within 5% of "
    "rtol 1e-4 / atol 1e-5 (docs/pytorch-semantics.md, section 4)"
)
_FD = (
    "central differences with h = 1e-6 max(1,|x|) in float64: truncation h^2 f'''/6 <= 1e-12 "
    "f''' and rounding 2e-16 |f|/h = 2e-10 |f| (atol scaled by sum |f_i|, or by the largest "
    "intermediate value times the largest cotangent where that is larger: a stable BCE of a "
    "logit of -1e4 is 0.1 computed from terms of 1e4); 1e-7 leaves ~500x "
    "margin over rounding, and rtol 1e-5 covers the truncation term of the program's steepest "
    "op (exp(6), 1/x^2 at 0.25); gradient bugs move gradients by O(1) relative"
)
_EXACT = (
    "PyTorch adds each backward's gradient into .grad; for k = 2, 3 the sum g+g(+g) of identical "
    "gradients is the correctly rounded k*g (g+g is exact, 2g+g rounds once like 3*g), so "
    "equality is exact on a deterministic device (PyTorch 2.13 observed: torch.equal(b.grad, "
    "2*first) is True)"
)
_CUDA = (
    "; on CUDA, index backward uses atomics (nondeterministic at ulp level, "
    "torch.use_deterministic_algorithms docs) and reductions/cuBLAS sum in a different order "
    "than the CPU; TF32 must be off (the torch adapter records its state)"
)

_PARITY_F64 = (
    "two float64 implementations of one program (CUDA and CPU kernels, or two engines) differ "
    "only in summation order and fused multiply-add: a few ulps (2.2e-16) per op over programs "
    "of depth <= 10, below 1e-14 of the largest magnitude involved; 1e-12 is the agreement "
    "the parity suite promises (issue 6) with ~100x margin"
)
_PARITY_F32 = (
    "float32 on both sides, each rounding on its own (eps 1.2e-7 per op, amplified by at most "
    "~1e2 through gradient chains and sums of <= 48 terms), the same budget as the float32 "
    "reference check"
)
_NONDETERMINISM_CPU = (
    "the same program twice on one CPU: PyTorch's and the reference engine's CPU kernels are "
    "deterministic for a fixed thread count, so the results must be bitwise equal"
)
_NONDETERMINISM_CUDA = (
    "the same program twice on one GPU: backward kernels with atomics (index backward, "
    "index_add) sum in arrival order, so results may differ at ulp level "
    "(torch.use_deterministic_algorithms docs); a few ulps of the largest magnitude"
)

EPS: dict[str, float] = {"float16": 2.0**-10, "bfloat16": 2.0**-7}
"""Machine epsilon (np.finfo(np.float16).eps; bfloat16 keeps 8 significand bits) of the
low-precision dtypes, whose entries below are multiples of it."""

_LOW_PRECISION = (
    "one op (requirement DTYPE-003) in a dtype of eps e, on inputs and a cotangent exactly "
    "representable in it, against float64 at the same values: the forward rounds once (e/2), "
    "the VJP rounds at most ~3 more times (div's x/y^2: three products, the cotangent times "
    "the local derivative), so 4e relative covers it; a VJP built from a rounded forward value "
    "(tanh's 1 - y^2, sigmoid's y(1 - y), BCE's sigmoid(z) - y) cancels to an absolute error of "
    "~2e times the largest magnitude, and a sum of <= 48 terms accumulated in float32 (PyTorch "
    "2.13 CPU and NumPy both accumulate float16 in float32: 2048 plus 16 ones sum to 2064) "
    "rounds once more; 8e x scale covers both twice over. Measured (thorough profile, seeds 1 "
    "to 5): {measured}; a wrong formula moves a gradient by O(1) relative"
)
_MEASURED_16 = "at most 0.12 of this budget on PyTorch 2.13 CPU, 0.07 on the reference engine"
_MEASURED_BF16 = "at most 0.08 of this budget on PyTorch 2.13 CPU"
_F16 = _LOW_PRECISION.format(measured=_MEASURED_16)
_BF16 = _LOW_PRECISION.format(measured=_MEASURED_BF16)

TABLE: dict[tuple[str, str, str], Tolerance] = {
    # float16 and bfloat16: one op at a time (DTYPE-003, DTYPE-004), from each dtype's eps
    ("float16", "cpu", "reference"): Tolerance(4 * EPS["float16"], 8 * EPS["float16"], _F16),
    ("bfloat16", "cpu", "reference"): Tolerance(4 * EPS["bfloat16"], 8 * EPS["bfloat16"], _BF16),
    ("float16", "cuda", "reference"): Tolerance(
        4 * EPS["float16"], 8 * EPS["float16"], _F16 + _CUDA
    ),
    ("bfloat16", "cuda", "reference"): Tolerance(
        4 * EPS["bfloat16"], 8 * EPS["bfloat16"], _BF16 + _CUDA
    ),
    # float64
    ("float64", "cpu", "reference"): Tolerance(1e-10, 1e-12, _F64_REFERENCE),
    ("float64", "cpu", "closed_form"): Tolerance(1e-10, 1e-12, _F64_REFERENCE),
    ("float64", "cpu", "finite_difference"): Tolerance(1e-5, 1e-7, _FD),
    ("float64", "cpu", "directional"): Tolerance(1e-5, 1e-7, _FD),
    ("float64", "cpu", "accumulate"): Tolerance(0.0, 0.0, _EXACT),
    ("float64", "cuda", "reference"): Tolerance(1e-9, 1e-11, _F64_REFERENCE + _CUDA),
    ("float64", "cuda", "closed_form"): Tolerance(1e-9, 1e-11, _F64_REFERENCE + _CUDA),
    ("float64", "cuda", "finite_difference"): Tolerance(1e-5, 1e-7, _FD + _CUDA),
    ("float64", "cuda", "directional"): Tolerance(1e-5, 1e-7, _FD + _CUDA),
    ("float64", "cuda", "accumulate"): Tolerance(1e-13, 1e-15, _EXACT + _CUDA),
    # float32
    ("float32", "cpu", "reference"): Tolerance(2e-4, 2e-5, _F32_REFERENCE),
    ("float32", "cpu", "closed_form"): Tolerance(2e-4, 2e-5, _F32_REFERENCE),
    ("float32", "cpu", "accumulate"): Tolerance(0.0, 0.0, _EXACT),
    ("float32", "cuda", "reference"): Tolerance(5e-4, 5e-5, _F32_REFERENCE + _CUDA),
    ("float32", "cuda", "closed_form"): Tolerance(5e-4, 5e-5, _F32_REFERENCE + _CUDA),
    ("float32", "cuda", "accumulate"): Tolerance(1e-5, 1e-6, _EXACT + _CUDA),
    # device parity (suites/parity): the backend under test against its counterpart
    ("float64", "cpu", "parity"): Tolerance(1e-12, 1e-13, _PARITY_F64),
    ("float64", "cuda", "parity"): Tolerance(1e-12, 1e-13, _PARITY_F64 + _CUDA),
    ("float32", "cpu", "parity"): Tolerance(2e-4, 2e-5, _PARITY_F32),
    ("float32", "cuda", "parity"): Tolerance(2e-4, 2e-5, _PARITY_F32 + _CUDA),
    ("float64", "cpu", "nondeterminism"): Tolerance(0.0, 0.0, _NONDETERMINISM_CPU),
    ("float32", "cpu", "nondeterminism"): Tolerance(0.0, 0.0, _NONDETERMINISM_CPU),
    ("float64", "cuda", "nondeterminism"): Tolerance(1e-13, 1e-14, _NONDETERMINISM_CUDA),
    ("float32", "cuda", "nondeterminism"): Tolerance(1e-5, 1e-6, _NONDETERMINISM_CUDA),
}
"""Finite differences exist for float64 only: in float32 the rounding term eps|f|/h alone is
~1e-1|f| at any useful step, so FD there proves nothing."""


OP_CLASSES: dict[str, str] = {
    "exact": "no rounding: the forward moves, negates or selects values (neg, relu, abs, views) "
    "and the VJP does the same to gradients",
    "rounded": "one correctly rounded or few-ulp library operation per element (+, *, /, exp, "
    "log, tanh, ...): a few ulps per op, the per-op budget the entries above assume",
    "accumulating": "sums of up to 48 terms per element (reductions, matmul, linear, the loss, "
    "and the VJPs of expand and index): summation order differs between engines",
}
"""Each op's tolerance class (its row in conformance.spec.ops): why the entries of TABLE hold
for it. The entries are sized for the widest class, so today every class reads the same
entries; a class that needs its own numbers gets entries here, in this table."""


def device_kind(device: str) -> str:
    return "cpu" if device.partition(":")[0] == "cpu" else "cuda"


def lookup(dtype: str, device: str, check: str, op_class: str | None = None) -> Tolerance:
    """The entry for a comparison; KeyError (naming what is missing) where none is defined.
    `op_class`, where the comparison concerns one op, must be a key of OP_CLASSES."""
    if op_class is not None and op_class not in OP_CLASSES:
        raise KeyError(f"no tolerance class {op_class!r}; known: {sorted(OP_CLASSES)}")
    key = (dtype, device_kind(device), check)
    try:
        return TABLE[key]
    except KeyError:
        raise KeyError(f"no tolerance for dtype={dtype} device={key[1]} check={check}") from None
