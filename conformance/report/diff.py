"""Regressions and fixes between two reports of the same suite.

A regression is a requirement that passed before and does not now (failed, error or an expected
failure), or one that was not failing before (not applicable, skipped, absent) and fails now. A fix
is the reverse: failing before, passing now. Everything else that changed is listed as a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.report import text
from conformance.report.records import BackendReport
from conformance.report.statuses import FAILING, PASSING, XFAIL

ABSENT = "absent"


@dataclass
class Diff:
    old_label: str
    new_label: str
    regressions: list[tuple[str, str, str]] = field(default_factory=list)
    """(requirement id, old status, new status)"""
    fixes: list[tuple[str, str, str]] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def diff_reports(old: BackendReport, new: BackendReport) -> Diff:
    result = Diff(old.label, new.label)
    if result.old_label != result.new_label:
        result.notes.append(
            f"comparing different backends: {result.old_label} -> {result.new_label}"
        )
    for name, report in (("old", old), ("new", new)):
        if report.crash is not None:
            result.notes.append(f"the {name} report is incomplete: {report.crash.message}")
    before = {r.id: r.status for r in old.requirements}
    after = {r.id: r.status for r in new.requirements}
    for rid in [*before, *(r for r in after if r not in before)]:
        was, now = before.get(rid, ABSENT), after.get(rid, ABSENT)
        if was == now:
            continue
        entry = (rid, was, now)
        broke = was in PASSING and now in FAILING | {XFAIL}
        if broke or (was not in FAILING | {XFAIL} and now in FAILING):
            result.regressions.append(entry)
        elif was in FAILING | {XFAIL} and now in PASSING:
            result.fixes.append(entry)
        else:
            result.changes.append(entry)
    return result


def render_diff(result: Diff) -> str:
    lines = [f"conformance diff {result.old_label} -> {result.new_label}"]
    lines += [f"note: {note}" for note in result.notes]
    for title, entries in (
        ("regressions", result.regressions),
        ("fixes", result.fixes),
        ("other changes", result.changes),
    ):
        lines.append(f"{title}: {len(entries)}")
        lines += [f"  {rid}: {_label(was)} -> {_label(now)}" for rid, was, now in entries]
    return "\n".join(lines) + "\n"


def _label(status: str) -> str:
    return text.LABELS.get(status, status)
