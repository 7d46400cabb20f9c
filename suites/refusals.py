"""Refusals: where PyTorch raises, the engine must raise too, at the same call, and an exception of
a class its adapter declares for that kind of refusal (`refusals`, keyed by
conformance.protocol.REFUSAL_KINDS). "Any exception" is never enough: an adapter that crashes
with an unrelated TypeError has not refused anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.judge.checks import Repro
from conformance.judge.evidence import Nonconformance
from conformance.protocol import REFUSAL_KINDS
from conformance.spec.program import Program


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _declared(adapter: Any, kind: str) -> tuple[type[Exception], ...] | str:
    """The classes the adapter declares for `kind`, or why its declaration cannot be used."""
    if kind not in REFUSAL_KINDS:
        raise KeyError(f"unknown refusal kind {kind!r}: add it to REFUSAL_KINDS")
    where = f"{type(adapter).__name__}.refusals"
    classes = getattr(adapter, "refusals", {}).get(kind)
    if classes is None:
        return (
            f"the adapter declares no exception class for this kind of refusal ({kind!r}: "
            f"{REFUSAL_KINDS[kind]}); its author must add the class the engine raises to {where}"
        )
    if isinstance(classes, type):
        classes = (classes,)
    for cls in classes:
        # A catch-all would accept any crash as a refusal, which is what the check is against.
        if not (isinstance(cls, type) and issubclass(cls, Exception)) or cls is Exception:
            return f"{where}[{kind!r}] must name exception classes narrower than Exception"
    return tuple(classes)


def refusal_lines(repro: Repro, kind: str, torch_src: str, adapter_src: str, what: str) -> None:
    """Both dialects: the call must raise the declared class (RuntimeError in PyTorch)."""
    message = f"{what} did not raise"
    repro.line(
        f"try:\n    {torch_src}\nexcept RuntimeError:\n    pass\nelse:\n"
        f"    raise AssertionError({message!r})",
        f"try:\n    {adapter_src}\nexcept tuple(type(adapter).refusals[{kind!r}]):\n    pass\n"
        f"else:\n    raise AssertionError({message!r})",
    )


def expect_refusal(
    adapter: Any,
    kind: str,
    call: Callable[[], object],
    *,
    what: str,
    repro: Repro,
    program: Program | None,
) -> None:
    """Run `call`; it must raise one of the classes the adapter declares for `kind`. Raising
    nothing, raising another class, or raising where the adapter declares nothing, fails with a
    message saying which. The caller has already added the call to `repro` (refusal_lines)."""
    declared = _declared(adapter, kind)
    try:
        call()
    except (Nonconformance, MemoryError):
        raise  # running out of memory is the run's fault, never the engine's finding
    except Exception as exc:  # noqa: BLE001 - judged below against the declared classes
        if isinstance(declared, str):
            raise repro.fail(f"{what} raised {_first_line(exc)}, but {declared}", program) from exc
        if isinstance(exc, declared):
            return
        names = ", ".join(cls.__name__ for cls in declared)
        raise repro.fail(
            f"{what} raised {_first_line(exc)}, not the refusal the adapter declares for "
            f"{kind!r} ({names}): an unrelated error is not a refusal",
            program,
        ) from exc
    raise repro.fail(
        f"{what} did not raise (PyTorch refuses: {REFUSAL_KINDS[kind]}, with RuntimeError)",
        program,
    )
