"""Statuses of tests and requirements, and how they combine."""

from __future__ import annotations

from collections.abc import Iterable

PASSED = "passed"
FAILED = "failed"
ERROR = "error"
XFAIL = "xfail"
XPASS = "xpass"
NOT_APPLICABLE = "not-applicable"
SKIPPED = "skipped"

STATUSES = (PASSED, FAILED, ERROR, XFAIL, XPASS, NOT_APPLICABLE, SKIPPED)
"""Report order."""

FAILING = frozenset({FAILED, ERROR})
"""Statuses that make a run nonconformant (exit code 1)."""
PASSING = frozenset({PASSED, XPASS})
"""Statuses that count towards the pass rate: an unexpected pass did pass."""

# Worst first. A requirement is as bad as its worst test: one failing test fails it, a skipped
# test means it was not fully checked, and it is not applicable only if none of its tests applied.
_SEVERITY = {ERROR: 6, FAILED: 5, XPASS: 4, XFAIL: 3, SKIPPED: 2, PASSED: 1, NOT_APPLICABLE: 0}


def worst(statuses: Iterable[str]) -> str | None:
    found = list(statuses)
    return max(found, key=_SEVERITY.__getitem__) if found else None


def severity(status: str) -> int:
    return _SEVERITY[status]
