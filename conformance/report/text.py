"""Small formatting helpers shared by the Markdown, HTML and JUnit writers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.report.statuses import (
    ERROR,
    FAILED,
    NOT_APPLICABLE,
    PASSED,
    SKIPPED,
    STATUSES,
    XFAIL,
    XPASS,
)

ICONS = {
    PASSED: "✅",
    FAILED: "❌",
    ERROR: "💥",
    XFAIL: "⚠️",
    XPASS: "❕",
    NOT_APPLICABLE: "➖",
    SKIPPED: "⏭️",
}
LABELS = {
    PASSED: "passed",
    FAILED: "failed",
    ERROR: "error",
    XFAIL: "expected failure",
    XPASS: "unexpected pass",
    NOT_APPLICABLE: "not applicable",
    SKIPPED: "skipped",
}


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


def verdict(report: Mapping[str, Any]) -> str:
    """One sentence a reader sees first."""
    summary = report["summary"]
    counts = summary["requirements"]
    bad = counts[FAILED] + counts[ERROR]
    if not report["complete"]:
        crash = report["crash"] or {}
        return f"Incomplete: {crash.get('message', 'the run did not finish')}"
    applicable = summary["applicable"]
    if bad:
        return f"Does not conform: {bad} of {applicable} applicable requirements fail"
    if applicable == 0:
        return "No applicable requirement was checked"
    passing = counts[PASSED] + counts[XPASS]
    extras = [f"{counts[s]} {LABELS[s]}" for s in (XFAIL, SKIPPED) if counts[s]]
    extra = f" ({', '.join(extras)})" if extras else ""
    if passing == applicable:
        return f"Conforms: all {applicable} applicable requirements pass{extra}"
    return f"Conforms: {passing} of {applicable} applicable requirements pass, none fails{extra}"


def verdict_icon(report: Mapping[str, Any]) -> str:
    if not report["complete"]:
        return "💥"
    return "✅" if report["summary"]["conforms"] else "❌"


def pass_rate(summary: Mapping[str, Any]) -> str:
    rate = summary.get("pass_rate")
    return "—" if rate is None else f"{100 * rate:.1f} %"


def backend_line(report: Mapping[str, Any]) -> str:
    backend = report["backend"]
    parts = [
        f"{backend['name']} {backend.get('version') or ''}".strip() + f" on {backend['device']}",
        f"profile {report['profile']}",
        f"seed {report['seed']}",
        f"{report['summary'].get('examples', 0)} examples",
        f"{report['duration_s']:.1f} s",
        report["started"],
    ]
    return " · ".join(parts)


def slug(name: str, device: str) -> str:
    """File stem of a backend's reports: ("torch", "cuda:1") -> "torch-cuda1"."""
    safe_name = "".join(c if c.isalnum() or c in "_-" else "." for c in name)
    safe_device = "".join(c for c in device if c.isalnum() or c in "_-")
    return f"{safe_name}-{safe_device}"
