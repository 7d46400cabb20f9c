"""JUnit XML: one testcase per requirement, so CI test views list requirements by ID.

Expected failures, opt-outs and not-applicable requirements are `skipped` (never passed); an
incomplete run adds an `error` testcase naming the crash.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from conformance.report import text
from conformance.report.statuses import (
    ERROR,
    FAILED,
    NOT_APPLICABLE,
    SKIPPED,
    XFAIL,
    XPASS,
)


def render_junit(report: Mapping[str, Any]) -> str:
    label = report["backend"]["label"]
    counts = report["summary"]["requirements"]
    crashed = not report["complete"]
    suite = ET.Element(
        "testsuite",
        name=f"autograd-conformance[{label}]",
        tests=str(len(report["requirements"]) + crashed),
        failures=str(counts[FAILED]),
        errors=str(counts[ERROR] + crashed),
        skipped=str(counts[SKIPPED] + counts[NOT_APPLICABLE] + counts[XFAIL]),
        time=f"{report['duration_s']:.3f}",
        timestamp=report["started"],
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("backend", label),
        ("backend_version", report["backend"].get("version")),
        ("profile", report["profile"]),
        ("seed", report["seed"]),
        ("suite_version", report["suite"]["version"]),
        ("git_commit", report["suite"].get("git_commit")),
    ):
        ET.SubElement(properties, "property", name=name, value="" if value is None else str(value))
    classname = f"conformance.{label}"
    for req in report["requirements"]:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=classname,
            name=f"{req['id']}: {req['title']}",
            time=f"{req.get('duration_s', 0.0):.3f}",
        )
        _outcome(case, req)
    if crashed:
        crash = report["crash"] or {}
        case = ET.SubElement(suite, "testcase", classname=classname, name="backend run", time="0")
        error = ET.SubElement(
            case, "error", message=crash.get("message", ""), type=crash.get("kind", "")
        )
        error.text = crash.get("log_tail") or crash.get("message", "")
    for element in suite.iter():
        element.attrib = {k: _clean(v) for k, v in element.attrib.items()}
        if element.text:
            element.text = _clean(element.text)
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def _outcome(case: ET.Element, req: Mapping[str, Any]) -> None:
    status = req["status"]
    message = req.get("message") or ""
    if status in (FAILED, ERROR):
        tag = "failure" if status == FAILED else "error"
        element = ET.SubElement(case, tag, message=text.first_line(message, 500), type=status)
        element.text = _failure_text(req)
    elif status in (SKIPPED, NOT_APPLICABLE, XFAIL):
        ET.SubElement(
            case, "skipped", message=f"{text.LABELS[status]}: {text.first_line(message, 500)}"
        )
    elif status == XPASS:
        out = ET.SubElement(case, "system-out")
        out.text = message


def _failure_text(req: Mapping[str, Any]) -> str:
    parts = []
    for failure in req["failures"]:
        parts.append(f"{failure['nodeid']}\n{failure.get('message') or ''}")
        if failure.get("reproducer"):
            parts.append("Standalone reproducer:\n" + failure["reproducer"])
    return "\n\n".join(parts) or (req.get("message") or "")


# Characters XML 1.0 cannot carry (terminal escapes in messages, for one).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
