"""What a check leaves behind: measured errors for the report, and on failure the counterexample.

Suites never build report entries themselves. A check that compares numbers calls `measure`; a
check that fails raises `Nonconformance` carrying the program it failed on and the source of the
check, from which the report's standalone reproducer is rendered. The pytest plugin installs a
`Collector` around each test and reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.spec.program import Program


@dataclass
class Collector:
    """Evidence gathered while one requirement's test runs (over all its examples)."""

    examples: int = 0
    """Valid examples only (see `valid_examples`)."""
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


COUNTED_PHASES = ("reuse-phase", "generate-phase")
"""Hypothesis phases whose test cases are examples of the test: the replay of saved failures and
generation (targeting runs inside it). Shrinking and explaining re-run variations of a failure
already found; they are not counted."""
VALID_STATUSES = ("valid", "interesting")
"""Test cases that ran to completion (valid) or failed (interesting); an overrun or an invalid
one (rejected by `assume` or a filter: hypothesis's UnsatisfiedAssumption) is not an example."""


def valid_examples(statistics: Mapping[str, Any]) -> int:
    """Examples that ran to completion or failed, from hypothesis's statistics of one test."""
    return sum(
        1
        for phase in COUNTED_PHASES
        for case in statistics.get(phase, {}).get("test-cases", [])
        if case.get("status") in VALID_STATUSES
    )


def note_statistics(statistics: Mapping[str, Any]) -> None:
    """Count the valid examples of a hypothesis run (the plugin passes hypothesis's statistics)."""
    if _current is not None:
        _current.examples += valid_examples(statistics)


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
