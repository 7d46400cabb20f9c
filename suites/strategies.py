"""Every hypothesis strategy the suites draw from, composed in one place.

Like `hypothesis.extra.numpy` and the Array API test suite, small strategies (dtypes, shapes,
values) compose into the two the suites live on:

- `programs()`: random DAG programs over the whole op set, with broadcasting, reductions over
  any dims, views, indexing with repeated indices, and one value reused by several ops (diamonds,
  `x*x`, `a-a`). Each op is applied by the builder of its kind (`_BUILDERS`, keyed by the op
  table's `kind`), with operands inside the row's domains. Programs are domain-safe: while a
  program is drawn its values are computed in float64 NumPy (the table's forward), so `log` only
  sees values >= 0.25, a divisor is at least 0.25 away from zero, fractional and negative powers
  see positive values, `exp` never overflows, and no value exceeds VALUE_LIMIT. Kinks (the
  rows' `kinks`: relu/abs at 0) are *not* avoided here: the gradient at a kink is a
  requirement like any other; only finite-difference checks step around them.
- `linear_bce_cases()` / `linear_bce_programs()`: the linear + BCE-with-logits example with the
  inputs that catch known bugs: batch > 1 and unbatched, non-square weights, hard and soft
  targets, weight and pos_weight, all reductions, and logits of exactly 0, +-100 and +-1e4.

Use `for_backend(adapter, **kwargs)` to restrict a strategy's ops and dtypes to what an adapter
declares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, Literal

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.judge.numerics import LinearBCE, numpy_apply
from conformance.spec.ops import ALL_OPS, OP_ORDER, OPS, Domain, Op
from conformance.spec.program import Apply, Input, Program

FLOAT_DTYPES = ("float32", "float64")
VALUE_LIMIT = 1e4
"""No value of a drawn program exceeds this in magnitude (float32 keeps 3 decimals there)."""
VALUE_RANGE = (-3.0, 3.0)
"""Where a fresh input's values lie unless its operand's domain narrows it."""
MAX_SIZE = 48
"""Most elements in any value; programs stay cheap to run thousands of times."""
SPECIAL_VALUES = (0.0, 1.0, -1.0, 0.5, -2.0)
LOGITS_EXTREME = (0.0, 100.0, -100.0, 1e4, -1e4)

FOCUS_ATTEMPTS = 8
"""Tries at applying a focus op to the drawn inputs (new inputs are drawn as needed) before the
example is rejected."""


# -- small strategies ---------------------------------------------------------------------------
def dtypes(allowed: Iterable[str] = FLOAT_DTYPES) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(allowed, reverse=True))  # float64 first: shrinks towards it


@cache
def shapes(*, max_rank: int = 3, max_side: int = 4, min_rank: int = 0) -> st.SearchStrategy:
    """Shapes including 0-d and size-1 dims, at most MAX_SIZE elements (by construction: a
    filter would slow every draw)."""
    return _shapes(max_rank, max_side, min_rank)


@st.composite
def _shapes(draw: Any, max_rank: int, max_side: int, min_rank: int) -> tuple[int, ...]:
    dims: list[int] = []
    for _ in range(draw(st.integers(min_rank, max_rank))):
        budget = MAX_SIZE // int(np.prod(dims))
        dims.append(draw(st.integers(1, max(1, min(max_side, budget)))))
    return tuple(dims)


@cache
def broadcast_partner_shapes(
    shape: tuple[int, ...], *, max_rank: int = 3, max_side: int = 3
) -> st.SearchStrategy:
    """Shapes that broadcast with `shape` (size-1 dims on either side, missing leading dims),
    the broadcast result at most MAX_SIZE elements."""
    return _partner(shape, max_rank, max_side)


@st.composite
def _partner(draw: Any, shape: tuple[int, ...], max_rank: int, max_side: int) -> tuple[int, ...]:
    rank = draw(st.integers(0, max(max_rank, len(shape))))
    dims: list[int] = []
    size = int(np.prod(shape))  # the broadcast size so far, as if the partner were all ones
    for k in range(1, rank + 1):  # align from the trailing dim
        own = shape[-k] if k <= len(shape) else 1
        if own != 1:
            dims.append(draw(st.sampled_from([own, 1])))
            continue
        budget = MAX_SIZE // size
        grow = draw(st.integers(1, max(1, min(max_side, budget))))
        dims.append(grow)
        size *= grow
    return tuple(reversed(dims))


@cache
def values(
    shape: tuple[int, ...],
    dtype: str = "float64",
    *,
    low: float = -3.0,
    high: float = 3.0,
    zeros: bool = True,
    avoid_zero: float = 0.0,
) -> st.SearchStrategy[np.ndarray]:
    """Arrays with elements in [low, high]; with `zeros`, exact zeros and other special values
    appear often; `avoid_zero` > 0 keeps every element at least that far from 0."""
    width: Literal[32, 64] = 32 if dtype == "float32" else 64

    def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
        # No subnormals: XLA and other CPU backends flush them to zero, a property of the
        # floating-point unit's mode, not of the engine's autograd, which is what is judged.
        return st.floats(
            lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width
        )

    finite = floats(low, high)
    if avoid_zero > 0:  # two intervals, not a filter: a filter can starve
        parts = [floats(max(low, avoid_zero), high)] if high >= avoid_zero else []
        parts += [floats(low, min(high, -avoid_zero))] if low <= -avoid_zero else []
        finite = st.one_of(parts)
    special = [v for v in SPECIAL_VALUES if low <= v <= high and (zeros or v != 0.0)]
    special = [v for v in special if abs(v) >= avoid_zero]
    elements = st.one_of(st.sampled_from(special), finite) if special else finite
    return arrays(elements, shape, dtype)


def arrays(
    elements: st.SearchStrategy[Any], shape: tuple[int, ...], dtype: str
) -> st.SearchStrategy[np.ndarray]:
    """Arrays from a list of elements: 2-3x cheaper to draw than hypothesis.extra.numpy.arrays,
    which matters when thousands of small arrays are drawn per test."""
    size = int(np.prod(shape))
    return st.lists(elements, min_size=size, max_size=size).map(
        partial(_to_array, shape=tuple(int(d) for d in shape), dtype=dtype)
    )


def _to_array(items: list[Any], *, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return np.array(items, dtype=dtype).reshape(shape)


def integer_arrays(shape: tuple[int, ...] | None = None) -> st.SearchStrategy[np.ndarray]:
    """int64 and bool arrays (they must refuse requires_grad)."""
    return _integer_arrays(shape)


@st.composite
def _integer_arrays(draw: Any, shape: tuple[int, ...] | None) -> np.ndarray:
    dtype = draw(st.sampled_from(["int64", "bool"]))
    chosen = shape if shape is not None else draw(shapes(max_rank=2))
    return draw(hnp.arrays(np.dtype(dtype), chosen))  # rare: only the refusal tests draw these


# -- random DAG programs ------------------------------------------------------------------------
@dataclass
class _Value:
    name: str
    array: np.ndarray
    """Float64 values, computed while drawing: domain checks are exact, not interval bounds."""


@dataclass
class _Builder:
    draw: Callable[..., Any]
    dtype: str
    requires_grad: bool | None
    zeros: bool
    max_rank: int
    max_inputs: int
    inputs: list[Input] = field(default_factory=list)
    steps: list[Apply] = field(default_factory=list)
    pool: list[_Value] = field(default_factory=list)
    """Float values later ops may use (everything but bool results and BCE weights)."""
    used: set[str] = field(default_factory=set)
    extra_outputs: list[str] = field(default_factory=list)

    # inputs
    def new_input(
        self,
        shape: tuple[int, ...],
        *,
        low: float = VALUE_RANGE[0],
        high: float = VALUE_RANGE[1],
        grad: bool | None = None,
        pooled: bool = True,
        avoid_zero: float = 0.0,
        hard: bool = False,
    ) -> _Value | None:
        if len(self.inputs) >= self.max_inputs:
            return None
        if hard:  # hard targets: exactly 0 or 1
            elements = st.sampled_from([0.0, 1.0])
            array = self.draw(arrays(elements, shape, self.dtype))
        else:
            array = self.draw(
                values(
                    shape, self.dtype, low=low, high=high, zeros=self.zeros, avoid_zero=avoid_zero
                )
            )
        if grad is None:
            grad = self.draw(st.booleans()) if self.requires_grad is None else self.requires_grad
        name = f"x{len(self.inputs)}"
        self.inputs.append(Input(name, array, grad))
        value = _Value(name, array.astype(np.float64))
        if pooled:
            self.pool.append(value)
        return value

    def pick(self, ok: Callable[[_Value], bool]) -> _Value | None:
        """A pooled value satisfying `ok`, the most recent first (shrinks towards chains)."""
        candidates = [v for v in reversed(self.pool) if ok(v)]
        if not candidates:
            return None
        return candidates[self.draw(st.integers(0, len(candidates) - 1))]

    def pick_or_new(
        self, ok: Callable[[_Value], bool], make: Callable[[], _Value | None]
    ) -> _Value | None:
        if self.draw(st.booleans()):
            found = self.pick(ok)
            if found is not None:
                return found
        return make() or self.pick(ok)

    # steps
    def emit(self, op: str, args: Sequence[_Value], params: dict[str, Any]) -> bool:
        result = numpy_apply(op, [a.array for a in args], params)
        if result.dtype != np.bool_ and (
            not np.all(np.isfinite(result)) or np.max(np.abs(result), initial=0) > VALUE_LIMIT
        ):
            return False
        name = f"v{len(self.steps)}"
        self.steps.append(Apply(name, op, tuple(a.name for a in args), params))
        self.used.update(a.name for a in args)
        if result.dtype == np.bool_:
            self.extra_outputs.append(name)
        else:
            self.pool.append(_Value(name, result.astype(np.float64)))
        return True

    def program(self) -> Program:
        step_names = [s.name for s in self.steps]
        sinks = [n for n in step_names if n not in self.used and n not in self.extra_outputs]
        outputs = sinks + self.extra_outputs
        interior = [v.name for v in self.pool if v.name in self.used and v.name in step_names]
        if interior and self.draw(st.booleans()):
            # A second output that is also used inside the graph: gradients from two roots meet.
            outputs.insert(0, self.draw(st.sampled_from(interior)))
        float_steps = [v.name for v in self.pool if v.name in step_names]
        if not any(name in float_steps for name in outputs):
            # Every program has a float output to differentiate: the last float step, if any.
            outputs.append(float_steps[-1] if float_steps else self.pool[-1].name)
        ordered = [n for n in [*step_names, *(i.name for i in self.inputs)] if n in outputs]
        return Program(tuple(self.inputs), tuple(self.steps), tuple(dict.fromkeys(ordered)))


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        return _size(np.broadcast_shapes(a, b)) <= MAX_SIZE
    except ValueError:
        return False


@st.composite
def _broadcast_into(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to exactly `shape` (BCE's weight and pos_weight): trailing dims
    of `shape`, each kept or 1."""
    rank = draw(st.integers(0, len(shape)))
    tail = shape[len(shape) - rank :]
    return tuple(draw(st.sampled_from([d, 1])) for d in tail)


def _fresh_input(b: _Builder, domain: Domain, shape: tuple[int, ...]) -> _Value | None:
    """A new input inside `domain`, twice as far from its bounds as the domain asks: drawn
    values on the bound itself would put central differences on the singularity's edge."""
    low = VALUE_RANGE[0] if domain.low <= VALUE_RANGE[0] else domain.low * 2
    return b.new_input(shape, low=low, avoid_zero=domain.away_from_zero * 2)


def _drawn_fresh(domain: Domain) -> bool:
    """Whether the domain narrows fresh inputs; where it does not, a value already in the pool
    (or none) is used, and the first input keeps the pool non-empty."""
    return domain.low > VALUE_RANGE[0] or domain.away_from_zero > 0


def _step_binary(b: _Builder, row: Op) -> bool:
    a = b.pick(lambda v: row.domains[0].admits(v.array))
    assert a is not None
    shape = a.array.shape
    domain = row.domains[1]
    other = b.pick_or_new(
        lambda v: _broadcastable(v.array.shape, shape) and domain.admits(v.array),
        lambda: _fresh_input(
            b, domain, b.draw(broadcast_partner_shapes(shape, max_rank=b.max_rank))
        ),
    )
    if other is None:
        return False
    # Operands with one domain may come in either order; otherwise each keeps its place.
    swappable = row.domains[0] == domain
    args = [a, other] if not swappable or b.draw(st.booleans()) else [other, a]
    return b.emit(row.name, args, {})


def _step_unary(b: _Builder, row: Op) -> bool:
    domain = row.domains[0]
    if _drawn_fresh(domain):
        a = b.pick_or_new(
            lambda v: domain.admits(v.array),
            lambda: _fresh_input(b, domain, b.draw(shapes(max_rank=b.max_rank))),
        )
    else:
        a = b.pick(lambda v: domain.admits(v.array))
    if a is None:
        return False
    params: dict[str, Any] = {}
    if row.param_choices:  # one scalar parameter, its values by where the operand lies
        choices = [
            c for where, values in row.param_choices if where.admits(a.array) for c in values
        ]
        params[row.params[0]] = b.draw(st.sampled_from(choices))
    return b.emit(row.name, [a], params)


def _dims(b: _Builder, rank: int) -> int | list[int] | None:
    if rank == 0:
        return None
    kind = b.draw(st.sampled_from(["all", "one", "several"]))
    if kind == "all":
        return None
    if kind == "one":
        return int(b.draw(st.integers(-rank, rank - 1)))
    chosen = b.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    return sorted(chosen)


def _step_reduction(b: _Builder, row: Op) -> bool:
    a = b.pick(lambda v: True)
    assert a is not None
    dim = _dims(b, a.array.ndim)
    keepdim = False if dim is None else bool(b.draw(st.booleans()))
    return b.emit(row.name, [a], {"dim": dim, "keepdim": keepdim})


def _step_matmul(b: _Builder, row: Op) -> bool:
    a = b.pick(lambda v: 1 <= v.array.ndim <= 3)
    if a is None:
        return False
    k = a.array.shape[-1]
    m = b.draw(st.integers(1, 3))
    right_shapes = [(k,), (k, m)]
    if a.array.ndim < 3:
        right_shapes.append((b.draw(st.integers(1, 2)), k, m))
    else:
        # batched @ batched, same batch or broadcast over it: an engine whose matmul is np.dot
        # (a tensordot, not a batched product) differs only here
        right_shapes += [(a.array.shape[0], k, m), (1, k, m)]
    want = b.draw(st.sampled_from(right_shapes))
    other = b.pick_or_new(
        lambda v: v.array.shape == want,
        lambda: b.new_input(want),
    )
    if other is None or _size(np.matmul(a.array, other.array).shape) > MAX_SIZE:
        return False
    return b.emit(row.name, [a, other], {})


def _step_linear(b: _Builder, row: Op) -> bool:
    a = b.pick(lambda v: 1 <= v.array.ndim <= 3)
    if a is None:
        return False
    features_in = a.array.shape[-1]
    features_out = b.draw(st.integers(1, 4))
    weight = b.pick_or_new(
        lambda v: v.array.ndim == 2 and v.array.shape[1] == features_in,
        lambda: b.new_input((features_out, features_in)),
    )
    if weight is None:
        return False
    args = [a, weight]
    params: dict[str, Any] = {}
    if b.draw(st.booleans()):
        bias = b.new_input((weight.array.shape[0],))
        if bias is not None:
            args.append(bias)
            params["optional"] = ["bias"]
    return b.emit(row.name, args, params)


def _step_transpose(b: _Builder, row: Op) -> bool:
    a = b.pick(lambda v: v.array.ndim >= 2)
    if a is None:
        return False
    rank = a.array.ndim
    dim0, dim1 = b.draw(st.tuples(st.integers(-rank, rank - 1), st.integers(-rank, rank - 1)))
    return b.emit(row.name, [a], {"dim0": dim0, "dim1": dim1})


def _step_reshape(b: _Builder, row: Op) -> bool:
    a = b.pick(lambda v: True)
    assert a is not None
    new = b.draw(_factorisations(_size(a.array.shape), b.max_rank))
    if new and b.draw(st.booleans()):  # let the engine infer one dim
        new = list(new)
        new[b.draw(st.integers(0, len(new) - 1))] = -1
    return b.emit(row.name, [a], {"shape": list(new)})


def _step_expand(b: _Builder, row: Op) -> bool:
    a = b.pick(lambda v: True)
    assert a is not None
    shape = a.array.shape
    target = [b.draw(st.integers(1, 3)) if s == 1 else s for s in shape]
    # A 0-d value must grow a dim: PyTorch's expand() needs at least one size.
    if not shape or (len(shape) < b.max_rank and b.draw(st.booleans())):
        target.insert(0, b.draw(st.integers(1, 3)))
    if _size(tuple(target)) > MAX_SIZE:
        return False
    return b.emit(row.name, [a], {"shape": target})


def _step_index(b: _Builder, row: Op) -> bool:
    """Advanced indexing on dim 0; repeated indices make the backward a scatter-add."""
    b.pick(lambda v: True)  # a draw the suites' example databases and seeds were made with
    a = b.pick(lambda v: v.array.ndim >= 1)
    if a is None:
        return False
    n = a.array.shape[0]
    indices = b.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4))
    return b.emit(row.name, [a], {"indices": indices})


@st.composite
def _factorisations(draw: Any, size: int, max_rank: int) -> tuple[int, ...]:
    rank = draw(st.integers(0 if size == 1 else 1, max_rank))
    dims, rest = [], size
    for _ in range(max(rank - 1, 0)):
        divisor = draw(st.sampled_from([d for d in range(1, rest + 1) if rest % d == 0]))
        dims.append(divisor)
        rest //= divisor
    if rank:
        dims.append(rest)
    return tuple(draw(st.permutations(dims))) if dims else ()


def _step_loss(b: _Builder, row: Op) -> bool:
    logits = b.pick(lambda v: True)
    assert logits is not None
    shape = logits.array.shape
    target = b.new_input(shape, low=0.0, high=1.0, hard=b.draw(st.booleans()))
    if target is None:
        return False
    args, optional = [logits, target], []
    for which, (low, high) in (("weight", (0.0, 2.0)), ("pos_weight", (0.25, 4.0))):
        if not b.draw(st.booleans()):
            continue
        sub = b.draw(_broadcast_into(shape))
        # BCE is not differentiable in weight and pos_weight: PyTorch refuses requires_grad there.
        extra = b.new_input(sub, low=low, high=high, grad=False, pooled=False)
        if extra is not None:
            args.append(extra)
            optional.append(which)
    params: dict[str, Any] = {"reduction": b.draw(st.sampled_from(["mean", "sum", "none"]))}
    if optional:
        params["optional"] = optional
    return b.emit(row.name, args, params)


_BUILDERS: dict[str, Callable[[_Builder, Op], bool]] = {
    "unary": _step_unary,
    "binary": _step_binary,
    "reduction": _step_reduction,
    "matmul": _step_matmul,
    "linear": _step_linear,
    "transpose": _step_transpose,
    "reshape": _step_reshape,
    "expand": _step_expand,
    "index": _step_index,
    "loss": _step_loss,
}
"""How an application of each kind of op (the row's `kind`) is built."""


def _step(b: _Builder, op: str) -> bool:
    row = OPS[op]
    return _BUILDERS[row.kind](b, row)


@st.composite
def programs(
    draw: Any,
    *,
    dtypes: Iterable[str] = ("float64",),
    ops: Iterable[str] | None = None,
    min_steps: int = 1,
    max_steps: int = 6,
    requires_grad: bool | None = None,
    max_rank: int = 3,
    max_inputs: int = 5,
    zeros: bool = True,
    focus: str | None = None,
) -> Program:
    """Random DAG programs over `ops` (default: the whole op set) in one dtype from `dtypes`.

    `requires_grad`: None draws each input's flag; True/False sets every input's flag (BCE's
    weight and pos_weight never require grad: PyTorch refuses it). `zeros`: exact zeros and other
    special values appear among input values. `focus`: the first step applies this op to an
    input that requires grad (unless `requires_grad` is False), so that a suite can guarantee
    every op is exercised under a small example budget instead of leaving it to the draw.
    """
    allowed = [op for op in OP_ORDER if ops is None or op in set(ops)]
    if not allowed:
        raise ValueError("programs(): no ops to draw from")
    dtype = draw(st.sampled_from(sorted(dtypes, reverse=True)))
    builder = _Builder(draw, dtype, requires_grad, zeros, max_rank, max_inputs)
    first_grad = None if focus is None or requires_grad is False else True
    builder.new_input(draw(shapes(max_rank=max_rank)), grad=first_grad)
    wanted = draw(st.integers(min_steps, max_steps))
    if focus is not None and not any(_step(builder, focus) for _ in range(FOCUS_ATTEMPTS)):
        reject()  # this draw of shapes and values admits no application of `focus`
    attempts = 0
    while len(builder.steps) < wanted and attempts < 4 * max_steps:
        attempts += 1
        _step(builder, draw(st.sampled_from(allowed)))
    if not builder.steps:  # every draw was infeasible: fall back to the simplest step
        fallback = next(op for op in ("neg", "add", "mul", "sum", *allowed) if op in allowed)
        _step(builder, fallback)
    return builder.program()


def differentiable_programs(**kwargs: Any) -> st.SearchStrategy[Program]:
    """Programs with at least one input that requires grad and reaches a float output."""
    kwargs.setdefault("requires_grad", True)
    return programs(**kwargs).filter(_has_differentiable_input)


def _has_differentiable_input(program: Program) -> bool:
    return any(i.differentiable for i in program.inputs)


def for_backend(adapter: Any, strategy: Callable[..., Any] = programs, **kwargs: Any) -> Any:
    """`strategy(**kwargs)` restricted to the adapter's declared ops and dtypes."""
    caps = adapter.capabilities
    ops = set(kwargs.pop("ops", ALL_OPS)) & set(caps.ops)
    wanted = set(kwargs.pop("dtypes", ("float64",)))
    usable = wanted & set(caps.dtypes)
    if not usable:
        raise ValueError(f"{adapter.name} declares none of the dtypes {sorted(wanted)}")
    return strategy(ops=ops, dtypes=usable, **kwargs)


# -- linear + BCE-with-logits -------------------------------------------------------------------
@st.composite
def linear_bce_cases(
    draw: Any,
    *,
    dtypes: Iterable[str] = ("float64",),
    max_batch: int = 5,
    max_features: int = 5,
    extremes: bool | None = None,
    forms: Sequence[str] = ("matmul", "linear"),
    large: bool = False,
) -> LinearBCE:
    """The linear + BCE example (`z = x @ W + b` or `F.linear`), with everything that varies.

    With `extremes` (None: drawn), some batch rows of x are exactly 0 so that their logits are
    exactly the bias, drawn from {0, +-100, +-1e4}. `large` draws bigger layers (for the
    directional finite-difference check).
    """
    dtype = draw(st.sampled_from(sorted(dtypes, reverse=True)))
    form = draw(st.sampled_from(list(forms)))
    top = 24 if large else max_features
    batch = draw(st.one_of(st.none(), st.integers(1, 24 if large else max_batch)))
    n_in = draw(st.integers(1, top))
    n_out = draw(st.integers(1, top))
    z_shape = (n_out,) if batch is None else (batch, n_out)
    x_shape = (n_in,) if batch is None else (batch, n_in)
    extreme = draw(st.booleans()) if extremes is None else extremes
    x = draw(values(x_shape, dtype, low=-2.0, high=2.0))
    bias_present = extreme or draw(st.booleans())
    if extreme:
        count = x_shape[0] if batch else 1
        rows = draw(st.lists(st.booleans(), min_size=count, max_size=count))
        rows[draw(st.integers(0, count - 1))] = True  # at least one row of exact logits
        if batch is None:
            x = np.zeros_like(x) if rows[0] else x
        else:
            x[np.array(rows, dtype=bool)] = 0
        b = draw(arrays(st.sampled_from(LOGITS_EXTREME), (n_out,), dtype))
    else:
        b = draw(values((n_out,), dtype, low=-2.0, high=2.0)) if bias_present else None
    w_shape = (n_in, n_out) if form == "matmul" else (n_out, n_in)
    weight_matrix = draw(values(w_shape, dtype, low=-2.0, high=2.0))
    hard = draw(st.booleans())
    y_elements = st.sampled_from([0.0, 1.0]) if hard else st.floats(0.0, 1.0, width=32)
    y = draw(arrays(y_elements, z_shape, dtype))
    weight = None
    if draw(st.booleans()):
        sub = draw(st.sampled_from([(), (n_out,), z_shape, *([(batch, 1)] if batch else [])]))
        weight = draw(values(sub, dtype, low=0.0, high=2.0))
    pos_weight = None
    if draw(st.booleans()):
        pos_weight = draw(values(draw(st.sampled_from([(), (n_out,)])), dtype, low=0.25, high=4.0))
    return LinearBCE(
        x=x,
        W=weight_matrix,
        b=b,
        y=y,
        weight=weight,
        pos_weight=pos_weight,
        reduction=draw(st.sampled_from(["mean", "sum", "none"])),
        form=form,
        x_requires_grad=draw(st.booleans()),
        y_requires_grad=draw(st.booleans()),
    )


def linear_bce_programs(**kwargs: Any) -> st.SearchStrategy[Program]:
    return linear_bce_cases(**kwargs).map(LinearBCE.program)


__all__ = [
    "arrays",
    "broadcast_partner_shapes",
    "differentiable_programs",
    "dtypes",
    "for_backend",
    "integer_arrays",
    "linear_bce_cases",
    "linear_bce_programs",
    "programs",
    "shapes",
    "values",
]
