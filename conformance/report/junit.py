"""JUnit XML: one testcase per requirement, so CI test views list requirements by ID.

Expected failures, opt-outs and not-applicable requirements are `skipped` (never passed); an
incomplete run adds an `error` testcase naming the crash.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from conformance.report import text
from conformance.report.records import BackendReport, RequirementVerdict
from conformance.report.statuses import BY_NAME


def render_junit(report: BackendReport) -> str:
    label = report.label
    elements = [BY_NAME[r.status].junit for r in report.requirements]
    crashed = not report.complete
    suite = ET.Element(
        "testsuite",
        name=f"autograd-conformance[{label}]",
        tests=str(len(report.requirements) + crashed),
        failures=str(elements.count("failure")),
        errors=str(elements.count("error") + crashed),
        skipped=str(elements.count("skipped")),
        time=f"{report.duration_s:.3f}",
        timestamp=report.started,
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("backend", label),
        ("backend_version", report.backend.get("version")),
        ("profile", report.profile),
        ("seed", report.seed),
        ("suite_version", report.suite["version"]),
        ("git_commit", report.suite.get("git_commit")),
    ):
        ET.SubElement(properties, "property", name=name, value="" if value is None else str(value))
    classname = f"conformance.{label}"
    for req in report.requirements:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=classname,
            name=f"{req.id}: {req.title}",
            time=f"{req.duration_s:.3f}",
        )
        _outcome(case, req)
    if report.crash is not None:
        crash = report.crash
        case = ET.SubElement(suite, "testcase", classname=classname, name="backend run", time="0")
        error = ET.SubElement(case, "error", message=crash.message, type=crash.kind)
        error.text = crash.log_tail or crash.message
    for element in suite.iter():
        element.attrib = {k: _clean(v) for k, v in element.attrib.items()}
        if element.text:
            element.text = _clean(element.text)
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def _outcome(case: ET.Element, req: RequirementVerdict) -> None:
    """The status's JUnit element (conformance.report.statuses); an unexpected pass is a plain
    test case whose output says why it is one."""
    tag = BY_NAME[req.status].junit
    message = req.message or ""
    if tag in ("failure", "error"):
        element = ET.SubElement(case, tag, message=text.first_line(message, 500), type=req.status)
        element.text = _failure_text(req)
    elif tag == "skipped":
        label = text.LABELS[req.status]
        ET.SubElement(case, tag, message=f"{label}: {text.first_line(message, 500)}")
    elif message:
        out = ET.SubElement(case, "system-out")
        out.text = message


def _failure_text(req: RequirementVerdict) -> str:
    parts = []
    for failure in req.failures:
        parts.append(f"{failure.nodeid}\n{failure.message or ''}")
        if failure.reproducer:
            parts.append("Standalone reproducer:\n" + failure.reproducer)
    return "\n\n".join(parts) or (req.message or "")


# Characters XML 1.0 cannot carry (terminal escapes in messages, for one).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
