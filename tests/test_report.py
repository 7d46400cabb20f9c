"""Aggregation, the JSON report and its schema, Markdown, JUnit, matrix, diff and repro."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.errors import UsageError
from conformance.report import (
    BackendReport,
    TestResult,
    load_report,
    read_report,
    schema,
    schema_errors,
)
from conformance.report.diff import diff_reports, render_diff
from conformance.report.files import atomic_write_text
from conformance.report.junit import render_junit
from conformance.report.markdown import cell, render_markdown
from conformance.report.matrix import render_matrix_markdown, write_matrix
from conformance.report.publish import READER_FORMATS, directory_reports, publish
from conformance.report.records import result_line
from conformance.report.repro import find_reproducer
from conformance.report.statuses import DEFINITIONS, STATUSES, docs_table, worst
from tests.report_samples import (
    PROGRAM,
    record,
    sample_backend_report,
    sample_records,
    sample_report,
)

ROOT = Path(__file__).resolve().parent.parent


def by_id(report: dict) -> dict:
    return {r["id"]: r for r in report["requirements"]}


# -- aggregation -----------------------------------------------------------------------------------
def test_requirement_status_is_the_worst_of_its_tests() -> None:
    assert worst(["passed", "failed", "not-applicable"]) == "failed"
    assert worst(["passed", "error", "failed"]) == "error"
    assert worst(["passed", "not-applicable"]) == "passed"
    assert worst(["not-applicable"]) == "not-applicable"
    assert worst(["passed", "skipped"]) == "skipped"
    report = sample_report()
    reqs = by_id(report)
    # FAKE-002 has one failing and one passing test.
    assert reqs["FAKE-002"]["status"] == "failed"
    assert reqs["FAKE-002"]["tests"] == [
        "suite.py::test_gradients",
        "suite.py::test_gradients_again",
    ]
    assert reqs["FAKE-001"]["status"] == "passed"
    assert reqs["FAKE-003"]["status"] == "not-applicable"
    assert reqs["FAKE-003"]["message"].startswith("not applicable:")


def test_requirement_numbers_aggregate_over_tests() -> None:
    reqs = by_id(sample_report())
    assert reqs["FAKE-002"]["examples"] == 35
    assert reqs["FAKE-002"]["examples_per_s"] == 35.0  # two tests of 0.5 s
    assert reqs["FAKE-002"]["max_rel_error"] == 1.0
    assert reqs["FAKE-002"]["tolerance"] == {"rtol": 1e-12, "atol": 0.0}
    assert reqs["FAKE-001"]["max_abs_error"] == 1e-17
    assert reqs["FAKE-004"]["max_rel_error"] is None


def test_summary_counts_and_pass_rate_exclude_not_applicable() -> None:
    summary = sample_report()["summary"]
    assert summary["requirements"]["passed"] == 2
    assert summary["requirements"]["failed"] == 1
    assert summary["requirements"]["not-applicable"] == 1
    assert summary["applicable"] == 3
    assert summary["pass_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert summary["conforms"] is False
    assert summary["tests"]["passed"] == 3


def test_all_not_applicable_has_no_pass_rate() -> None:
    records = [record("t::a", "FAKE-003", "not-applicable", message="not applicable: x")]
    summary = sample_report(records, selection=["FAKE-003"])["summary"]
    assert summary["applicable"] == 0
    assert summary["pass_rate"] is None
    assert summary["requirements"]["passed"] == 0


def test_failure_carries_program_reproducer_and_message() -> None:
    failure = by_id(sample_report())["FAKE-002"]["failures"][0]
    assert failure["nodeid"] == "suite.py::test_gradients"
    assert failure["message"] == "gradient [2.0] differs from the reference [1.0]"
    assert failure["program"] == PROGRAM.to_dict()
    assert failure["reproducer"].startswith("import torch\n")
    assert (
        "x = torch.tensor([0.5, -1.25], dtype=torch.float64, requires_grad=True)"
        in (failure["reproducer"])
    )
    assert failure["reproducer"].rstrip().endswith(failure["check"])


def test_reproducer_for_an_import_path_backend_replays_through_the_adapter() -> None:
    name = "tests.crashing_adapters:DoubledGradientAdapter"
    label = f"{name}:cpu"
    backend = {"label": label, "name": name, "version": "0.1.0", "device": "cpu", "environment": {}}
    report = sample_report(backend=backend)
    source = by_id(report)["FAKE-002"]["failures"][0]["reproducer"]
    assert f"load_backend({label!r})" in source


def test_crashed_run_keeps_results_and_names_the_crash() -> None:
    collected = [
        {"nodeid": "suite.py::test_forward", "requirements": ["FAKE-001"]},
        {"nodeid": "suite.py::test_gradients", "requirements": ["FAKE-002"]},
        {"nodeid": "suite.py::test_product", "requirements": ["FAKE-004"]},
    ]
    crash = {
        "kind": "signal",
        "phase": "run",
        "message": "crashed: the worker was killed by SIGABRT",
        "signal": "SIGABRT",
    }
    report = sample_report(
        sample_records()[:1],
        collected=collected,
        crash=crash,
        in_flight={"suite.py::test_gradients": 3},
    )
    assert report["complete"] is False
    assert {k: v for k, v in report["crash"].items() if v is not None} == crash
    reqs = by_id(report)
    assert reqs["FAKE-001"]["status"] == "passed"
    assert reqs["FAKE-002"]["status"] == "error"
    assert "SIGABRT" in reqs["FAKE-002"]["message"]
    assert reqs["FAKE-002"]["examples"] == 3
    assert reqs["FAKE-004"]["status"] == "skipped"
    assert reqs["FAKE-004"]["message"].startswith("not run:")
    assert reqs["FAKE-003"]["status"] == "skipped"  # no test collected for it
    assert report["summary"]["conforms"] is False
    assert schema_errors(report) == []


# -- JSON and schema -------------------------------------------------------------------------------
def test_report_matches_schema_and_has_the_required_keys() -> None:
    report = sample_report()
    assert schema_errors(report) == []
    for key in (
        "schema_version", "suite", "backend", "environment", "profile", "seed", "started",
        "duration_s", "summary", "requirements", "tests", "complete", "crash",
    ):  # fmt: skip
        assert key in report
    requirement = report["requirements"][0]
    for key in ("id", "title", "status", "examples", "max_abs_error", "max_rel_error", "tolerance"):
        assert key in requirement


def test_schema_rejects_a_bad_status_and_missing_keys() -> None:
    report = sample_report()
    broken = copy.deepcopy(report)
    broken["requirements"][0]["status"] = "sort-of"
    assert any("requirements/0/status" in e for e in schema_errors(broken))
    del broken["summary"]
    assert any("summary" in e for e in schema_errors(broken))


def test_written_report_reads_back_and_non_finite_errors_survive(tmp_path: Path) -> None:
    records = sample_records()
    records[1]["max_abs_error"] = float("inf")
    records[1]["max_rel_error"] = float("nan")
    paths = publish(sample_backend_report(records), tmp_path)
    assert [p.name for p in paths] == [
        "torch-cpu.md", "torch-cpu.html", "torch-cpu.junit.xml", "torch-cpu.json",
        "matrix.md", "index.html", "style.css",
    ]  # fmt: skip
    text = (tmp_path / "torch-cpu.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    loaded = load_report(tmp_path / "torch-cpu.json")
    assert by_id(loaded)["FAKE-002"]["max_abs_error"] == "inf"
    assert by_id(loaded)["FAKE-002"]["max_rel_error"] == "nan"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp file left behind"
    assert oct(paths[0].stat().st_mode & 0o777) != oct(0o600), "reports must be readable"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ('["a list"]', "is not a conformance report"),
        ('{"schema_version": 2}', "schema version 2"),
        ('{"schema_version": 1, "suite": {}}', "does not match report schema v1"),
    ],
)
def test_bad_reports_are_one_line_usage_errors(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as info:
        load_report(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    atomic_write_text(target, "old")

    with pytest.raises(TypeError):
        atomic_write_text(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


# -- renderings ------------------------------------------------------------------------------------
def test_markdown_fits_a_step_summary() -> None:
    report = sample_backend_report()
    md = render_markdown(report, "torch-cpu.json")
    assert md.startswith("## ❌ autograd-conformance: `torch:cpu`")
    assert "Does not conform: 1 of 3 applicable requirements fail" in md
    assert "| FAKE-002 | Gradients match the reference | ❌ failed | 35 | 1 | 1 |" in md
    assert "<details><summary><b>FAKE-002</b> failed" in md
    assert "conformance repro torch-cpu.json suite.py::test_gradients" in md
    assert "```python\nimport torch" in md
    assert len(md.encode()) < 1024 * 1024  # GitHub's step-summary limit


def test_markdown_cells_escape_pipes_and_newlines() -> None:
    assert cell("a | b\nc") == "a \\| b c"


def test_junit_lists_requirements_and_never_counts_xfail_or_na_as_passed() -> None:
    root = ET.fromstring(render_junit(sample_backend_report()))
    assert root.tag == "testsuite"
    assert root.get("tests") == "4"
    assert root.get("failures") == "1"
    assert root.get("skipped") == "1"
    cases = {c.get("name").split(":")[0]: c for c in root.iter("testcase")}
    assert cases["FAKE-002"].find("failure") is not None
    assert "Standalone reproducer" in cases["FAKE-002"].find("failure").text
    assert cases["FAKE-003"].find("skipped") is not None
    assert list(cases["FAKE-001"]) == []


def test_junit_of_a_crash_has_an_error_case_and_survives_control_characters() -> None:
    crash = {"kind": "signal", "phase": "run", "message": "crashed \x1b[31m", "log_tail": "\x00x"}
    root = ET.fromstring(render_junit(sample_backend_report(crash=crash)))
    errors = [c for c in root.iter("testcase") if c.find("error") is not None]
    assert [c.get("name") for c in errors] == ["backend run"]
    assert root.get("errors") == "1"


def test_matrix_markdown_has_requirements_by_backend_with_errors(tmp_path: Path) -> None:
    one = sample_backend_report(label="reference:cpu")
    two = sample_backend_report(label="torch:cpu")
    publish(one, tmp_path)
    publish(two, tmp_path)
    loaded = [(tmp_path / f"{n}.json", read_report(tmp_path / f"{n}.json"))
              for n in ("reference-cpu", "torch-cpu")]  # fmt: skip
    md = render_matrix_markdown(loaded, tmp_path)
    links = "[reference:cpu](reference-cpu.html) | [torch:cpu](torch-cpu.html)"
    assert f"| Requirement | Title | {links} |" in md
    cells = "✅ passed 2.50e-16 | ✅ passed 2.50e-16"
    assert f"| FAKE-001 | Forward values match the reference | {cells} |" in md
    assert "| FAKE-003 | float8 gradients | ➖ not applicable | ➖ not applicable |" in md
    paths = write_matrix(loaded, tmp_path / "matrix")
    assert [p.name for p in paths] == ["matrix.md", "index.html", "style.css"]
    assert "../torch-cpu.html" in paths[1].read_text()


def test_diff_finds_regressions_fixes_and_changes() -> None:
    old = sample_report()
    new = copy.deepcopy(old)
    reqs = by_id(new)
    reqs["FAKE-001"]["status"] = "failed"  # passed -> failed
    reqs["FAKE-002"]["status"] = "passed"  # failed -> passed
    reqs["FAKE-003"]["status"] = "skipped"  # n/a -> skipped
    result = diff_reports(BackendReport.from_dict(old), BackendReport.from_dict(new))
    assert result.regressions == [("FAKE-001", "passed", "failed")]
    assert result.fixes == [("FAKE-002", "failed", "passed")]
    assert result.changes == [("FAKE-003", "not-applicable", "skipped")]
    text = render_diff(result)
    assert "regressions: 1\n  FAKE-001: passed -> failed" in text
    same = BackendReport.from_dict(old)
    assert diff_reports(same, same).regressions == []


def test_diff_counts_a_newly_failing_requirement_and_passed_to_xfail() -> None:
    old = sample_report()
    new = copy.deepcopy(old)
    new["requirements"].append({**by_id(new)["FAKE-002"], "id": "FAKE-009"})
    by_id(new)["FAKE-001"]["status"] = "xfail"
    regressions = diff_reports(BackendReport.from_dict(old), BackendReport.from_dict(new))
    assert regressions.regressions == [
        ("FAKE-001", "passed", "xfail"),
        ("FAKE-009", "absent", "failed"),
    ]


def test_repro_by_requirement_and_by_test_id() -> None:
    report = sample_backend_report()
    source, others = find_reproducer(report, "FAKE-002")
    assert source.startswith("import torch") and others == []
    assert find_reproducer(report, "suite.py::test_gradients")[0] == source
    with pytest.raises(UsageError, match="no failure"):
        find_reproducer(report, "FAKE-001")
    with pytest.raises(UsageError, match="no requirement or test 'NOPE-1'"):
        find_reproducer(report, "NOPE-1")


def test_reproducer_runs_standalone_and_shows_the_failure(tmp_path: Path) -> None:
    """The rendered program runs on PyTorch as is; the appended check is what fails."""
    pytest.importorskip("torch")
    source = by_id(sample_report())["FAKE-002"]["failures"][0]["reproducer"]
    script = tmp_path / "repro.py"
    script.write_text(source)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1
    assert "AssertionError: gradient differs from the reference" in done.stderr


# -- the published reports ------------------------------------------------------------------------
def test_published_reports_match_the_schema_and_the_catalogue() -> None:
    """reports/ holds what `tox -e reports` last wrote: current schema, current requirement IDs,
    and a matrix naming every published backend. Nothing about the verdicts is assumed."""
    from conformance.spec.requirements import PARITY, REQUIREMENTS

    published = sorted(p for p in (ROOT / "reports").glob("*-*.json"))
    assert published, "reports/ must hold the published reports (tox -e reports writes them)"
    ids = {req.id for req in REQUIREMENTS}
    parity_ids = {req.id for req in REQUIREMENTS if req.level == PARITY}
    labels = []
    for path in published:
        report = load_report(path)  # the current schema version, valid against the schema
        found = {r["id"] for r in report["requirements"]}
        assert found <= ids, f"{path.name}: requirement IDs not in the catalogue: {found - ids}"
        if report["selection"] is None:
            # Parity requirements are run only against a counterpart (--parity-with).
            expected = ids if report.get("counterpart") else ids - parity_ids
            assert found == expected, f"{path.name}: a full run must cover the catalogue"
        labels.append(report["backend"]["label"])
    matrix = (ROOT / "reports" / "matrix.md").read_text(encoding="utf-8")
    assert (ROOT / "reports" / "index.html").exists()
    for label in labels:
        assert f"[{label}]" in matrix, f"matrix.md does not list {label}"


# -- statuses: one definition ----------------------------------------------------------------------
def test_statuses_are_defined_once_for_the_schema_and_the_docs() -> None:
    """The schema's status enum and the tables in the docs are the definitions in statuses.py
    (`python -m conformance.report.docs docs/adapters.md docs/cli.md` rewrites the tables)."""
    assert schema()["$defs"]["status"]["enum"] == list(STATUSES)
    assert schema()["$defs"]["counts"]["required"] == list(STATUSES)
    table = docs_table()
    for doc in ("docs/adapters.md", "docs/cli.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert f"-->\n{table}\n<!--" in text, f"{doc}: statuses table is stale"
    assert {s.name for s in DEFINITIONS if s.failing} == {"failed", "error"}
    assert {s.name for s in DEFINITIONS if s.passing} == {"passed", "xpass"}


def test_an_engine_raising_inside_a_check_is_failed_and_outside_is_error() -> None:
    """The rule the status table states: an engine exception a check catches is a demonstrated
    nonconformance (`failed`, with a reproducer); any other exception reaches no verdict."""
    from conformance.backends.registry import load_backend
    from conformance.judge.checks import Repro, engine_must_not_raise
    from conformance.judge.evidence import Nonconformance
    from conformance.plugin import _representative, failure_status

    repro = Repro(load_backend("reference"))
    with pytest.raises(Nonconformance) as caught, engine_must_not_raise("the VJP", repro, PROGRAM):
        raise RuntimeError("engine bug")
    assert "raised RuntimeError: engine bug (PyTorch raises nothing here)" in str(caught.value)
    assert failure_status("call", caught.value) == "failed"
    assert failure_status("call", AssertionError("x")) == "failed"
    assert failure_status("call", RuntimeError("engine bug")) == "error"
    assert failure_status("setup", AssertionError("in a fixture")) == "error"
    # hypothesis reports several distinct failures as a group: the nonconformance speaks for it
    group = _Group(RuntimeError("crash"), caught.value)
    assert failure_status("call", _representative(group)) == "failed"
    assert failure_status("call", _representative(_Group(KeyError(), OSError()))) == "error"


class _Group(Exception):
    """An exception group as hypothesis raises it (ExceptionGroup is Python 3.11+)."""

    def __init__(self, *exceptions: BaseException) -> None:
        super().__init__("several failures")
        self.exceptions = exceptions


# -- typed records ---------------------------------------------------------------------------------
def test_a_test_result_round_trips_through_its_stream_line() -> None:
    result = TestResult.from_dict(sample_records()[1])
    result.max_rel_error = float("inf")
    back = TestResult.from_dict(json.loads(result_line(result)))
    assert back == result
    odd = TestResult.from_dict(record("t::a", "FAKE-001", "sort-of", message="m"))
    assert (odd.status, odd.message) == ("error", "unknown status 'sort-of': m")


def test_a_report_reads_back_as_the_same_record(tmp_path: Path) -> None:
    report = sample_backend_report()
    publish(report, tmp_path)
    back = read_report(tmp_path / "torch-cpu.json")
    assert render_markdown(back, "x.json") == render_markdown(report, "x.json")
    assert render_junit(back) == render_junit(report)
    assert back.to_dict()["requirements"] == report.to_dict()["requirements"]


def test_report_tests_leave_the_evidence_to_the_failures() -> None:
    data = sample_report()
    failed = next(t for t in data["tests"] if t["status"] == "failed")
    assert "program" not in failed and "check" not in failed
    failure = by_id(data)["FAKE-002"]["failures"][0]
    assert failure["program"] == PROGRAM.to_dict() and failure["check"]


# -- publish ---------------------------------------------------------------------------------------
def test_publish_for_readers_links_one_stylesheet_and_leaves_out_junit(tmp_path: Path) -> None:
    paths = publish(
        [sample_backend_report(label="torch:cpu"), sample_backend_report(label="mygrad:cpu")],
        tmp_path,
        READER_FORMATS,
    )
    assert not list(tmp_path.glob("*.junit.xml"))
    assert {p.name for p in paths} >= {"torch-cpu.html", "mygrad-cpu.json", "style.css"}
    stylesheet = (tmp_path / "style.css").read_text()
    assert ".verdict" in stylesheet
    for page in tmp_path.glob("*.html"):
        html = page.read_text()
        assert '<link rel="stylesheet" href="style.css">' in html
        assert "<style" not in html and ".verdict {" not in html
    assert "[mygrad:cpu](mygrad-cpu.html)" in (tmp_path / "matrix.md").read_text()
    with pytest.raises(ValueError, match="json"):
        publish(sample_backend_report(), tmp_path, ["html"])


def test_the_matrix_covers_every_current_report_in_the_directory(tmp_path: Path) -> None:
    earlier = publish(sample_backend_report(label="mygrad:cpu"), tmp_path)[3]
    old = tmp_path / "old-cpu.json"
    old.write_text(json.dumps({**json.loads(earlier.read_text()), "schema_version": 0}))
    (tmp_path / "benchmarks.json").write_text('{"benchmarks": []}')
    fresh = [sample_backend_report(label=label) for label in ("torch:cpu", "reference:cpu")]
    notes = io.StringIO()
    loaded = directory_reports(tmp_path, [(tmp_path / f"{r.stem}.json", r) for r in fresh], notes)
    assert [r.label for _, r in loaded] == ["reference:cpu", "torch:cpu", "mygrad:cpu"]
    assert notes.getvalue().count("\n") == 1
    assert f"matrix: leaving out {old}: report {old} has schema version 0" in notes.getvalue()


def test_republishing_a_run_for_readers(tmp_path: Path) -> None:
    """`tox -e reports`: a run's output republished into the published folder."""
    from conformance.report.publish import main

    run, published = tmp_path / "run", tmp_path / "published"
    publish(sample_backend_report(label="torch:cpu"), run)
    assert main([str(run), str(published)]) == 0
    assert sorted(p.name for p in published.iterdir()) == [
        "index.html", "matrix.md", "style.css", "torch-cpu.html", "torch-cpu.json", "torch-cpu.md",
    ]  # fmt: skip
    assert main([str(tmp_path / "empty"), str(published)]) == 2


def test_published_reports_read_as_typed_records() -> None:
    """Every report in reports/ (written by any version of schema v1) reads back as a record
    that renders, diffs against itself and gives its reproducers."""
    for path in sorted((ROOT / "reports").glob("*-*.json")):
        report = read_report(path)
        assert render_markdown(report, path.name) and render_junit(report)
        assert not diff_reports(report, report).regressions
        for req in report.requirements:
            if any(f.reproducer for f in req.failures):
                assert find_reproducer(report, req.id)[0].strip()
