"""`--conformance-db DIR` (`conformance run --db DIR`): a failure found in one run is replayed
first in the next, from a hypothesis example database in DIR (docs/cli.md).

The observable is hypothesis's own statistics (--hypothesis-show-statistics): the second run
finds its failure in the reuse phase and never needs to generate.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.mutants.catalogue import RetainGradIgnored, import_path

REQUIREMENT = "RETAIN-002"


def run_mutant(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "autograd_conformance_suites", "-q",
         "-p", "no:cacheprovider",
         "--conformance-backend", import_path(RetainGradIgnored),
         "--conformance-requirement", REQUIREMENT, "--hypothesis-show-statistics", *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False, env=env,
    )  # fmt: skip


def statistics(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.partition("Hypothesis Statistics")[2]


def test_a_failure_found_in_one_run_is_replayed_first_in_the_next(tmp_path: Path) -> None:
    assert REQUIREMENT in RetainGradIgnored.flagged_by
    database = tmp_path / "examples"

    first = run_mutant(tmp_path, "--conformance-db", str(database))
    assert first.returncode == 1, first.stdout + first.stderr
    assert "during generate phase" in statistics(first)
    assert [p for p in database.rglob("*") if p.is_file()], "nothing saved in the database"

    second = run_mutant(tmp_path, "--conformance-db", str(database))
    assert second.returncode == 1, second.stdout + second.stderr
    replayed = statistics(second)
    assert "during reuse phase" in replayed and "1 failing" in replayed, replayed
    assert "during generate phase" not in replayed, replayed


def test_without_a_database_nothing_is_kept(tmp_path: Path) -> None:
    # The `ci` default: no database, so the seed alone decides what a run draws.
    for _ in range(2):
        done = run_mutant(tmp_path)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "during reuse phase" not in statistics(done)
        assert "during generate phase" in statistics(done)
    assert not (tmp_path / ".hypothesis" / "examples").exists()


def test_conformance_run_hands_the_database_to_each_worker(tmp_path: Path) -> None:
    from conformance.backends.registry import parse_spec
    from conformance.run.cli import build_parser
    from conformance.run.options import RunOptions
    from conformance.run.worker import worker_command

    args = build_parser().parse_args(["run", "--backend", "reference", "--db", "examples"])
    options = RunOptions.from_args(args)
    assert options.db == Path("examples")
    command = worker_command(parse_spec("reference"), options, tmp_path / "r", tmp_path / "p")
    at = command.index("--conformance-db")
    assert command[at + 1] == str(Path("examples").resolve())


SEEDED = """
import json, os
from hypothesis import given, strategies as st

DRAWN = []

@given(st.integers(0, 2**60))
def test_draws(value):
    DRAWN.append(value)

def test_zz_write():
    with open(os.environ["DRAWN_FILE"], "w") as out:
        json.dump(DRAWN, out)
"""


def test_with_a_database_the_seed_still_decides_the_draws(tmp_path: Path) -> None:
    import json

    (tmp_path / "test_seeded.py").write_text(SEEDED)

    def drawn(seed: int, database: str) -> list[int]:
        out = tmp_path / f"{database}.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS"))}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_seeded.py",
             "--conformance-seed", str(seed), "--conformance-db", database],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
            env={**env, "DRAWN_FILE": str(out)},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return list(json.loads(out.read_text()))

    first = drawn(1, "one")
    assert len(first) == 25  # the `ci` budget
    assert drawn(1, "two") == first
    assert drawn(2, "three") != first
