"""The soak's verdict (tests/soak.py) on hand-written reports: a requirement that did not pass
makes the seed not all-pass and is named in the summary; a clean run is all-pass."""

from __future__ import annotations

import argparse

from tests.report_samples import sample_records, sample_report
from tests.soak import SeedRun, backend_result, summary

ARGS = argparse.Namespace(profile="thorough", backend=["torch:cpu"])


def test_a_failed_requirement_fails_the_seed_and_is_named() -> None:
    run = SeedRun(seed=3, exit_code=1, wall_s=12.0, backends=[backend_result(sample_report())])
    assert not run.all_pass
    table = summary([run], ARGS, not_run=[4])
    assert "| 3 | torch:cpu | 2 / 3 | 1 failed |" in table
    assert "- seed 3, torch:cpu: FAKE-002 (failed): gradient [2.0] differs" in table
    assert "Not run: seeds 4." in table


def test_a_passing_run_is_all_pass_and_exit_code_counts() -> None:
    passing = [r for r in sample_records() if r["status"] != "failed"]
    report = sample_report(passing)
    assert backend_result(report).applicable == 3  # FAKE-003 does not apply: not a failure
    assert SeedRun(1, 0, 1.0, [backend_result(report)]).all_pass
    assert not SeedRun(1, 3, 1.0, [backend_result(report)]).all_pass
    assert not SeedRun(1, 0, 1.0, []).all_pass, "a run that wrote no report passed"


def test_an_incomplete_report_is_not_all_pass() -> None:
    passing = [r for r in sample_records() if r["status"] != "failed"]
    crash = {"kind": "signal", "phase": "run", "message": "killed by SIGKILL"}
    result = backend_result(sample_report(passing, crash=crash))
    assert result.not_passed == {}  # every test that ran passed: only the crash is wrong
    assert not result.all_pass
