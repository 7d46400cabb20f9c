"""Small formatting helpers shared by the Markdown, HTML and JUnit writers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from conformance.report.statuses import (
    DEFINITIONS,
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    STATUSES,
    XFAIL,
    XPASS,
)

if TYPE_CHECKING:
    from conformance.report.records import BackendReport, Summary

ICONS = {status.name: status.icon for status in DEFINITIONS}
LABELS = {status.name: status.label for status in DEFINITIONS}


def number(value: Any) -> str:
    """An error or tolerance for people: 3 significant digits, "—" when absent."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if value == 0:
        return "0"
    return f"{value:.2e}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.3g}"


def tolerance(tol: Mapping[str, Any] | None) -> str:
    if not tol:
        return "—"
    return ", ".join(f"{k} {number(v)}" for k, v in tol.items())


def first_line(text: str | None, limit: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def counts_line(counts: Mapping[str, int]) -> str:
    return " · ".join(f"{counts[s]} {LABELS[s]}" for s in STATUSES if counts.get(s))


def verdict(report: BackendReport) -> str:
    """One sentence a reader sees first."""
    summary = report.summary
    counts = summary.requirements
    bad = counts[FAILED] + counts[ERROR]
    if report.crash is not None:
        return f"Incomplete: {report.crash.message}"
    applicable = summary.applicable
    if bad:
        return f"Does not conform: {bad} of {applicable} applicable requirements fail"
    if applicable == 0:
        return "No applicable requirement was checked"
    passing = counts[PASSED] + counts[XPASS]
    extras = [f"{counts[s]} {LABELS[s]}" for s in (XFAIL, SKIPPED) if counts[s]]
    extra = f" ({', '.join(extras)})" if extras else ""
    if not summary.conforms:  # complete and nothing failed, but nothing was checked either
        return f"Nothing checked: none of {applicable} applicable requirements ran{extra}"
    if passing == applicable:
        return f"Conforms: all {applicable} applicable requirements pass{extra}"
    return f"Conforms: {passing} of {applicable} applicable requirements pass, none fails{extra}"


def verdict_icon(report: BackendReport) -> str:
    if not report.complete:
        return "💥"
    return "✅" if report.summary.conforms else "❌"


def pass_rate(summary: Summary) -> str:
    rate = summary.pass_rate
    return "—" if rate is None else f"{100 * rate:.1f} %"


def backend_line(report: BackendReport) -> str:
    backend = report.backend
    parts = [
        f"{backend['name']} {backend.get('version') or ''}".strip() + f" on {backend['device']}",
        f"profile {report.profile}",
        f"seed {report.seed}",
        f"{report.summary.examples} examples",
        f"{report.duration_s:.1f} s",
        report.started,
    ]
    return " · ".join(parts)
