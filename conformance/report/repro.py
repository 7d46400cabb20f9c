"""Standalone reproducers: the failing program rendered for the backend, then the failing check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from conformance.errors import UsageError

if TYPE_CHECKING:
    from conformance.report.records import BackendReport, Failure


def reproducer_source(
    program: Mapping[str, Any] | None, check: str | None, backend: Mapping[str, Any]
) -> str | None:
    """Python source a reader can run on its own; None when the failure left no program."""
    if program is None or check is None:
        return None
    from conformance.spec.program import Program
    from conformance.spec.render import render_program

    try:
        parsed = Program.from_dict(program)
    except (KeyError, TypeError, ValueError):
        return None
    device = backend.get("device") or "cpu"
    return render_program(parsed, str(backend["name"]), device) + "\n" + check.rstrip() + "\n"


def find_reproducer(report: BackendReport, ident: str) -> tuple[str, list[str]]:
    """The reproducer for requirement or test `ident`, and the test ids of other failures."""
    failures = _failures_for(report, ident)
    with_source = [f for f in failures if f.reproducer]
    if not with_source:
        if failures:
            message = failures[0].message or "no message"
            raise UsageError(
                f"{ident} failed without a recorded counterexample program, so there is no "
                f"reproducer; the failure was: {message.splitlines()[0] if message else ''}"
            )
        raise UsageError(f"{ident} has no failure in this report; nothing to reproduce")
    first = with_source[0]
    others = [f.nodeid for f in with_source[1:]]
    return str(first.reproducer), others


def _failures_for(report: BackendReport, ident: str) -> list[Failure]:
    requirement = report.requirement(ident)
    if requirement is not None:
        return list(requirement.failures)
    for requirement in report.requirements:
        hits = [f for f in requirement.failures if f.nodeid == ident]
        if hits:
            return hits
    if any(test.nodeid == ident for test in report.tests):
        return []
    known = ", ".join(r.id for r in report.requirements[:8])
    raise UsageError(
        f"no requirement or test {ident!r} in this report (requirements: {known}"
        f"{', ...' if len(report.requirements) > 8 else ''})"
    )
