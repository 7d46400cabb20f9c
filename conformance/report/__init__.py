"""Reports of conformance runs: the typed records (records.py), their aggregation (model.py), the
JSON report and its schema (jsonio.py), the Markdown, HTML, JUnit and matrix renderings, and
conformance.report.publish, which writes them (not imported here, so that
`python -m conformance.report.publish` runs it as a script cleanly)."""

from __future__ import annotations

from conformance.report.jsonio import load_report, read_report, schema, schema_errors
from conformance.report.model import RunInfo, build_report, catalogue_meta
from conformance.report.records import SCHEMA_VERSION, BackendReport, Crash, TestResult

__all__ = [
    "SCHEMA_VERSION",
    "BackendReport",
    "Crash",
    "RunInfo",
    "TestResult",
    "build_report",
    "catalogue_meta",
    "load_report",
    "read_report",
    "schema",
    "schema_errors",
]
