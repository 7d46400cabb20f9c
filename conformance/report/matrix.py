"""The cross-backend matrix: requirements x backend/device, as `index.html` and `matrix.md`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from conformance.report import text
from conformance.report.files import atomic_write_text
from conformance.report.html import page, pill, write_stylesheet
from conformance.report.markdown import cell
from conformance.report.records import BackendReport, RequirementVerdict

Loaded = tuple[Path, BackendReport]
"""A report and the path of its JSON file."""


def matrix_order(label: str) -> tuple[int, str]:
    """Columns (and README rows): the executable specification, then PyTorch whose behaviour it
    encodes, then the others by label."""
    first = {"reference": 0, "torch": 1}
    return (first.get(label.partition(":")[0], 2), label)


def _columns(reports: Sequence[Loaded]) -> list[str]:
    labels = [report.label for _, report in reports]
    return [
        label if labels.count(label) == 1 else f"{label} ({n + 1})"
        for n, label in enumerate(labels)
    ]


def _rows(reports: Sequence[Loaded]) -> list[tuple[str, str]]:
    rows: dict[str, str] = {}
    for _, report in reports:
        for req in report.requirements:
            rows.setdefault(req.id, req.title)
    return list(rows.items())


def _by_id(report: BackendReport) -> dict[str, RequirementVerdict]:
    return {req.id: req for req in report.requirements}


def _link(json_path: Path, out_dir: Path) -> str:
    html_path = json_path.with_suffix(".html")
    target = html_path if html_path.exists() else json_path
    return Path(os.path.relpath(target.resolve(), out_dir.resolve())).as_posix()


def render_matrix_markdown(reports: Sequence[Loaded], out_dir: Path) -> str:
    columns = _columns(reports)
    header = " | ".join(
        f"[{cell(c)}]({_link(path, out_dir)}){'' if r.complete else ' (incomplete)'}"
        for c, (path, r) in zip(columns, reports, strict=True)
    )
    lines = [
        "# Conformance matrix",
        "",
        "Status per requirement and backend; the number is the largest relative error measured.",
        "",
        f"| Requirement | Title | {header} |",
        "|---|---|" + "---|" * len(columns),
    ]
    tables = [_by_id(r) for _, r in reports]
    for rid, title in _rows(reports):
        cells = [_md_cell(table.get(rid)) for table in tables]
        lines.append(f"| {rid} | {cell(title)} | {' | '.join(cells)} |")
    rates = [f"{text.verdict_icon(r)} {text.pass_rate(r.summary)}" for _, r in reports]
    lines.append(f"| **pass rate** | | {' | '.join(rates)} |")
    lines += ["", _provenance(reports), ""]
    return "\n".join(lines)


def _md_cell(req: RequirementVerdict | None) -> str:
    if req is None:
        return "—"
    error = req.max_rel_error
    suffix = f" {text.number(error)}" if error is not None else ""
    return f"{text.ICONS[req.status]} {text.LABELS[req.status]}{suffix}"


def _provenance(reports: Sequence[Loaded]) -> str:
    runs = [
        f"`{r.label}`: {r.backend.get('version') or '?'}, profile {r.profile}, "
        f"seed {r.seed}, {r.started}"
        for _, r in reports
    ]
    return "Runs: " + "; ".join(runs) + "."


def render_matrix_html(reports: Sequence[Loaded], out_dir: Path) -> str:
    columns = _columns(reports)
    head = "".join(
        f'<th><a href="{escape(_link(path, out_dir))}">{escape(c)}</a>'
        f'<span class="err">{escape(r.backend.get("version") or "")}'
        f"{'' if r.complete else ' · incomplete'}</span></th>"
        for c, (path, r) in zip(columns, reports, strict=True)
    )
    tables = [_by_id(r) for _, r in reports]
    body = []
    for rid, title in _rows(reports):
        cells = "".join(_html_cell(table.get(rid)) for table in tables)
        body.append(f'<tr><td class="id">{escape(rid)}</td><td>{escape(title)}</td>{cells}</tr>')
    rates = "".join(
        f'<td class="cell rate"><strong>{escape(text.pass_rate(r.summary))}</strong>'
        f'<span class="err">{escape(text.verdict(r))}</span></td>'
        for _, r in reports
    )
    body.append(f"<tr><td></td><td><strong>pass rate</strong></td>{rates}</tr>")
    content = (
        '<header class="verdict ok" style="background:#24292f"><div class="mark">▦</div><div>'
        "<h1>Conformance matrix</h1><p>Status per requirement and backend; the number under a "
        "status is the largest relative error measured. Column headings link to each backend's "
        "report.</p></div></header>"
        f'<div class="scroll"><table class="matrix"><thead><tr><th>ID</th><th>Requirement</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        f"<footer>{escape(_provenance(reports))}</footer>"
    )
    return page("Conformance matrix — autograd-conformance", content)


def _html_cell(req: RequirementVerdict | None) -> str:
    if req is None:
        return '<td class="cell muted">—</td>'
    error = req.max_rel_error
    number = (
        f'<span class="err">rel. err. {escape(text.number(error))}</span>'
        if error is not None
        else ""
    )
    return f'<td class="cell">{pill(req.status)}{number}</td>'


def write_matrix(reports: Sequence[Loaded], out_dir: str | Path) -> list[Path]:
    """`DIR/matrix.md` and `DIR/index.html` (with the stylesheet it links)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    markdown = render_matrix_markdown(reports, out)
    html = render_matrix_html(reports, out)
    return [
        atomic_write_text(out / "matrix.md", markdown),
        atomic_write_text(out / "index.html", html),
        write_stylesheet(out),
    ]
