"""Every published finding's reproducer runs against the installed engine and shows the divergence.

A reproducer is `docs/findings/<engine>_<REQID>.py`: a standalone script that uses the engine
directly (no conformance code), asserts the engine's divergent behaviour and prints a line
starting with "DIVERGENCE <REQID>:". If the engine changes, the script fails and so does this
test, so a report never keeps blaming an engine for something it no longer does, nor for an
adapter's bug.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.spec.requirements import BY_ID

FINDINGS = Path(__file__).resolve().parents[2] / "docs" / "findings"
ENGINE_MODULES = {"mygrad": "mygrad", "jax": "jax", "tinygrad": "tinygrad", "paddle": "paddle"}
NAME = re.compile(r"^(?P<engine>[a-z]+)_(?P<rid>[A-Z]+-\d{3})\.py$")
REPRODUCERS = sorted(FINDINGS.glob("*_*.py"))


def test_there_are_findings_to_check() -> None:
    assert REPRODUCERS, f"no reproducers in {FINDINGS}"


@pytest.mark.parametrize("script", REPRODUCERS, ids=lambda p: p.stem)
def test_reproducer_is_named_documented_and_tied_to_a_requirement(script: Path) -> None:
    match = NAME.match(script.name)
    assert match, f"{script.name}: expected <engine>_<REQID>.py"
    assert match["engine"] in ENGINE_MODULES
    assert match["rid"] in BY_ID, f"{script.name}: unknown requirement {match['rid']}"
    writeup = FINDINGS / f"{match['engine']}.md"
    assert writeup.exists() and script.name in writeup.read_text(encoding="utf-8")
    assert "conformance" not in script.read_text(encoding="utf-8"), "must use the engine only"


@pytest.mark.parametrize("script", REPRODUCERS, ids=lambda p: p.stem)
def test_reproducer_shows_the_divergence_on_the_installed_engine(
    script: Path, tmp_path: Path
) -> None:
    match = NAME.match(script.name)
    assert match
    module = ENGINE_MODULES[match["engine"]]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (optional extra: autograd-conformance[{module}])")
    # A scratch HOME and cache: engines write caches there (paddle at import, tinygrad's kernels).
    env = {**os.environ, "HOME": str(tmp_path), "CACHEDB": str(tmp_path / "tinygrad.db")}
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"DIVERGENCE {match['rid']}:" in done.stdout


REPORTS = Path(__file__).resolve().parents[2] / "reports"


@pytest.mark.parametrize("engine", sorted(ENGINE_MODULES))
def test_every_failure_in_a_published_report_has_a_reproducer(engine: str) -> None:
    """A published report's failures are findings: each needs a reproducer this file runs."""
    failing = set()
    for path in REPORTS.glob(f"{engine}-*.json"):
        report = json.loads(path.read_text(encoding="utf-8"))
        failing |= {
            req["id"] for req in report["requirements"] if req["status"] in ("failed", "error")
        }
    missing = sorted(rid for rid in failing if not (FINDINGS / f"{engine}_{rid}.py").exists())
    assert not missing, f"{engine}: failures without a reproducer in docs/findings: {missing}"
