"""The HTML report: a static page (no script, no network), readable at a glance.

The verdict comes first, then counts per status, the failures (each a <details> that expands to
the message and the standalone reproducer), the requirement table, and the environment. Every
page links the one stylesheet, `style.css`, written next to it (its source is
conformance/report/style.css).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from conformance.report import text
from conformance.report.files import atomic_write_text
from conformance.report.records import BackendReport, Failure, RequirementVerdict, Summary
from conformance.report.statuses import PASSED, STATUSES

STYLESHEET = "style.css"
"""The shared stylesheet's file name, next to the pages."""

# No network, no script: the page must render the same from a CI artifact, offline. The
# stylesheet comes from the page's own origin; inline style attributes draw the summary bar.
CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src data:"


@cache
def stylesheet() -> str:
    return resources.files("conformance").joinpath("report").joinpath(STYLESHEET).read_text("utf-8")


def write_stylesheet(out_dir: str | Path) -> Path:
    """The stylesheet every page links, written into the pages' directory."""
    return atomic_write_text(Path(out_dir) / STYLESHEET, stylesheet())


def page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{escape(title)}</title>\n<link rel="stylesheet" href="{STYLESHEET}">\n'
        f"</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def pill(status: str) -> str:
    return f'<span class="pill st-{status}">{escape(text.LABELS[status])}</span>'


def render_html(report: BackendReport, json_name: str | None = None) -> str:
    parts = [
        _verdict(report),
        _tiles(report.summary),
        _crash(report),
        _failures(report, json_name),
        _requirements(report.requirements),
        _not_passing(report.requirements),
        _expectations(report.expectations),
        _environment(report),
        _footer(report),
    ]
    return page(f"{report.label} — autograd-conformance", "\n".join(p for p in parts if p))


def _verdict(report: BackendReport) -> str:
    if not report.complete:
        kind, mark = "incomplete", "!"
    elif report.summary.conforms:
        kind, mark = "ok", "✓"
    else:
        kind, mark = "bad", "✗"
    return (
        f'<header class="verdict {kind}"><div class="mark">{mark}</div><div>'
        f"<h1>{escape(report.label)}</h1>"
        f"<p><strong>{escape(text.verdict(report))}</strong></p>"
        f'<p class="meta">{escape(text.backend_line(report))}</p></div></header>'
    )


def _tiles(summary: Summary) -> str:
    counts = summary.requirements
    tiles = "".join(
        f'<div class="tile st-{s}{"" if counts[s] else " zero"}"><b>{counts[s]}</b>'
        f"{escape(text.LABELS[s])}</div>"
        for s in STATUSES
    )
    total = max(summary.total, 1)
    bar = "".join(
        f'<span class="st-{s}" style="width:{100 * counts[s] / total:.3f}%" '
        f'title="{counts[s]} {escape(text.LABELS[s])}"></span>'
        for s in STATUSES
        if counts[s]
    )
    rate = text.pass_rate(summary)
    return (
        f'<section aria-label="summary"><div class="tiles">{tiles}</div>'
        f'<div class="bar">{bar}</div><p class="muted">{summary.total} requirements, '
        f"{summary.applicable} applicable · pass rate {rate} · "
        f"{summary.examples} examples</p></section>"
    )


def _crash(report: BackendReport) -> str:
    crash = report.crash
    if crash is None:
        return ""
    log = crash.log_tail
    log_html = (
        f'<details><summary>Worker output (last lines)</summary><div class="body">'
        f"<pre>{escape(log)}</pre></div></details>"
        if log
        else ""
    )
    return (
        f'<section class="crash"><strong>Incomplete report.</strong> '
        f"{escape(crash.message)}{log_html}</section>"
    )


def _failures(report: BackendReport, json_name: str | None) -> str:
    items = []
    for req in report.requirements:
        for failure in req.failures:
            items.append(_failure(req, failure, json_name))
    if not items:
        return ""
    return f"<h2>Failures ({len(items)})</h2>\n" + "\n".join(items)


def _failure(req: RequirementVerdict, failure: Failure, json_name: str | None) -> str:
    body = [
        f'<p class="muted">Test <code>{escape(failure.nodeid)}</code></p>',
        f"<pre>{escape((failure.message or '').rstrip())}</pre>",
    ]
    if failure.reproducer:
        command = f"conformance repro {json_name or 'REPORT.json'} {failure.nodeid}"
        body += [
            f"<p>Standalone reproducer (<code>{escape(command)}</code>):</p>",
            f"<pre><code>{escape(failure.reproducer)}</code></pre>",
        ]
    elif failure.program:
        # The reproducer shows the program as code; without one, the JSON report's form is all.
        program = json.dumps(failure.program, indent=1)
        body.append(
            "<details><summary>Counterexample program (JSON)</summary>"
            f'<div class="body"><pre>{escape(program)}</pre></div></details>'
        )
    if failure.details:
        details = json.dumps(failure.details, indent=1, default=str)
        body.append(
            "<details><summary>Details</summary>"
            f'<div class="body"><pre>{escape(details)}</pre></div></details>'
        )
    return (
        f'<details class="failure" id="fail-{escape(failure.nodeid)}"><summary>'
        f"{pill(failure.status)}<strong>{escape(req.id)}</strong> "
        f"{escape(text.first_line(failure.message))}</summary>"
        f'<div class="body">{"".join(body)}</div></details>'
    )


def _requirements(requirements: Iterable[RequirementVerdict]) -> str:
    rows = []
    for req in requirements:
        statement = req.statement
        statement_html = f'<div class="statement">{escape(statement)}</div>' if statement else ""
        rows.append(
            f'<tr class="row-{req.status}" id="req-{escape(req.id)}">'
            f'<td class="id">{escape(req.id)}</td>'
            f"<td>{escape(req.title)}{statement_html}</td><td>{pill(req.status)}</td>"
            f'<td class="num">{req.examples}</td>'
            f'<td class="num">{escape(text.number(req.examples_per_s))}</td>'
            f'<td class="num">{escape(text.number(req.max_abs_error))}</td>'
            f'<td class="num">{escape(text.number(req.max_rel_error))}</td>'
            f"<td>{escape(text.tolerance(req.tolerance))}</td></tr>"
        )
    return (
        "<h2>Requirements</h2>\n<table><thead><tr><th>ID</th><th>Requirement</th><th>Status</th>"
        '<th class="num">Examples</th><th class="num">Examples/s</th>'
        '<th class="num">Max abs. error</th><th class="num">Max rel. error</th>'
        "<th>Tolerance</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )


def _not_passing(requirements: Iterable[RequirementVerdict]) -> str:
    others = [r for r in requirements if r.status != PASSED and not r.failures]
    if not others:
        return ""
    items = "".join(
        f"<li>{pill(r.status)} <strong>{escape(r.id)}</strong> {escape(r.message or '')}</li>"
        for r in others
    )
    return (
        f"<details><summary>Not passed, with reasons ({len(others)})</summary>"
        f'<div class="body"><ul>{items}</ul></div></details>'
    )


def _expectations(expectations: Mapping[str, Any] | None) -> str:
    if not expectations:
        return ""
    items = [
        f"<li>unexpected pass: <code>{escape(target)}</code></li>"
        for target in expectations["unexpected_passes"]
    ]
    items += [
        f"<li>stale {escape(e['kind'])} entry <code>{escape(_target(e))}</code>: "
        f"{escape(e['why'])}</li>"
        for e in expectations["stale"]
    ]
    listing = f"<ul>{''.join(items)}</ul>" if items else "<p>All entries matched a failure.</p>"
    return (
        f"<h2>Expected-failures manifest</h2><p><code>{escape(expectations['file'])}</code>, "
        f"{expectations.get('entries', 0)} entries.</p>{listing}"
    )


def _target(entry: Mapping[str, Any]) -> str:
    return str(entry.get("requirement") or entry.get("test") or "")


def facts(mapping: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<dt>{escape(str(k))}</dt><dd>{escape(_fact(v))}</dd>" for k, v in mapping.items()
    )
    return f'<dl class="facts">{rows}</dl>'


def _fact(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "—" if value is None else str(value)


def _counterpart(counterpart: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("label", "version", "device")
    return {**{k: counterpart.get(k) for k in keep}, **(counterpart.get("environment") or {})}


def _environment(report: BackendReport) -> str:
    backend = dict(report.backend)
    engine_facts = backend.pop("environment", {}) or {}
    capabilities = backend.pop("capabilities", None)
    sections = [
        ("Backend", facts(backend)),
        ("Engine and device", facts(engine_facts) if engine_facts else "<p>—</p>"),
        ("Host", facts(report.environment)),
        *(
            [("Parity counterpart", facts(_counterpart(report.counterpart)))]
            if report.counterpart
            else []
        ),
        (
            "Suite",
            facts(
                {
                    **report.suite,
                    "profile": report.profile,
                    "seed": report.seed,
                    "workers": report.workers,
                    "selection": report.selection,
                }
            ),
        ),
    ]
    if capabilities:
        sections.insert(2, ("Declared capabilities", facts(capabilities)))
    body = "".join(f"<h3>{escape(title)}</h3>{content}" for title, content in sections)
    return (
        "<h2>Environment</h2><details><summary>Backend, device, host and suite</summary>"
        f'<div class="body">{body}</div></details>'
    )


def _footer(report: BackendReport) -> str:
    suite = report.suite
    commit = f" at {suite['git_commit'][:12]}" if suite.get("git_commit") else ""
    commit += " (with uncommitted changes)" if suite.get("git_dirty") else ""
    return (
        f"<footer>autograd-conformance {escape(suite['version'])}{escape(commit)} · "
        f"report schema v{report.schema_version}</footer>"
    )
