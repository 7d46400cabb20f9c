"""The README's promises hold: CI runs its test command verbatim, and its summary of the published
reports is what reports/ holds."""

from __future__ import annotations

import re
from pathlib import Path

from conformance.report.readme import END, START, render_table

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", README, re.S)


def test_readme_gives_the_two_commands_and_ci_runs_the_test_command() -> None:
    blocks = _commands()
    run_job = next(b for b in blocks if b.endswith("conformance run"))
    test_job = next(b for b in blocks if "python -m pytest" in b)
    assert run_job.startswith("python3 -m venv .venv && ")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_job in ci.splitlines(), "the README's test command must appear verbatim in .ci/run"


def test_readme_matrix_matches_the_published_reports() -> None:
    table = README.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == render_table(REPO / "reports"), (
        "README is stale: python -m conformance.report.readme"
    )
