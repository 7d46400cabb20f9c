"""Reports of conformance runs: aggregation, the JSON report and its schema, and the Markdown,
HTML, JUnit and matrix renderings. Every file is written atomically."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance.report.files import atomic_write_text
from conformance.report.html import render_html
from conformance.report.jsonio import dumps, jsonable, load_report, schema, schema_errors
from conformance.report.junit import render_junit
from conformance.report.markdown import render_markdown
from conformance.report.model import SCHEMA_VERSION, RunInfo, build_report, catalogue_meta
from conformance.report.text import slug

__all__ = [
    "SCHEMA_VERSION",
    "RunInfo",
    "build_report",
    "catalogue_meta",
    "load_report",
    "report_stem",
    "schema",
    "schema_errors",
    "write_reports",
]


def report_stem(report: Mapping[str, Any]) -> str:
    """`<name>-<device>`, the file name of a backend's reports without suffix."""
    return slug(report["backend"]["name"], report["backend"]["device"])


def write_reports(report: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """`DIR/<name>-<device>.json`, `.md`, `.html` and `.junit.xml`; the JSON is written last, so
    a JSON report on disk always has its companions."""
    out = Path(out_dir)
    report = jsonable(report)
    stem = report_stem(report)
    json_name = f"{stem}.json"
    rendered = [
        (out / f"{stem}.md", render_markdown(report, json_name)),
        (out / f"{stem}.html", render_html(report, json_name)),
        (out / f"{stem}.junit.xml", render_junit(report)),
        (out / json_name, dumps(report)),
    ]
    # Render everything before writing anything: a rendering bug leaves no partial set behind.
    return [atomic_write_text(path, content) for path, content in rendered]
