"""Views and in-place ops: gradients through views, in-place add_ and mul_ on non-leaves and
through views of them, detach() sharing storage but not the graph, leaves written under no-grad,
and the version counter a view shares with its base.

Expected gradients are written out in NumPy (float64) from the program's own values: a view is
followed by the index map it makes of its base (the same view taken of `arange`), and an in-place
op by the out-of-place program it stands for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line, flags_line
from conformance.judge.numerics import compare
from conformance.plugin import NOT_APPLICABLE
from conformance.spec.program import Apply, Input, Program
from conformance.spec.render import literal

from .refusals import expect_refusal, refusal_lines
from .requirement import requirement
from .strategies import shapes, values
from .support import expect_flags, float_dtypes, grad_expr, tolerance

INPLACE_OPS = ("add", "mul")


def _require_ops(backend: Any, *ops: str) -> None:
    missing = [op for op in ops if op not in backend.capabilities.ops]
    if missing:
        pytest.skip(f"{NOT_APPLICABLE} the engine does not declare op(s) {missing}")


def _setup(backend: Any, program: Program) -> tuple[dict[str, Any], Repro]:
    env = program.evaluate(backend, program.make_inputs(backend))
    return env, Repro(backend).line("", evaluate_line())


def _dtype(data: st.DataObject, backend: Any) -> str:
    return str(data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype"))


def _run(repro: Repro, program: Program, what: str, torch_src: str, adapter_src: str) -> Any:
    """Add a step to the reproducer; the caller runs it inside the returned guard."""
    repro.line(torch_src, adapter_src)
    return engine_must_not_raise(what, repro, program)


def _inplace(backend: Any, repro: Repro, program: Program, op: str, name: str, other: str,
             env: dict[str, Any]) -> None:  # fmt: skip
    with _run(
        repro, program, f"{name}.{op}_({other})", f"{name}.{op}_({other})",
        f"adapter.inplace({op!r}, env[{name!r}], env[{other!r}])",
    ):  # fmt: skip
        backend.inplace(op, env[name], env[other])


def _loss_backward(
    backend: Any, repro: Repro, program: Program, name: str, seed: str, env: dict[str, Any]
) -> None:
    """(name * seed).sum().backward(), seed a tensor of name's shape."""
    with _run(
        repro, program, f"({name} * {seed}).sum().backward()",
        f"({name} * {seed}).sum().backward()",
        f"adapter.backward(adapter.apply('sum', [adapter.apply('mul', [env[{name!r}], "
        f"env[{seed!r}]], {{}})], {{'dim': None}}))",
    ):  # fmt: skip
        product = backend.apply("mul", [env[name], env[seed]], {})
        backend.backward(backend.apply("sum", [product], {"dim": None}))


def _expect_grads(
    backend: Any,
    repro: Repro,
    program: Program,
    env: dict[str, Any],
    expected: dict[str, np.ndarray],
    dtype: str,
    after: str,
) -> None:
    tol = tolerance(backend, dtype, "reference")
    scale = max([1.0] + [float(np.max(np.abs(w), initial=0.0)) for w in expected.values()])
    for name, want in expected.items():
        got = backend.grad(env[name])
        comparison = compare(got, want, tol, scale=scale)
        if got is None or not comparison.ok:
            repro.scale = scale
            torch_got, adapter_got = grad_expr(name)
            repro.close(f"{name}.grad", torch_got, adapter_got, want, tol)
            raise repro.fail(
                f"{name}.grad after {after}: {'None' if got is None else comparison.describe()}",
                program,
            )


def _expect_values(
    backend: Any, repro: Repro, program: Program, name: str, tensor: Any, want: np.ndarray,
    why: str,
) -> None:  # fmt: skip
    got = backend.to_numpy(tensor)
    if got.shape == want.shape and np.array_equal(got, want):
        return
    want64 = np.asarray(want, dtype=np.float64)
    repro.line(
        f"assert np.array_equal({name}.detach().double().numpy(), np.array({literal(want64)})), "
        f"{why!r}",
        f"assert np.array_equal(adapter.to_numpy(env[{name!r}]), np.array({literal(want64)})), "
        f"{why!r}",
    )
    raise repro.fail(f"{name} holds {got.tolist()!r}, expected {want.tolist()!r}: {why}", program)


# -- views: a view, its index map and how each dialect writes it --------------------------------
@dataclass(frozen=True)
class View:
    """One view: its description, the same view of a NumPy array, and the call on the engine
    with its source in each dialect (`{x}` stands for the viewed tensor)."""

    what: str
    on_numpy: Callable[[np.ndarray], np.ndarray]
    on_engine: Callable[[Any, Any], Any]
    torch_src: str
    adapter_src: str

    def take(self, backend: Any, repro: Repro, program: Program, name: str, base: str,
             env: dict[str, Any]) -> Any:  # fmt: skip
        """env[name] = the view of env[base], with its reproducer line."""
        with _run(
            repro, program, f"{name} = {base}.{self.what}",
            f"{name} = {self.torch_src.replace('{x}', base)}",
            f"env[{name!r}] = {self.adapter_src.replace('{x}', f'env[{base!r}]')}",
        ):  # fmt: skip
            env[name] = self.on_engine(backend, env[base])
        return env[name]


@st.composite
def _view(draw: Any, shape: tuple[int, ...], kinds: Sequence[str]) -> View:
    """One view of a tensor of `shape`, of a kind the engine has (a 0-d tensor: reshape or
    expand only)."""
    rank = len(shape)
    kind = draw(st.sampled_from([k for k in kinds if rank or k in ("reshape", "expand")]))
    if kind == "narrow":
        dim = draw(st.integers(0, rank - 1))
        start = draw(st.integers(0, shape[dim] - 1))
        length = draw(st.integers(1, shape[dim] - start))
        index = (slice(None),) * dim + (slice(start, start + length),)
        return View(
            f"narrow({dim}, {start}, {length})",
            lambda a: a[index],
            lambda b, t: b.narrow(t, dim, start, length),
            f"{{x}}.narrow({dim}, {start}, {length})",
            f"adapter.narrow({{x}}, {dim}, {start}, {length})",
        )
    if kind == "transpose":
        dim0, dim1 = draw(st.integers(0, rank - 1)), draw(st.integers(0, rank - 1))
        return _applied(
            f"transpose({dim0}, {dim1})", lambda a: np.swapaxes(a, dim0, dim1), "transpose",
            {"dim0": dim0, "dim1": dim1},
        )  # fmt: skip
    size = int(np.prod(shape))
    if kind == "reshape":
        target = draw(st.sampled_from([(size,), (1, size), (size, 1), shape[::-1]]))
        return _applied(
            f"reshape({target})", lambda a: np.reshape(a, target), "reshape",
            {"shape": list(target)},
        )  # fmt: skip
    # expand: a new leading dim, and each dim of size 1 widened
    lead = draw(st.integers(1, 2))
    wide = (lead, *(draw(st.integers(1, 3)) if n == 1 else n for n in shape))
    return _applied(
        f"expand({wide})", lambda a: np.broadcast_to(a, wide), "expand", {"shape": list(wide)}
    )


def _applied(
    what: str, on_numpy: Callable[[np.ndarray], np.ndarray], op: str, params: dict[str, Any]
) -> View:
    """A view from the op set, through `apply`."""
    return View(
        what,
        on_numpy,
        lambda b, t: b.apply(op, [t], params),
        f"{{x}}.{what}",
        f"adapter.apply({op!r}, [{{x}}], {params!r})",
    )


def _view_kinds(backend: Any, kinds: Sequence[str]) -> list[str]:
    have = [k for k in kinds if k == "narrow" or k in backend.capabilities.ops]
    if not have:
        pytest.skip(f"{NOT_APPLICABLE} the engine declares none of the views {list(kinds)}")
    return have


# -- VIEW-001 ------------------------------------------------------------------------------------
@requirement("VIEW-001")
@given(data=st.data())
def test_gradients_through_views(backend: Any, data: st.DataObject) -> None:
    kinds = _view_kinds(backend, ("narrow", "transpose", "reshape", "expand"))
    _require_ops(backend, "mul", "sum")
    dtype = _dtype(data, backend)
    zero_d = any(k in kinds for k in ("reshape", "expand"))
    shape = data.draw(shapes(min_rank=0 if zero_d else 1, max_rank=3, max_side=4), label="shape")
    x = data.draw(values(shape, dtype), label="x")
    program = Program((Input("x", x, True),), (), ("x",))
    env, repro = _setup(backend, program)
    # The index map: which element of x each element of the current view shows.
    index_map = np.arange(x.size).reshape(shape)
    name = "x"
    for k in range(data.draw(st.integers(1, 3), label="views")):
        view = data.draw(_view(index_map.shape, kinds), label=f"v{k}")
        view.take(backend, repro, program, f"v{k}", name, env)
        name, index_map = f"v{k}", view.on_numpy(index_map)
    seed = np.asarray(data.draw(values(index_map.shape, dtype), label="seed"))
    _constant(backend, repro, env, "seed", seed)
    _loss_backward(backend, repro, program, name, "seed", env)
    # Each element of x gets the seed summed over every element of the last view showing it.
    want = np.zeros(x.size)
    np.add.at(want, index_map.ravel(), seed.astype(np.float64).ravel())
    _expect_grads(
        backend, repro, program, env, {"x": want.reshape(shape)}, dtype,
        f"backward of ({name} * seed).sum() through views of x",
    )  # fmt: skip


def _constant(backend: Any, repro: Repro, env: dict[str, Any], name: str, array: np.ndarray,
              requires_grad: bool = False) -> None:  # fmt: skip
    env[name] = backend.tensor(array, requires_grad=requires_grad)
    flag = f", requires_grad={requires_grad}"
    repro.line(
        f"{name} = torch.tensor({literal(array)}, dtype=torch.{array.dtype.name}"
        f"{repro.device_kw}{flag})",
        f"env[{name!r}] = adapter.tensor(np.array({literal(array)}, dtype={array.dtype.name!r})"
        f"{flag})",
    )


# -- VIEW-002, VIEW-003: in-place ops on a non-leaf ---------------------------------------------
def _nonleaf_program(
    data: st.DataObject, backend: Any, extra: int, min_rank: int = 0, non_leaf: bool = True
) -> tuple[Program, str]:
    """x (requires grad) and k give b = x * k, a non-leaf (unless `non_leaf` is False); operands
    o0.. of b's shape (each requiring grad or not) and a seed s."""
    _require_ops(backend, "mul", "sum")
    dtype = _dtype(data, backend)
    shape = data.draw(shapes(min_rank=min_rank, max_rank=2, max_side=4), label="shape")
    inputs = [
        Input("x", data.draw(values(shape, dtype), label="x"), True),
        Input("k", data.draw(values(shape, dtype), label="k")),
    ]
    for n in range(extra):
        flag = data.draw(st.booleans(), label=f"o{n} requires grad")
        inputs.append(Input(f"o{n}", data.draw(values(shape, dtype), label=f"o{n}"), flag))
    inputs.append(Input("s", data.draw(values(shape, dtype), label="s")))
    steps = (Apply("b", "mul", ("x", "k")),) if non_leaf else ()
    return Program(tuple(inputs), steps, ("b",) if non_leaf else ("x",)), dtype


def _value(program: Program, name: str) -> np.ndarray:
    return next(i.value for i in program.inputs if i.name == name).astype(np.float64)


def _requires(program: Program, name: str) -> bool:
    return next(i.requires_grad for i in program.inputs if i.name == name)


@requirement("VIEW-002")
@given(data=st.data())
def test_inplace_on_non_leaf_gradients(backend: Any, data: st.DataObject) -> None:
    ops = data.draw(st.lists(st.sampled_from(INPLACE_OPS), min_size=1, max_size=3), label="ops")
    program, dtype = _nonleaf_program(data, backend, len(ops))
    env, repro = _setup(backend, program)
    for n, op in enumerate(ops):
        _inplace(backend, repro, program, op, "b", f"o{n}", env)
    _loss_backward(backend, repro, program, "b", "s", env)
    # The out-of-place program: b0 = x * k, b(n+1) = b(n) op o(n); loss = sum(b * s).
    k, s = _value(program, "k"), _value(program, "s")
    before = [_value(program, "x") * k]
    operands = [_value(program, f"o{n}") for n in range(len(ops))]
    for op, o in zip(ops, operands, strict=True):
        before.append(before[-1] + o if op == "add" else before[-1] * o)
    g, want = s, {}
    for n in reversed(range(len(ops))):
        if _requires(program, f"o{n}"):
            want[f"o{n}"] = g if ops[n] == "add" else g * before[n]
        g = g if ops[n] == "add" else g * operands[n]
    want["x"] = g * k
    chain = "; ".join(f"b.{op}_(o{n})" for n, op in enumerate(ops))
    _expect_grads(backend, repro, program, env, want, dtype, f"b = x * k; {chain}")


@requirement("VIEW-003")
@given(data=st.data(), op=st.sampled_from(INPLACE_OPS))
def test_inplace_rebases_history(backend: Any, data: st.DataObject, op: str) -> None:
    program, _ = _nonleaf_program(data, backend, 1)
    env, repro = _setup(backend, program)
    old = backend.grad_fn(env["b"])
    repro.line("old = b.grad_fn", "old = adapter.grad_fn(env['b'])")
    _inplace(backend, repro, program, op, "b", "o0", env)
    flags_line(repro, "b", is_leaf=False, requires_grad=True, grad_fn=True)
    expect_flags(
        backend, program, "b", env["b"], is_leaf=False, requires_grad=True, grad_fn=True,
        context=f"after b.{op}_(o0)", repro=repro,
    )  # fmt: skip
    new = backend.grad_fn(env["b"])
    repro.line(
        "assert b.grad_fn is not old and any(n is old for n, _ in b.grad_fn.next_functions), "
        "'b.grad_fn not rebased'",
        "new = adapter.grad_fn(env['b'])\nassert new is not old and any(n is old for n in "
        "adapter.next_nodes(new)), 'b.grad_fn not rebased'",
    )
    if new is old:
        raise repro.fail(
            f"after b = x * k; b.{op}_(o0), b.grad_fn is still b's old node: the in-place op "
            "was not recorded",
            program,
        )
    if not any(n is old for n in backend.next_nodes(new)):
        raise repro.fail(
            f"after b = x * k; b.{op}_(o0), b.grad_fn does not have b's old node among its next "
            "nodes: the in-place op was not recorded on top of b's history",
            program,
        )
    # k, a leaf that does not require grad, written with an operand that does, joins the graph.
    if not _requires(program, "o0"):
        return
    _inplace(backend, repro, program, op, "k", "o0", env)
    flags_line(repro, "k", is_leaf=False, requires_grad=True, grad_fn=True)
    expect_flags(
        backend, program, "k", env["k"], is_leaf=False, requires_grad=True, grad_fn=True,
        context=f"after k.{op}_(o0), o0 requiring grad", repro=repro,
    )  # fmt: skip


# -- VIEW-004, VIEW-005: in-place through a view -------------------------------------------------
@requirement("VIEW-004")
@given(data=st.data(), op=st.sampled_from(INPLACE_OPS))
def test_inplace_on_view_rebases_base(backend: Any, data: st.DataObject, op: str) -> None:
    kinds = _view_kinds(backend, ("narrow", "transpose"))
    program, dtype = _nonleaf_program(data, backend, 0, min_rank=1)
    shape = program.inputs[0].value.shape
    view = data.draw(_view(shape, kinds), label="view")
    region = view.on_numpy(np.arange(int(np.prod(shape))).reshape(shape))
    flag = data.draw(st.booleans(), label="w requires grad")
    w = data.draw(values(region.shape, dtype), label="w")
    env, repro = _setup(backend, program)
    _constant(backend, repro, env, "w", w, requires_grad=flag)
    old = backend.grad_fn(env["b"])
    repro.line("old = b.grad_fn", "old = adapter.grad_fn(env['b'])")
    view.take(backend, repro, program, "v", "b", env)
    _inplace(backend, repro, program, op, "v", "w", env)
    # The base's values, where the view shows them, are the in-place op's.
    k, s, x = _value(program, "k"), _value(program, "s"), _value(program, "x")
    b_old = (x * k).astype(dtype).ravel()
    b_new = b_old.copy()
    shown = region.ravel()
    b_new[shown] = b_new[shown] + w.ravel() if op == "add" else b_new[shown] * w.ravel()
    _expect_values(
        backend, repro, program, "b", env["b"], b_new.reshape(shape),
        f"v = b.{view.what}; v.{op}_(w) did not write b",
    )  # fmt: skip
    repro.line(
        "assert b.grad_fn is not old, 'b.grad_fn not rebased'",
        "assert adapter.grad_fn(env['b']) is not old, 'b.grad_fn not rebased'",
    )
    if backend.grad_fn(env["b"]) is old:
        raise repro.fail(
            f"after v = b.{view.what}; v.{op}_(w), b.grad_fn is still b's old node: the base's "
            "history was not rebased onto the write through its view",
            program,
        )
    _loss_backward(backend, repro, program, "b", "s", env)
    # Out of place: b' = b with b'[shown] = b[shown] op w; loss = sum(b' * s).
    g_base = s.ravel().copy()
    want = {}
    if flag:
        local = 1.0 if op == "add" else b_old[shown].astype(np.float64)
        want["w"] = (g_base[shown] * local).reshape(region.shape)
    if op == "mul":
        g_base[shown] = g_base[shown] * w.ravel()
    want["x"] = g_base.reshape(shape) * k
    _expect_grads(backend, repro, program, env, want, dtype, f"v = b.{view.what}; v.{op}_(w)")


@requirement("VIEW-005")
@given(data=st.data())
def test_inplace_on_view_of_leaf_refused(backend: Any, data: st.DataObject) -> None:
    kinds = _view_kinds(backend, ("narrow", "transpose", "reshape"))
    dtype = _dtype(data, backend)
    shape = data.draw(shapes(min_rank=1, max_rank=2, max_side=4), label="shape")
    view = data.draw(_view(shape, kinds), label="view")
    x = data.draw(values(shape, dtype), label="x")
    program = Program((Input("x", x, True),), (), ("x",))
    env, repro = _setup(backend, program)
    view.take(backend, repro, program, "v", "x", env)
    _constant(backend, repro, env, "c", np.ones(view.on_numpy(x).shape, dtype=dtype))
    what = f"v.add_(c) on v = x.{view.what}, a view of a leaf x that requires grad"
    refusal_lines(
        repro, "leaf_inplace", "v.add_(c)", "adapter.inplace('add', env['v'], env['c'])", what
    )
    expect_refusal(
        backend, "leaf_inplace", lambda: backend.inplace("add", env["v"], env["c"]),
        what=what, repro=repro, program=program,
    )  # fmt: skip
    _expect_values(backend, repro, program, "x", env["x"], x, "the refused write changed x")


# -- VIEW-006: detach ----------------------------------------------------------------------------
@requirement("VIEW-006")
@given(data=st.data(), of_non_leaf=st.booleans())
def test_detach_shares_storage_not_graph(
    backend: Any, data: st.DataObject, of_non_leaf: bool
) -> None:
    program, dtype = _nonleaf_program(data, backend, 1)
    env, repro = _setup(backend, program)
    # The original: the non-leaf b = x * k, or the leaf x itself.
    original = "b" if of_non_leaf else "x"
    _detach(backend, repro, program, "d", original, env)
    flags_line(repro, "d", is_leaf=True, requires_grad=False, grad_fn=False)
    expect_flags(
        backend, program, "d", env["d"], is_leaf=True, requires_grad=False, grad_fn=False,
        context=f"d = {original}.detach()", repro=repro,
    )  # fmt: skip
    # c does not require grad: d.add_(c) with c requiring grad would make d join a graph.
    _detach(backend, repro, program, "c", "o0", env)
    before = backend.to_numpy(env[original])
    _inplace(backend, repro, program, "add", "d", "c", env)
    flags_line(repro, "d", is_leaf=True, requires_grad=False, grad_fn=False)
    expect_flags(
        backend, program, "d", env["d"], is_leaf=True, requires_grad=False, grad_fn=False,
        context="after d.add_(c)", repro=repro,
    )  # fmt: skip
    c = _value(program, "o0").astype(dtype)
    _expect_values(
        backend, repro, program, original, env[original], (before + c).astype(dtype),
        f"d.add_(c) through d = {original}.detach() not seen in {original}",
    )  # fmt: skip
    _loss_backward(backend, repro, program, original, "s", env)
    s = _value(program, "s")
    want = s * _value(program, "k") if of_non_leaf else s
    _expect_grads(
        backend, repro, program, env, {"x": want}, dtype,
        f"d = {original}.detach(); d.add_(c); ({original} * s).sum().backward()",
    )  # fmt: skip


def _detach(backend: Any, repro: Repro, program: Program, name: str, of: str,
            env: dict[str, Any]) -> None:  # fmt: skip
    with _run(repro, program, f"{name} = {of}.detach()", f"{name} = {of}.detach()",
              f"env[{name!r}] = adapter.detach(env[{of!r}])"):  # fmt: skip
        env[name] = backend.detach(env[of])


# -- VIEW-007: a leaf written under no-grad --------------------------------------------------------
@requirement("VIEW-007")
@given(data=st.data())
def test_leaf_written_under_no_grad(backend: Any, data: st.DataObject) -> None:
    ops = data.draw(st.lists(st.sampled_from(INPLACE_OPS), min_size=1, max_size=2), label="ops")
    # x alone: no graph uses it yet (as in an optimizer step after backward).
    program, dtype = _nonleaf_program(data, backend, len(ops), non_leaf=False)
    env, repro = _setup(backend, program)
    x = _value(program, "x").astype(dtype)
    for n, op in enumerate(ops):
        _detach(backend, repro, program, f"c{n}", f"o{n}", env)
        o = _value(program, f"o{n}").astype(dtype)
        x = (x + o if op == "add" else x * o).astype(dtype)
        with _run(
            repro, program, f"x.{op}_(c{n}) under no-grad",
            f"with torch.no_grad():\n    x.{op}_(c{n})",
            f"with adapter.no_grad():\n    adapter.inplace({op!r}, env['x'], env['c{n}'])",
        ), backend.no_grad():  # fmt: skip
            backend.inplace(op, env["x"], env[f"c{n}"])
    flags_line(repro, "x", is_leaf=True, requires_grad=True, grad_fn=False)
    expect_flags(
        backend, program, "x", env["x"], is_leaf=True, requires_grad=True, grad_fn=False,
        context="after in-place ops under no-grad", repro=repro,
    )  # fmt: skip
    _expect_values(backend, repro, program, "x", env["x"], x, "the no-grad writes are lost")
    # (x * x * s).sum(): the gradient 2 x s at the new values.
    with _run(repro, program, "xx = x * x", "xx = x * x",
              "env['xx'] = adapter.apply('mul', [env['x'], env['x']], {})"):  # fmt: skip
        env["xx"] = backend.apply("mul", [env["x"], env["x"]], {})
    _loss_backward(backend, repro, program, "xx", "s", env)
    want = 2.0 * x.astype(np.float64) * _value(program, "s")
    _expect_grads(
        backend, repro, program, env, {"x": want}, dtype,
        "in-place ops on x under no-grad, then (x * x * s).sum().backward()",
    )  # fmt: skip


# -- VIEW-008: one version counter for a view and its base -----------------------------------------
@requirement("VIEW-008")
@given(data=st.data(), saved=st.sampled_from(("view", "base")))
def test_view_and_base_share_version(backend: Any, data: st.DataObject, saved: str) -> None:
    kinds = _view_kinds(backend, ("narrow", "transpose"))
    _require_ops(backend, "sin")
    program, _ = _nonleaf_program(data, backend, 1, min_rank=1)
    view = data.draw(_view(program.inputs[0].value.shape, kinds), label="view")
    env, repro = _setup(backend, program)
    view.take(backend, repro, program, "v", "b", env)
    # sin saves its operand; the other one of view and base is then written.
    read, written = ("v", "b") if saved == "view" else ("b", "v")
    with _run(repro, program, f"y = {read}.sin()", f"y = {read}.sin()",
              f"env['y'] = adapter.apply('sin', [env[{read!r}]], {{}})"):  # fmt: skip
        env["y"] = backend.apply("sin", [env[read]], {})
    _detach(backend, repro, program, "c", "o0", env)
    if written == "v":
        view.take(backend, repro, program, "c", "c", env)
    _inplace(backend, repro, program, "add", written, "c", env)
    with _run(repro, program, "loss = y.sum()", "loss = y.sum()",
              "loss = adapter.apply('sum', [env['y']], {'dim': None})"):  # fmt: skip
        loss = backend.apply("sum", [env["y"]], {"dim": None})
    what = f"loss.backward() after {written}.add_(c), where sin saved {read} (v = b.{view.what})"
    refusal_lines(repro, "modified_saved", "loss.backward()", "adapter.backward(loss)", what)
    expect_refusal(
        backend, "modified_saved", lambda: backend.backward(loss),
        what=what, repro=repro, program=program,
    )  # fmt: skip
