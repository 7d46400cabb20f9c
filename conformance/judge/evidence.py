"""What a check leaves behind: measured errors for the report, and on failure the counterexample.

Suites never build report entries themselves. A check that compares numbers calls `measure`; a
check that fails raises `Nonconformance` carrying the program it failed on and the source of the
check, from which the report's standalone reproducer is rendered. The pytest plugin installs a
`Collector` around each test and reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.spec.program import Program


@dataclass
class Collector:
    """Evidence gathered while one requirement's test runs (over all its examples)."""

    examples: int = 0
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    tolerance: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)

    def measure(self, abs_error: float, rel_error: float, rtol: float, atol: float) -> None:
        self.max_abs_error = max(abs_error, self.max_abs_error or 0.0)
        self.max_rel_error = max(rel_error, self.max_rel_error or 0.0)
        self.tolerance = {"rtol": rtol, "atol": atol}


_current: Collector | None = None


def start() -> Collector:
    global _current
    _current = Collector()
    return _current


def stop() -> Collector | None:
    global _current
    collector, _current = _current, None
    return collector


def example() -> None:
    """Count one generated example (called once per hypothesis example by the fixtures)."""
    if _current is not None:
        _current.examples += 1


def measure(abs_error: float, rel_error: float, rtol: float, atol: float) -> None:
    if _current is not None:
        _current.measure(abs_error, rel_error, rtol, atol)


class Nonconformance(AssertionError):
    """A requirement is violated; carries what a reader needs to reproduce it.

    `program` is the (shrunk) computation; `check` is Python source that, appended to the
    program's rendering for the backend, performs the failing check and raises AssertionError.
    """

    def __init__(
        self,
        message: str,
        *,
        program: Program | None = None,
        check: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.program = program
        self.check = check
        self.details = details or {}
