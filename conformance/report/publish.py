"""Publishing reports: every format of each backend's report, the stylesheet, and the matrix.

`publish` is the one way reports reach a directory: `conformance run --out DIR`, the plugin's
`--conformance-out DIR` and `tox -e reports` (through `python -m conformance.report.publish`) all
call it. Per backend it writes `<name>-<device>.md`, `.html`, `.junit.xml` (each format asked
for) and `.json` last, so a JSON report on disk always has its companions; then
`matrix.md` and `index.html` over every current report in the directory (backends run by other
jobs included), and `style.css`, the stylesheet every page links. Every file is written
atomically.

The published folder (reports/ in the repository) carries what readers and the `diff`, `matrix`
and `repro` commands need: `READER_FORMATS`. JUnit XML is for CI systems; `conformance run`
writes it, the published folder leaves it out.

    python -m conformance.report.publish FROM_DIR TO_DIR [FORMAT ...]

republishes the JSON reports of FROM_DIR into TO_DIR (default formats: `READER_FORMATS`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from conformance.errors import UsageError
from conformance.report.files import atomic_write_text
from conformance.report.html import render_html
from conformance.report.jsonio import dumps, read_report
from conformance.report.junit import render_junit
from conformance.report.markdown import render_markdown
from conformance.report.matrix import Loaded, matrix_order, write_matrix
from conformance.report.records import BackendReport

Render = Callable[[BackendReport, str], str]
"""A format's writer: the report and the name of its JSON file -> the file's text."""

SUFFIXES = {"md": ".md", "html": ".html", "junit": ".junit.xml", "json": ".json"}
_RENDER: dict[str, Render] = {
    "md": render_markdown,
    "html": render_html,
    "junit": lambda report, _: render_junit(report),
    "json": lambda report, _: dumps(report),
}
ALL_FORMATS = ("md", "html", "junit", "json")
READER_FORMATS = ("md", "html", "json")
"""What a published folder carries."""


def report_path(report: BackendReport, out_dir: str | Path, format: str = "json") -> Path:
    return Path(out_dir) / f"{report.stem}{SUFFIXES[format]}"


def publish(
    reports: BackendReport | Sequence[BackendReport],
    out_dir: str | Path,
    formats: Sequence[str] = ALL_FORMATS,
    notes: TextIO | None = None,
) -> list[Path]:
    """Write `reports` into `out_dir` in `formats` (JSON always among them: the matrix, `diff`
    and `repro` read it), then the stylesheet and the directory's matrix; the paths written.
    Reports in the directory that cannot be read are left out of the matrix, with a line on
    `notes`."""
    fresh = [reports] if isinstance(reports, BackendReport) else list(reports)
    unknown = sorted(set(formats) - set(SUFFIXES))
    if unknown or "json" not in formats:
        raise ValueError(f"formats must include json and be among {sorted(SUFFIXES)}: {formats}")
    out = Path(out_dir)
    ordered = [f for f in ALL_FORMATS if f in formats]  # JSON last
    written: list[Path] = []
    for report in fresh:
        json_name = report_path(report, out).name
        # Render everything before writing anything: a rendering bug leaves no partial set.
        rendered = [(report_path(report, out, f), _RENDER[f](report, json_name)) for f in ordered]
        written += [atomic_write_text(path, text) for path, text in rendered]
    loaded = directory_reports(out, [(report_path(r, out), r) for r in fresh], notes)
    written += write_matrix(loaded, out)
    return written


def directory_reports(
    out_dir: Path, fresh: Sequence[Loaded], notes: TextIO | None = None
) -> list[Loaded]:
    """`fresh` reports and every other current report already in DIR (other backends run
    earlier, or by other jobs), in matrix order: the matrix of DIR, not of one run."""
    loaded: dict[Path, BackendReport] = {path.resolve(): report for path, report in fresh}
    for path in sorted(out_dir.glob("*.json")):
        if path.resolve() in loaded:
            continue
        try:
            loaded[path.resolve()] = read_report(path)
        except UsageError as exc:
            # Other JSON files (benchmarks.json) are none of our business.
            if "no schema_version" not in str(exc) and notes is not None:
                notes.write(f"matrix: leaving out {path}: {exc}\n")
    return sorted(loaded.items(), key=lambda item: matrix_order(item[1].label))


USAGE = "usage: python -m conformance.report.publish FROM_DIR TO_DIR [FORMAT ...]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(USAGE, file=sys.stderr)
        return 2
    source, target, formats = Path(args[0]), Path(args[1]), args[2:] or READER_FORMATS
    reports = []
    for path in sorted(source.glob("*.json")):
        try:
            reports.append(read_report(path))
        except UsageError as exc:
            if "no schema_version" not in str(exc):
                print(f"conformance: error: {exc}", file=sys.stderr)
                return 2
    if not reports:
        print(f"conformance: error: no report in {source}", file=sys.stderr)
        return 2
    for path in publish(reports, target, formats, notes=sys.stderr):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
