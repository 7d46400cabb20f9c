"""Grad modes: no_grad, enable_grad, set_grad_enabled and inference_mode, nested in any order, as
blocks and as decorators, left by exceptions, per thread; and inference tensors.

Each check runs a probe, `p = x * x` with x requiring grad, and compares what the engine reports
(is_grad_enabled(), whether p has a grad_fn, whether p is an inference tensor) with a model of
PyTorch's two per-thread flags, grad mode and inference mode, that every block sets on entry and
puts back on exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conformance.judge.checks import Repro, engine_must_not_raise, evaluate_line, flags_line
from conformance.spec.program import Apply, Input, Program
from conformance.spec.render import torch_step_lines

from .refusals import expect_refusal, refusal_lines
from .requirement import requirement
from .strategies import values
from .support import NON_VIEW_OPS, draw_program, expect_flags, float_dtypes, requires_grad_map

Mode = tuple[str, tuple[bool, ...]]
"""A grad-mode block as the adapter makes it: `adapter.grad_mode(name, *args)`."""

GRAD_BLOCKS: tuple[Mode, ...] = (
    ("no_grad", ()),
    ("enable_grad", ()),
    ("set_grad_enabled", (False,)),
    ("set_grad_enabled", (True,)),
)
INFERENCE_BLOCKS: tuple[Mode, ...] = (("inference_mode", (True,)), ("inference_mode", (False,)))
THREAD_TIMEOUT = 30.0
"""Seconds a helper thread may take; a hang is reported, never waited out."""


@dataclass(frozen=True)
class State:
    """PyTorch's two per-thread flags. Ops record when grad mode is on and inference mode off."""

    grad: bool = True
    inference: bool = False

    def enter(self, mode: Mode) -> State:
        name, args = mode
        if name == "inference_mode":
            # torch's InferenceMode guard: grad mode is the opposite of the inference flag
            return State(grad=not args[0], inference=args[0])
        return State(
            grad={"no_grad": False, "enable_grad": True}.get(name, any(args)),
            inference=self.inference,
        )

    @property
    def records(self) -> bool:
        return self.grad and not self.inference


def _call(prefix: str, mode: Mode) -> str:
    name, args = mode
    if prefix == "torch":
        return f"torch.{name}({', '.join(map(str, args))})"
    return f"adapter.grad_mode({', '.join([repr(name), *map(str, args)])})"


class _Leave(Exception):
    """Raised at the end of a block's body to leave the block by an exception."""


# -- the probe ----------------------------------------------------------------------------------
@dataclass
class Probe:
    """`p = x * x` for one x requiring grad, checked against a `State`; renders its own repro."""

    backend: Any
    x: Any
    program: Program
    inference: bool  # whether to check is_inference too

    @classmethod
    def draw(cls, backend: Any, data: st.DataObject, inference: bool) -> Probe:
        dtype = data.draw(st.sampled_from(sorted(float_dtypes(backend))), label="dtype")
        value = data.draw(values((2,), dtype), label="x")
        program = Program((Input("x", value, True),), (Apply("p", "mul", ("x", "x")),), ("p",))
        return cls(backend, backend.tensor(value, requires_grad=True), program, inference)

    def observe(self) -> tuple[bool, bool, bool]:
        p = self.backend.apply("mul", [self.x, self.x], {})
        is_inference = self.backend.is_inference(p) if self.inference else False
        return (self.backend.is_grad_enabled(), self.backend.grad_fn(p) is not None, is_inference)

    def wrong(self, want: State) -> str | None:
        """What differs from `want`, or None."""
        grad, recorded, is_inference = self.observe()
        problems = []
        if grad != want.grad:
            problems.append(f"is_grad_enabled() is {grad}, expected {want.grad}")
        if recorded != want.records:
            problems.append(
                f"x*x {'has' if recorded else 'has no'} grad_fn, expected "
                f"{'one' if want.records else 'none'}"
            )
        if self.inference and is_inference != want.inference:
            problems.append(f"x*x is_inference() is {is_inference}, expected {want.inference}")
        return "; ".join(problems) or None

    def lines(self, indent: str, want: State) -> tuple[str, str]:
        """The probe's check in both dialects."""
        torch = [
            f"{indent}p = x * x",
            f"{indent}assert torch.is_grad_enabled() == {want.grad}, 'is_grad_enabled'",
            f"{indent}assert (p.grad_fn is not None) == {want.records}, 'grad_fn'",
        ]
        generic = [
            f"{indent}p = adapter.apply('mul', [x, x], {{}})",
            f"{indent}assert adapter.is_grad_enabled() == {want.grad}, 'is_grad_enabled'",
            f"{indent}assert (adapter.grad_fn(p) is not None) == {want.records}, 'grad_fn'",
        ]
        if self.inference:
            torch.append(f"{indent}assert p.is_inference() == {want.inference}, 'is_inference'")
            generic.append(
                f"{indent}assert adapter.is_inference(p) == {want.inference}, 'is_inference'"
            )
        return "\n".join(torch), "\n".join(generic)


def _in_own_thread(backend: Any, check: Callable[[], None]) -> None:
    """Run an example's engine calls in a new thread, which starts in PyTorch's default modes
    (MODE-004): a mode an engine fails to restore then ends with the thread instead of
    misleading the examples after it. (Hypothesis draws must stay in the test's thread.)"""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            check()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            raised.append(exc)
        finally:
            # an engine whose modes are not per thread keeps them: put grad mode back at least
            if not backend.is_grad_enabled():
                backend.grad_mode("set_grad_enabled", True)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(THREAD_TIMEOUT)
    if thread.is_alive():
        raise AssertionError(f"the check did not finish within {THREAD_TIMEOUT:g} s")
    if raised:
        raise raised[0]


# -- MODE-001 / MODE-005: nested blocks -----------------------------------------------------------
@dataclass(frozen=True)
class Block:
    mode: Mode
    body: tuple[Block | None, ...]  # None is a probe
    raises: bool


@cache
def blocks(modes: tuple[Mode, ...], depth: int = 4) -> st.SearchStrategy[tuple[Block | None, ...]]:
    """Bodies of nested blocks: up to three items each, a probe (None) or a block."""
    item: st.SearchStrategy[Block | None] = st.none()
    if depth:
        inner = st.builds(
            Block, st.sampled_from(list(modes)), blocks(modes, depth - 1), st.booleans()
        )
        item = st.one_of(st.none(), inner)
    return st.lists(item, min_size=1, max_size=3).map(tuple)


class _Nesting:
    """Runs a drawn nesting with real `with` statements, probing as it goes, and writes the same
    nesting as source up to the first wrong probe."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.torch: list[str] = []
        self.generic: list[str] = []
        self.failure: str | None = None

    def run(self, body: Sequence[Block | None], state: State, level: int = 0) -> None:
        indent = "    " * level
        for item in body:
            if self.failure:
                return
            if item is None:
                self._probe(indent, state)
                continue
            torch_with = f"with {_call('torch', item.mode)}:"
            generic_with = f"with {_call('adapter', item.mode)}:"
            inner_level = level
            if item.raises:
                self._line(indent + "try:", indent + "try:")
                inner_level += 1
            inner = "    " * inner_level
            self._line(inner + torch_with, inner + generic_with)
            try:
                with self.probe.backend.grad_mode(item.mode[0], *item.mode[1]):
                    self.run(item.body, state.enter(item.mode), inner_level + 1)
                    if item.raises and not self.failure:
                        self._line(inner + "    raise KeyError('leave')")
                        raise _Leave
            except _Leave:
                self._line(indent + "except KeyError:\n" + indent + "    pass")
            if not self.failure:  # the block is over: the mode from before it must be back
                self._probe(indent, state)

    def _probe(self, indent: str, state: State) -> None:
        torch, generic = self.probe.lines(indent, state)
        self._line(torch, generic)
        self.failure = self.probe.wrong(state)

    def _line(self, torch: str, generic: str | None = None) -> None:
        self.torch.append(torch)
        self.generic.append(torch if generic is None else generic)

    def repro(self) -> Repro:
        return Repro(self.probe.backend).line("\n".join(self.torch), "\n".join(self.generic))


def _check_nesting(
    backend: Any, data: st.DataObject, modes: tuple[Mode, ...], inference: bool
) -> None:
    body = data.draw(blocks(modes), label="blocks")
    probe = Probe.draw(backend, data, inference)
    nesting = _Nesting(probe)
    _in_own_thread(backend, lambda: nesting.run(body, State()))
    if nesting.failure:
        raise nesting.repro().fail(f"at the last probe: {nesting.failure}", probe.program)


@requirement("MODE-001")
@given(data=st.data())
def test_grad_mode_follows_the_innermost_block(backend: Any, data: st.DataObject) -> None:
    _check_nesting(backend, data, GRAD_BLOCKS, inference=False)


@requirement("MODE-005")
@given(data=st.data())
def test_inference_mode_nests_with_the_grad_mode_blocks(backend: Any, data: st.DataObject) -> None:
    _check_nesting(backend, data, GRAD_BLOCKS + INFERENCE_BLOCKS, inference=True)


# -- MODE-002: set_grad_enabled as a call ---------------------------------------------------------
@requirement("MODE-002")
@given(
    calls=st.lists(st.booleans(), min_size=1, max_size=4),
    around=st.sampled_from([None, *GRAD_BLOCKS]),
    data=st.data(),
)
def test_set_grad_enabled_called_as_a_function(
    backend: Any, calls: list[bool], around: Mode | None, data: st.DataObject
) -> None:
    # The calls are made at the top level, or inside one block that must still restore the mode
    # it found when it ends.
    probe = Probe.draw(backend, data, inference=False)
    indent = "" if around is None else "    "
    repro = Repro(backend)
    if around is not None:
        repro.line(f"with {_call('torch', around)}:", f"with {_call('adapter', around)}:")
    failures: list[str] = []

    def check() -> None:
        block = backend.grad_mode(around[0], *around[1]) if around is not None else _no_block()
        with block:
            for flag in calls:
                backend.grad_mode("set_grad_enabled", flag)
                repro.line(
                    f"{indent}torch.set_grad_enabled({flag})",
                    f"{indent}adapter.grad_mode('set_grad_enabled', {flag})",
                )
                repro.line(*probe.lines(indent, State(grad=flag)))
                failures.extend(filter(None, [probe.wrong(State(grad=flag))]))
                if failures:
                    return
        if around is not None:
            repro.line(*probe.lines("", State()))
            failures.extend(filter(None, [probe.wrong(State())]))

    _in_own_thread(backend, check)
    if failures:
        raise repro.fail(f"at the last probe: {failures[0]}", probe.program)


@contextmanager
def _no_block() -> Iterator[None]:
    yield


# -- MODE-003 / MODE-006: decorators ---------------------------------------------------------------
def _check_decorator(
    backend: Any,
    data: st.DataObject,
    modes: Sequence[Mode],
    decorators: Sequence[Mode],
    inference: bool,
) -> None:
    # Enter some blocks (the caller's modes), decorate there, check decorating changed nothing,
    # then call the function (which probes inside, and may raise) and check the caller's modes
    # are back.
    caller = data.draw(st.lists(st.sampled_from(list(modes)), max_size=2), label="caller blocks")
    decorator = data.draw(st.sampled_from(list(decorators)), label="decorator")
    raises = data.draw(st.booleans(), label="function raises")
    probe = Probe.draw(backend, data, inference)
    state = State()
    repro = Repro(backend)
    for level, mode in enumerate(caller):
        indent = "    " * level
        repro.line(
            f"{indent}with {_call('torch', mode)}:", f"{indent}with {_call('adapter', mode)}:"
        )
        state = state.enter(mode)
    indent = "    " * len(caller)
    inside = state.enter(decorator)
    torch_probe, generic_probe = probe.lines(indent + "    ", inside)
    leave = f"\n{indent}    raise KeyError('leave')" if raises else ""
    repro.line(
        f"{indent}@{_call('torch', decorator)}\n{indent}def f():\n{torch_probe}{leave}",
        f"{indent}@{_call('adapter', decorator)}\n{indent}def f():\n{generic_probe}{leave}",
    )
    failures: list[str] = []

    def body() -> None:
        wrong = probe.wrong(inside)
        if wrong:
            failures.append(f"inside the decorated function: {wrong}")
        if raises:
            raise _Leave

    def after(what: str) -> bool:
        repro.line(*probe.lines(indent, state))
        wrong = probe.wrong(state)
        if wrong:
            failures.append(f"{what}: {wrong}")
        return not wrong

    def check() -> None:
        with _nested(backend, caller):
            decorated = backend.grad_mode(decorator[0], *decorator[1])(body)
            if after("after decorating"):
                call = "try:\n    f()\nexcept KeyError:\n    pass" if raises else "f()"
                repro.line("\n".join(indent + line for line in call.splitlines()))
                with suppress(_Leave):
                    decorated()
                if not failures:
                    after(f"after the decorated function {'raised' if raises else 'returned'}")

    _in_own_thread(backend, check)
    if failures:
        raise repro.fail(failures[0], probe.program)


@contextmanager
def _nested(backend: Any, modes: Sequence[Mode]) -> Iterator[None]:
    if not modes:
        yield
        return
    with backend.grad_mode(modes[0][0], *modes[0][1]), _nested(backend, modes[1:]):
        yield


@requirement("MODE-003")
@given(data=st.data())
def test_grad_mode_blocks_work_as_decorators(backend: Any, data: st.DataObject) -> None:
    _check_decorator(backend, data, GRAD_BLOCKS, GRAD_BLOCKS, inference=False)


@requirement("MODE-006")
@given(data=st.data())
def test_inference_mode_works_as_a_decorator(backend: Any, data: st.DataObject) -> None:
    _check_decorator(
        backend, data, GRAD_BLOCKS + INFERENCE_BLOCKS, INFERENCE_BLOCKS, inference=True
    )


# -- MODE-004: threads ---------------------------------------------------------------------------
def _in_thread(fn: Callable[[], None], until: threading.Event | None = None) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    if until is None:
        thread.join(THREAD_TIMEOUT)
    else:
        until.wait(THREAD_TIMEOUT)
    return thread


@requirement("MODE-004")
@given(data=st.data())
def test_grad_mode_belongs_to_a_thread(backend: Any, data: st.DataObject) -> None:
    # Two directions: a thread started inside the main thread's no_grad block, and the main
    # thread while another thread sits inside a no_grad block. Each applies the program's steps
    # and must see grad mode on; the program's static flags say which steps require grad.
    program = draw_program(data, backend, ops=NON_VIEW_OPS, max_steps=3)
    flags = requires_grad_map(program)
    tensors = program.make_inputs(backend)
    seen: dict[str, Any] = {}
    errors: list[BaseException] = []

    def evaluate(into: str) -> None:
        try:
            seen[into] = program.evaluate(backend, tensors)
        except BaseException as exc:  # noqa: BLE001 - reported from the main thread
            errors.append(exc)

    steps = _indented(torch_step_lines(program)[:-1])
    names = ", ".join(step.name for step in program.steps)
    repro = Repro(backend).line(
        f"import threading\ndef run():\n    global {names}\n{steps}\n"
        "with torch.no_grad():\n    t = threading.Thread(target=run); t.start(); t.join()",
        "import threading\nseen = {}\n"
        "def run():\n    seen['env'] = program.evaluate(adapter, tensors)\n"
        "with adapter.no_grad():\n    t = threading.Thread(target=run); t.start(); t.join()\n"
        "env = seen['env']",
    )
    with engine_must_not_raise("the program, run in a thread", repro, program):
        with backend.no_grad():
            thread = _in_thread(lambda: evaluate("thread"))
        if errors:
            raise errors[0]
    _expect_recorded(
        backend,
        program,
        flags,
        seen,
        "thread",
        thread,
        repro,
        "in a thread started inside the main thread's no_grad block",
    )

    entered, release = threading.Event(), threading.Event()

    def hold_no_grad() -> None:
        try:
            with backend.no_grad():
                entered.set()
                release.wait(THREAD_TIMEOUT)
        except BaseException as exc:  # noqa: BLE001 - reported from the main thread
            errors.append(exc)
            entered.set()

    holder = _in_thread(hold_no_grad, until=entered)
    try:
        with engine_must_not_raise(
            "the program, run while another thread is in no_grad", Repro(backend), program
        ):
            if errors:
                raise errors[0]
            evaluate("main")
            if errors:
                raise errors[0]
    finally:
        release.set()
        holder.join(THREAD_TIMEOUT)
    hold = (
        "import threading\nentered, release = threading.Event(), threading.Event()\n"
        "def hold():\n    with {}.no_grad():\n        entered.set(); release.wait()\n"
        "threading.Thread(target=hold, daemon=True).start(); entered.wait()\n"
    )
    repro = Repro(backend).line(
        hold.format("torch") + "\n".join(torch_step_lines(program)[:-1]),
        hold.format("adapter") + evaluate_line(),
    )
    _expect_recorded(
        backend,
        program,
        flags,
        seen,
        "main",
        holder,
        repro,
        "in the main thread while another thread is inside a no_grad block",
    )


def _indented(lines: Sequence[str]) -> str:
    return "\n".join("    " + line for line in lines)


def _expect_recorded(
    backend: Any,
    program: Program,
    flags: dict[str, bool],
    seen: dict[str, Any],
    key: str,
    thread: threading.Thread,
    repro: Repro,
    where: str,
) -> None:
    if key not in seen:
        alive = " (still running)" if thread.is_alive() else ""
        raise repro.fail(f"the program did not finish {where}{alive}", program)
    env = seen[key]
    for step in program.steps:
        want = flags[step.name]  # an op result requires grad exactly when it records
        flags_line(repro, step.name, requires_grad=want, grad_fn=want)
        expect_flags(
            backend,
            program,
            step.name,
            env[step.name],
            requires_grad=want,
            grad_fn=want,
            context=where,
            repro=repro,
        )


# -- MODE-007: inference tensors -----------------------------------------------------------------
@requirement("MODE-007")
@given(data=st.data())
def test_inference_mode_results_are_inference_tensors(backend: Any, data: st.DataObject) -> None:
    program = draw_program(data, backend, ops=NON_VIEW_OPS)

    def check() -> None:
        tensors = program.make_inputs(backend)
        repro = _inside_inference_mode(backend, program)
        with (
            engine_must_not_raise("the program under inference_mode()", repro, program),
            backend.grad_mode("inference_mode"),
        ):
            inside = program.evaluate(backend, tensors)
        outside = program.evaluate(backend, tensors)
        for inp, tensor in zip(program.inputs, tensors, strict=True):
            if backend.is_inference(tensor):
                raise _is_inference_line(Repro(backend), inp.name, False).fail(
                    f"input {inp.name}, made outside inference mode, is an inference tensor",
                    program,
                )
        for step in program.steps:
            what = f"{step.name} = {step.op}({', '.join(step.args)})"
            if not backend.is_inference(inside[step.name]):
                raise _is_inference_line(
                    _inside_inference_mode(backend, program), step.name, True
                ).fail(
                    f"{what} computed inside inference_mode() is not an inference tensor", program
                )
            repro = _inside_inference_mode(backend, program)
            flags_line(repro, step.name, requires_grad=False, grad_fn=False)
            expect_flags(
                backend,
                program,
                step.name,
                inside[step.name],
                requires_grad=False,
                grad_fn=False,
                context="computed inside inference_mode()",
                repro=repro,
            )
            if backend.is_inference(outside[step.name]):
                repro = Repro(backend).line("", evaluate_line())
                raise _is_inference_line(repro, step.name, False).fail(
                    f"{what} computed outside inference mode is an inference tensor", program
                )

    _in_own_thread(backend, check)


def _inside_inference_mode(backend: Any, program: Program) -> Repro:
    """The program's steps run again inside an inference_mode() block, in both dialects."""
    return Repro(backend).line(
        "with torch.inference_mode():\n" + _indented(torch_step_lines(program)[:-1]),
        "with adapter.grad_mode('inference_mode'):\n    " + evaluate_line(),
    )


def _is_inference_line(repro: Repro, name: str, want: bool) -> Repro:
    return repro.line(
        f"assert {name}.is_inference() == {want}, '{name}.is_inference()'",
        f"assert adapter.is_inference(env[{name!r}]) == {want}, 'is_inference'",
    )


# -- MODE-008: saving an inference tensor for backward -------------------------------------------
SAVES = ("mul", "div", "matmul")
"""Ops whose backward for one operand needs the other operand's values."""
SAVES_NOTHING = ("add", "sub")


@requirement("MODE-008")
@given(data=st.data())
def test_inference_tensor_cannot_be_saved_for_backward(backend: Any, data: st.DataObject) -> None:
    dtypes = sorted(float_dtypes(backend))
    w_dtype = data.draw(st.sampled_from(dtypes), label="w dtype")
    x_dtype = data.draw(st.sampled_from(dtypes), label="x dtype")
    n = data.draw(st.integers(1, 4), label="size")
    w_value = data.draw(values((n,), w_dtype, avoid_zero=0.25), label="w")
    x_value = data.draw(values((n,), x_dtype, avoid_zero=0.25), label="x0")
    ops = [op for op in SAVES + SAVES_NOTHING if op in backend.capabilities.ops]
    op = data.draw(st.sampled_from(ops), label="op")
    x_first = data.draw(st.booleans(), label="inference tensor first")
    program = Program(
        (Input("w", w_value, True), Input("x0", x_value, False)),
        (Apply("x", "neg", ("x0",)),),
        ("x",),
    )

    def check() -> None:
        w = backend.tensor(w_value, requires_grad=True)
        x0 = backend.tensor(x_value)
        with backend.grad_mode("inference_mode"):
            x = backend.apply("neg", [x0], {})
        operands = [x, w] if x_first else [w, x]
        names = "x, w" if x_first else "w, x"
        torch_expr = {
            "mul": "{} * {}",
            "div": "{} / {}",
            "matmul": "{} @ {}",
            "add": "{} + {}",
            "sub": "{} - {}",
        }[op].format(*names.split(", "))
        repro = Repro(backend).line(
            "with torch.inference_mode():\n    x = -x0",
            "with adapter.grad_mode('inference_mode'):\n    x = adapter.apply('neg', [x0], {})",
        )
        what = f"{op}({names}), x an inference tensor and w requiring grad"
        if op in SAVES_NOTHING:
            repro.line(f"out = {torch_expr}", f"out = adapter.apply({op!r}, [{names}], {{}})")
            with engine_must_not_raise(what, repro, program):
                out = backend.apply(op, operands, {})
            if backend.grad_fn(out) is None:
                repro.line(
                    "assert out.grad_fn is not None", "assert adapter.grad_fn(out) is not None"
                )
                raise repro.fail(f"{what}, recorded no grad_fn", program)
            return
        refusal_lines(
            repro, "inference_saved", torch_expr, f"adapter.apply({op!r}, [{names}], {{}})", what
        )
        expect_refusal(
            backend,
            "inference_saved",
            lambda: backend.apply(op, operands, {}),
            what=what,
            repro=repro,
            program=program,
        )

    _in_own_thread(backend, check)
