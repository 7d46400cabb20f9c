"""The plugin is installed in every pytest run of its environment (pytest11), so it must leave a
project that does not ask for it exactly as it is: its hypothesis settings, seed and database,
its own `--backend` option and its own `requirement` marker.

Each run is a fresh `python -m pytest` in this environment, in a scratch project.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN = "autograd_conformance"

CONFTEST = """
import pytest

def pytest_addoption(parser):
    parser.addoption("--backend", default="numpy", help="this project's own backend option")

@pytest.fixture(scope="session")
def backend(request):
    return request.config.getoption("--backend")
"""

PYTEST_INI = """
[pytest]
markers =
    requirement(text): this project's own requirements, free text
addopts = --strict-markers
"""

TEST_PROJECT = """
import json, os
import pytest
from hypothesis import given, settings, strategies as st

DRAWN = []

@pytest.mark.requirement("the user may say anything here")
@settings(max_examples=500)
@given(st.integers(0, 2**62))
def test_counts_examples(backend, value):
    assert backend == "mine"
    DRAWN.append(value)

def test_zz_write_what_ran():
    current = settings()
    with open(os.environ["DRAWN_FILE"], "w") as out:
        json.dump({
            "drawn": DRAWN,
            "profile": settings.get_current_profile_name(),
            "settings": repr(current),
        }, out)
"""


def scratch_project(root: Path) -> Path:
    root.mkdir()
    (root / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (root / "pytest.ini").write_text(textwrap.dedent(PYTEST_INI))
    (root / "test_project.py").write_text(textwrap.dedent(TEST_PROJECT))
    return root


def run_project(project: Path, tag: str, *extra: str) -> tuple[str, dict]:
    drawn = project.parent / f"drawn-{tag}.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--backend", "mine",
         *extra],
        cwd=project, capture_output=True, text=True, timeout=300, check=False,
        env={**_environ(), "DRAWN_FILE": str(drawn)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return _normalised(done.stdout + done.stderr), json.loads(drawn.read_text())


def _environ() -> dict[str, str]:
    import os

    # The project's own interpreter, free of anything this test session set for hypothesis, and
    # of the variables by which hypothesis itself detects CI (its `is_in_ci`): there it loads a
    # derandomized profile, which would fix the scratch project's seed with or without us.
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "HYPOTHESIS")) and k not in HYPOTHESIS_CI_VARIABLES
    }


HYPOTHESIS_CI_VARIABLES = frozenset(
    {"CI", "__TOX_ENVIRONMENT_VARIABLE_ORIGINAL_CI", "TF_BUILD", "bamboo.buildKey", "BUILDKITE",
     "CIRCLECI", "CIRRUS_CI", "CODEBUILD_BUILD_ID", "GITHUB_ACTIONS", "GITLAB_CI",
     "HEROKU_TEST_RUN_ID", "TEAMCITY_VERSION"}
)  # fmt: skip


def _normalised(output: str) -> str:
    return re.sub(r"in \d+\.\d+s", "in Ts", output)


def test_a_project_that_does_not_ask_runs_as_without_the_plugin(tmp_path: Path) -> None:
    project = scratch_project(tmp_path / "project")

    with_plugin, first = run_project(project, "first")
    _, second = run_project(project, "second")
    without_plugin, alone = run_project(project, "alone", "-p", f"no:{PLUGIN}")

    assert len(first["drawn"]) == 500 and len(alone["drawn"]) == 500
    # Hypothesis's own random seed, not one forced by the plugin: two runs draw differently.
    assert first["drawn"] != second["drawn"]
    assert first["profile"] == alone["profile"] == "default"
    assert first["settings"] == alone["settings"]
    assert with_plugin == without_plugin


TEST_SETTINGS = """
import json, os
import hypothesis.core
from hypothesis import settings

def test_write_settings():
    with open(os.environ["DRAWN_FILE"], "w") as out:
        json.dump({
            "profile": settings.get_current_profile_name(),
            "max_examples": settings.default.max_examples,
            "seed": hypothesis.core.global_force_seed,
        }, out)
"""


def test_asked_for_it_loads_its_named_profile_and_yields_to_hypothesis_options(
    tmp_path: Path,
) -> None:
    from conformance.spec.profiles import DEFAULT_SEED, PROFILES

    project = scratch_project(tmp_path / "project")
    (project / "test_settings.py").write_text(textwrap.dedent(TEST_SETTINGS))

    _, asked = run_project(
        project, "asked", "test_settings.py", "--conformance-profile", "thorough"
    )
    assert asked == {
        "profile": "conformance-thorough",
        "max_examples": PROFILES["thorough"].max_examples,
        "seed": DEFAULT_SEED,
    }
    # Hypothesis's own options, given explicitly, win over the conformance profile and seed.
    _, overridden = run_project(
        project, "overridden", "test_settings.py", "--conformance-profile", "thorough",
        "--conformance-seed", "5", "--hypothesis-profile", "default", "--hypothesis-seed", "9",
    )  # fmt: skip
    assert overridden == {"profile": "default", "max_examples": 100, "seed": 9}
