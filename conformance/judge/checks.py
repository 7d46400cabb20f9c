"""Shared assertion helpers for the suites: judge, and on failure raise `Nonconformance` carrying
the program and the source of a check that reproduces the failure.

A check's source is appended to `conformance.spec.render.render_program(program, backend, device)`.
Engines with PyTorch's API get it in PyTorch terms (the program's inputs, steps and `outputs` are
local variables; `torch` is the engine); every other engine gets it in adapter-protocol terms
(`adapter`, `program`, `tensors`, the inputs and `outputs` are defined). `Repro` writes both and
picks the one the backend under test renders to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.judge.evidence import Nonconformance
from conformance.spec.program import Program
from conformance.spec.render import TORCH_DIALECTS, literal
from conformance.spec.tolerances import Tolerance

PRELUDE = """\
def _host(t):
    return None if t is None else np.asarray(t if isinstance(t, np.ndarray) else t.tolist(),
                                             dtype=np.float64)
def _close(label, got, want, rtol, atol, scale=0.0):
    got, want = _host(got), np.asarray(want, dtype=np.float64)
    assert got is not None and got.shape == want.shape, (
        f"{label}: got {None if got is None else got.shape}, expected shape {want.shape}")
    scale = max(1.0, float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0)), scale)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    bad = ~same & ~(np.abs(got - want) <= atol * scale + rtol * np.abs(want))
    where = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else None
    assert where is None, (f"{label}: got {got[where]!r} expected {want[where]!r} at "
                           f"{list(where)}; max abs error {np.max(np.abs(got - want)):.3g} "
                           f"(rtol {rtol:g}, atol {atol:g} x {scale:.3g})")
"""


def is_torch_dialect(adapter: Any) -> bool:
    return adapter.name in TORCH_DIALECTS


@dataclass
class Repro:
    """The check's source in both dialects, built line by line."""

    adapter: Any
    torch: list[str] = field(default_factory=list)
    generic: list[str] = field(default_factory=list)
    prelude: bool = False
    scale: float = 0.0
    """The computation's largest magnitude, passed on to `_close` (see numerics.compare)."""

    def line(self, torch_src: str, adapter_src: str | None = None) -> Repro:
        self.torch.append(torch_src)
        self.generic.append(torch_src if adapter_src is None else adapter_src)
        return self

    def close(
        self, label: str, torch_got: str, adapter_got: str, want: np.ndarray, tol: Tolerance
    ) -> Repro:
        """Assert a value is within `tol` of `want` (None or a wrong shape fails)."""
        self.prelude = True
        want_src = f"np.array({literal(np.asarray(want, dtype=np.float64))})"
        args = f"{want_src}, {tol.rtol!r}, {tol.atol!r}, {self.scale!r})"
        return self.line(
            f"_close({label!r}, {torch_got}, {args}", f"_close({label!r}, {adapter_got}, {args}"
        )

    @property
    def device_kw(self) -> str:
        """`, device=...` for tensors made in PyTorch-dialect checks (omitted on the CPU, where
        the reference engine takes no device argument)."""
        device = getattr(self.adapter, "device", "cpu")
        return "" if device == "cpu" else f", device={device!r}"

    def source(self) -> str:
        lines = self.torch if is_torch_dialect(self.adapter) else self.generic
        body = "\n".join(line for line in lines if line)
        return "import numpy as np\n" + (PRELUDE if self.prelude else "") + body

    def fail(self, message: str, program: Program | None, **details: Any) -> Nonconformance:
        return Nonconformance(message, program=program, check=self.source(), details=details)


def evaluate_line() -> str:
    """Adapter dialect: rebuild every value of the program (inputs reused) into `env`."""
    return "env = program.evaluate(adapter, tensors); outputs = [env[o] for o in program.outputs]"


def flags_line(
    repro: Repro,
    name: str,
    *,
    is_leaf: bool | None = None,
    requires_grad: bool | None = None,
    grad_fn: bool | None = None,
) -> None:
    """Assert a value's is_leaf / requires_grad / grad_fn presence, in both dialects."""
    want = {"is_leaf": is_leaf, "requires_grad": requires_grad, "has grad_fn": grad_fn}
    torch_of = {
        "is_leaf": f"{name}.is_leaf",
        "requires_grad": f"{name}.requires_grad",
        "has grad_fn": f"({name}.grad_fn is not None)",
    }
    v = f"env[{name!r}]"
    adapter_of = {
        "is_leaf": f"adapter.is_leaf({v})",
        "requires_grad": f"adapter.requires_grad({v})",
        "has grad_fn": f"(adapter.grad_fn({v}) is not None)",
    }
    for key, expected in want.items():
        if expected is None:
            continue
        message = f"{name}: {key} is {{got}}, expected {expected}"
        repro.line(
            f"got = {torch_of[key]}; assert got == {expected}, f{message!r}",
            f"got = {adapter_of[key]}; assert got == {expected}, f{message!r}",
        )


@contextmanager
def engine_must_not_raise(what: str, repro: Repro, program: Program | None) -> Iterator[None]:
    """An engine exception where PyTorch raises none is a nonconformance, not a harness error."""
    try:
        yield
    except (Nonconformance, MemoryError):
        raise  # running out of memory is the run's fault, never the engine's finding
    except Exception as exc:  # noqa: BLE001 - any engine exception is the finding
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise repro.fail(
            f"{what} raised {type(exc).__name__}: {text} (PyTorch raises nothing here)", program
        ) from exc


def cotangent_literals(cotangents: Sequence[np.ndarray], dtypes: Sequence[str]) -> list[str]:
    return [
        f"np.array({literal(np.asarray(c, dtype=np.float64))}).astype({d!r})"
        for c, d in zip(cotangents, dtypes, strict=True)
    ]


def vjp_repro(
    adapter: Any,
    program: Program,
    cotangents: Sequence[np.ndarray],
    expected: Mapping[str, np.ndarray | None],
    tolerance: Tolerance,
    label: str,
    scale: float = 0.0,
) -> Repro:
    """Source that recomputes the VJP of the rendered program (w.r.t. the inputs named in
    `expected`) and compares each gradient with its expected literal; None expects nothing (the
    check then only shows that the VJP runs, or raises)."""
    repro = Repro(adapter, scale=scale)
    names = list(expected)
    out_dtypes = ["float64"] * len(cotangents)
    cot = cotangent_literals(cotangents, out_dtypes)
    repro.prelude = True
    wrt = ", ".join(names)
    repro.line(
        f"cots = [{', '.join(cot)}]",
        f"cots = [{', '.join(cot)}]",
    )
    repro.line(
        f"pairs = [(o, torch.tensor(c, dtype=o.dtype{repro.device_kw})) "
        "for o, c in zip(outputs, cots) if o.requires_grad]",
        "from conformance.judge.numerics import program_vjp",
    )
    repro.line(
        f"grads = dict(zip({names!r}, torch.autograd.grad([o for o, _ in pairs], [{wrt}], "
        "grad_outputs=[c for _, c in pairs], allow_unused=True)))",
        "_, grads = program_vjp(adapter, program, cots)",
    )
    for name in names:
        want = expected[name]
        if want is None:
            continue
        shape = np.shape(program_input(program, name))
        # A gradient the engine leaves undefined (None) counts as zeros, as in the suites.
        got = f"(np.zeros({shape!r}) if grads[{name!r}] is None else grads[{name!r}])"
        repro.close(f"{label} {name}", got, got, want, tolerance)
    return repro


@contextmanager
def vjp_must_not_raise(
    adapter: Any, program: Program, cotangents: Sequence[np.ndarray]
) -> Iterator[None]:
    """The backend's forward or VJP raising where PyTorch does not is a nonconformance."""
    names = [i.name for i in program.inputs if i.differentiable]
    repro = vjp_repro(adapter, program, cotangents, dict.fromkeys(names), _ANY, "")
    with engine_must_not_raise("the forward or VJP of the program", repro, program):
        yield


_ANY = Tolerance(0.0, 0.0, "unused: the check only runs the VJP")


def program_input(program: Program, name: str) -> np.ndarray:
    return next(i.value for i in program.inputs if i.name == name)
