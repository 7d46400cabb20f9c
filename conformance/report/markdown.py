"""The Markdown report: short enough for a CI step summary ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from conformance.report import text
from conformance.report.records import BackendReport, Crash
from conformance.report.statuses import PASSED

REPRODUCER_LIMIT = 6000
"""Characters of a reproducer shown inline; `conformance repro` prints it in full."""


def cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: BackendReport, json_name: str | None = None) -> str:
    summary = report.summary
    lines = [
        f"## {text.verdict_icon(report)} autograd-conformance: `{report.label}`",
        "",
        f"**{cell(text.verdict(report))}**",
        "",
        text.backend_line(report),
        "",
        *(
            [f"Parity counterpart: `{report.counterpart['label']}`", ""]
            if report.counterpart
            else []
        ),
        f"Requirements: {text.counts_line(summary.requirements) or 'none'} · "
        f"pass rate {text.pass_rate(summary)}",
        "",
    ]
    if report.crash is not None:
        lines += _crash(report.crash)
    lines += [
        "| Requirement | Title | Status | Examples | Max abs. error | Max rel. error | Tolerance |",
        "|---|---|---|--:|--:|--:|---|",
    ]
    for req in report.requirements:
        status = f"{text.ICONS[req.status]} {text.LABELS[req.status]}"
        errors = f"{text.number(req.max_abs_error)} | {text.number(req.max_rel_error)}"
        lines.append(
            f"| {req.id} | {cell(req.title)} | {status} | {req.examples} | {errors} | "
            f"{cell(text.tolerance(req.tolerance))} |"
        )
    lines.append("")
    lines += _failures(report, json_name)
    lines += _not_passing(report)
    lines += _expectations(report.expectations)
    return "\n".join(lines).rstrip() + "\n"


def _crash(crash: Crash) -> list[str]:
    lines = [f"> **Incomplete report.** {cell(crash.message)}", ""]
    if crash.log_tail:
        lines += ["<details><summary>Worker output (last lines)</summary>", "", "```text"]
        lines += [crash.log_tail.rstrip(), "```", "", "</details>", ""]
    return lines


def _failures(report: BackendReport, json_name: str | None) -> list[str]:
    failing = [r for r in report.requirements if r.failures]
    if not failing:
        return []
    lines = ["### Failures", ""]
    for req in failing:
        for failure in req.failures:
            lines += [
                f"<details><summary><b>{req.id}</b> {text.LABELS[failure.status]}: "
                f"{html.escape(text.first_line(failure.message), quote=False)}</summary>",
                "",
                f"Test: `{failure.nodeid}`",
                "",
                "```text",
                (failure.message or "").rstrip(),
                "```",
                "",
            ]
            source = failure.reproducer
            if source:
                shown = source if len(source) <= REPRODUCER_LIMIT else source[:REPRODUCER_LIMIT]
                command = f"conformance repro {json_name or 'REPORT.json'} {failure.nodeid}"
                lines += [f"Standalone reproducer (`{command}`):", "", "```python", shown.rstrip()]
                if shown is not source:
                    lines.append("# ... truncated; the command above prints it in full")
                lines += ["```", ""]
            lines += ["</details>", ""]
    return lines


def _not_passing(report: BackendReport) -> list[str]:
    """Why requirements that neither passed nor failed did not run."""
    others = [r for r in report.requirements if r.status != PASSED and not r.failures]
    if not others:
        return []
    lines = ["<details><summary>Not passed, with reasons</summary>", ""]
    lines += [
        f"- **{r.id}** {text.LABELS[r.status]}: {cell(text.first_line(r.message, 300))}"
        for r in others
    ]
    return [*lines, "", "</details>", ""]


def _expectations(expectations: Mapping[str, Any] | None) -> list[str]:
    if not expectations or not (expectations["stale"] or expectations["unexpected_passes"]):
        return []
    lines = [f"### Expected-failures manifest `{expectations['file']}`", ""]
    for target in expectations["unexpected_passes"]:
        lines.append(f"- unexpected pass: `{target}`")
    for entry in expectations["stale"]:
        target = entry.get("requirement") or entry.get("test")
        lines.append(f"- stale {entry['kind']} entry `{target}`: {cell(entry['why'])}")
    return [*lines, ""]
