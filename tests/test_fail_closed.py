"""Fail closed: nothing checked is never "conforms", skipped and not-applicable are never passed,
too little checked exits 4, and the examples count counts valid examples only."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conformance.errors import EXIT_NONCONFORMANCE, EXIT_OK, EXIT_UNCHECKED
from conformance.report import text
from conformance.run.cli import main
from conformance.run.progress import summary_line
from conformance.run.runner import exit_code, unchecked
from tests.crashing_adapters import use_fake_catalogue
from tests.report_samples import record, sample_backend_report

ROOT = Path(__file__).resolve().parent.parent
SUITE = ["--suite", "tests/fake_suite.py"]


def every(status: str, **fields: Any) -> list[dict[str, Any]]:
    """One test of each fake requirement, all with `status`."""
    return [
        record(f"suite.py::test_{n}", f"FAKE-00{n}", status, **{"examples": 0, **fields})
        for n in range(1, 5)
    ]


# -- the verdict of a requirement and of a run ---------------------------------------------------
def test_a_run_whose_tests_were_all_skipped_does_not_conform() -> None:
    report = sample_backend_report(every("skipped", message="opted out: not yet"))
    assert [r.status for r in report.requirements] == ["skipped"] * 4
    assert report.summary.conforms is False
    assert not text.verdict(report).startswith("Conforms")
    line = summary_line(report, "out.html")
    assert "Conforms" not in line
    assert "0 of 4 requirements checked" in line
    assert line.count("skipped") == 1, line  # the counts once, not twice
    assert exit_code([report]) == EXIT_UNCHECKED


def test_a_run_in_which_nothing_applied_exits_4() -> None:
    report = sample_backend_report(every("not-applicable", message="not applicable: no"))
    assert report.summary.applicable == 0
    assert report.summary.conforms is False
    assert exit_code([report]) == EXIT_UNCHECKED
    assert unchecked([report]) == ["torch:cpu: 0 of 4 requirements apply, fewer than "
                                   "--min-applicable 1"]  # fmt: skip


def test_a_requirement_with_a_skipped_test_is_not_passed() -> None:
    records = every("passed", examples=5)
    records.append(record("suite.py::test_1b", "FAKE-001", "skipped", message="opted out: no"))
    report = sample_backend_report(records)
    assert report.requirements[0].status == "skipped"
    summary = report.summary
    assert summary.requirements["passed"] == 3
    assert "3 of 4 requirements checked" in summary_line(report, "out.html")


def test_a_passed_requirement_says_how_many_of_its_tests_did_not_apply() -> None:
    lacking = "not applicable: FAKE-001 needs op:sin (no sin)"
    records = [record("suite.py::test_op[mul]", "FAKE-001", "passed", examples=5)]
    records += [
        record(f"suite.py::test_op[{op}]", "FAKE-001", "not-applicable", examples=0,
               message=lacking)
        for op in ("sin", "cos", "tanh")
    ]  # fmt: skip
    verdict = sample_backend_report(records).requirements[0]
    assert verdict.status == "passed"
    assert verdict.message is not None
    assert verdict.message.startswith("passed on 1 of 4 tests; 3 not applicable")
    assert lacking in verdict.message


def test_min_applicable_and_require_make_too_little_checked_exit_4() -> None:
    records = every("passed", examples=5)
    records[2] = record("suite.py::test_3", "FAKE-003", "not-applicable", message="no float8")
    report = sample_backend_report(records)
    assert exit_code([report]) == EXIT_OK
    assert exit_code([report], min_applicable=3) == EXIT_OK
    assert exit_code([report], min_applicable=4) == EXIT_UNCHECKED
    assert exit_code([report], required=["FAKE-001"]) == EXIT_OK
    assert exit_code([report], required=["FAKE-003"]) == EXIT_UNCHECKED
    assert unchecked([report], required=["FAKE-003"]) == [
        "torch:cpu: required FAKE-003 was not-applicable, not checked"
    ]


def test_a_failure_outranks_too_little_checked() -> None:
    records = every("not-applicable", message="no")
    records[0] = record("suite.py::test_1", "FAKE-001", "failed", message="differs")
    report = sample_backend_report(records)
    assert exit_code([report], min_applicable=4) == EXIT_NONCONFORMANCE


# -- through `conformance run` -------------------------------------------------------------------
def run_fake(args: list[str], out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    use_fake_catalogue(monkeypatch)
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    code = main(["run", *SUITE, "--backend", "reference", "--out", str(out), *args])
    return code, stdout.getvalue(), stderr.getvalue()


def test_run_of_only_not_applicable_requirements_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run_fake(
        ["--requirement", "FAKE-003", "--require", "FAKE-003"], out, monkeypatch
    )
    assert code == EXIT_UNCHECKED, stdout + stderr
    assert "Nothing checked; 0 of 1 requirements checked (1 not applicable)" in stdout
    assert "reference:cpu: required FAKE-003 was not-applicable, not checked" in stdout
    report = json.loads((out / "reference-cpu.json").read_text())
    assert report["summary"]["conforms"] is False


def test_require_and_min_applicable_are_checked_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", "--require", "NOPE-1", "--out", str(out)]) == 2
    assert "NOPE-1" in capsys.readouterr().err
    assert main(["run", "--min-applicable", "-1", "--out", str(out)]) == 2
    assert not out.exists()


# -- the examples count ----------------------------------------------------------------------------
HYPOTHESIS_TESTS = """
from pathlib import Path
from hypothesis import assume, given, settings, strategies as st

CALLS = Path(__file__).with_name("calls.txt")


def call(name):
    with CALLS.open("a") as log:
        log.write(name + "\\n")


@settings(max_examples=30, database=None, derandomize=True)
@given(st.integers(0, 100))
def test_half_rejected(x):
    call("half")
    assume(x % 2 == 0)


@settings(max_examples=30, database=None, derandomize=True)
@given(st.integers(0, 10**6))
def test_fails_and_shrinks(x):
    call("fails")
    assert x < 1000
"""


def test_examples_counts_neither_rejected_draws_nor_shrinking(tmp_path: Path) -> None:
    (tmp_path / "test_counted.py").write_text(textwrap.dedent(HYPOTHESIS_TESTS))
    results = tmp_path / "results.jsonl"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_counted.py",
         "--conformance-results", str(results)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    examples = {
        json.loads(line)["nodeid"].split("::")[1]: json.loads(line)["examples"]
        for line in results.read_text().splitlines()
    }
    calls = (tmp_path / "calls.txt").read_text().split()
    assert calls.count("half") > 30  # some draws were rejected by assume ...
    assert examples["test_half_rejected"] == 30  # ... and only the 30 valid ones count
    # The failure was found on some example; shrinking it took further calls, not counted.
    assert 1 <= examples["test_fails_and_shrinks"] < calls.count("fails")


def test_exit_code_4_is_documented_where_the_others_are() -> None:
    assert "| 4 | too little checked" in (ROOT / "docs" / "cli.md").read_text()
    assert "4 too little checked" in " ".join((ROOT / "README.md").read_text().split())
    from conformance.run.cli import EXIT_CODES

    assert "  4  too little checked" in EXIT_CODES


# -- directly under pytest -----------------------------------------------------------------------
def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "--pyargs", "autograd_conformance_suites", "-q"]
    command += ["-p", "no:cacheprovider", "--conformance-backend", "reference", *args]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_a_pytest_session_that_checks_nothing_never_exits_0(tmp_path: Path) -> None:
    """Every test skipped (here: opted out by a manifest) is pytest's exit 0; a conformance
    session that checked nothing exits 5, pytest's code for a session that ran no test."""
    manifest = tmp_path / "expect.toml"
    manifest.write_text(
        '[[opt-out]]\nrequirement = "ROOT-001"\nreason = "not yet"\nbackends = ["reference"]\n'
    )
    done = _pytest(
        tmp_path, "--conformance-requirement", "ROOT-001", "--conformance-expect", str(manifest)
    )
    assert done.returncode == 5, done.stdout + done.stderr
    assert "conformance: no requirement was checked" in done.stdout
    checked = _pytest(tmp_path, "--conformance-requirement", "ROOT-001")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_conformance_out_refuses_a_folder_of_other_files(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my own file\n")
    args = ["--conformance-requirement", "ROOT-001", "--conformance-out", str(out)]
    refused = _pytest(tmp_path, *args)
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR, refused.stdout + refused.stderr
    assert "pass --conformance-force" in refused.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    forced = _pytest(tmp_path, *args, "--conformance-force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert (out / "reference-cpu.json").is_file()
