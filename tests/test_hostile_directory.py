"""A run started in any directory runs the installed suites, as installed.

The worker runs in a scratch folder with the suites' installed path as its target, its own empty
pytest configuration and the caller's directory off the front of sys.path
(conformance/run/worker.py), so none of a user's folders named `suites`, `reference_engine` or
`conformance`, pytest.ini addopts, conftest.py or PYTEST_ADDOPTS reaches it. The installed import
names of the suites and the reference engine are the project's own (pyproject.toml).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = Path(sys.executable).with_name("conformance")


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A directory in which an unguarded pytest run would collect nothing, crash or run the
    wrong code."""
    for package, body in {
        "suites": "",
        "reference_engine": "raise ImportError('the caller folder reference_engine was imported')",
        "conformance": "raise ImportError('the caller folder conformance was imported')",
        "autograd_conformance_suites": "raise ImportError('a caller folder shadowed the suites')",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(body + "\n")
    (tmp_path / "suites" / "test_fake.py").write_text("def test_nothing():\n    pass\n")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = -k nothing_matches_this --no-such-option\nfilterwarnings = error\n"
    )
    (tmp_path / "conftest.py").write_text("raise SystemExit('the caller conftest.py was loaded')\n")
    (tmp_path / "local_adapter.py").write_text(
        "from conformance.backends.reference import ReferenceAdapter\n\n"
        "class LocalAdapter(ReferenceAdapter):\n    name = 'local'\n"
    )
    return tmp_path


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTEST_ADDOPTS": "-k nothing_matches_this", "PYTHONPATH": ""}
    return subprocess.run(
        [str(CONSOLE), "run", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def test_a_run_from_a_hostile_directory_runs_the_installed_suites(hostile: Path) -> None:
    done = _run(hostile, "--backend", "reference", "--requirement", "RG-001", "--out", "out")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((hostile / "out" / "reference-cpu.json").read_text())
    assert report["complete"] and report["crash"] is None
    verdict = {r["id"]: r["status"] for r in report["requirements"]}
    assert verdict["RG-001"] == "passed", verdict
    nodeids = [t["nodeid"] for t in report["tests"]]
    # Bundled tests keep their short, install-independent IDs (manifests name them so).
    assert nodeids and all(n.startswith("suites/test_") for n in nodeids), nodeids
    assert report["summary"]["examples"] > 0


def test_an_import_path_adapter_in_the_callers_directory_still_loads(hostile: Path) -> None:
    """The caller's directory is searched last: `local_adapter:LocalAdapter` is found there,
    while its own `conformance` folder does not shadow the installed package."""
    done = _run(
        hostile, "--backend", "local_adapter:LocalAdapter", "--requirement", "RG-001",
        "--out", "out",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (hostile / "out" / "local_adapter.LocalAdapter-cpu.json").is_file()


def test_a_suite_that_is_neither_a_path_nor_a_package_is_refused(tmp_path: Path) -> None:
    done = _run(tmp_path, "--suite", "no_such_suite_here", "--out", "out")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no_such_suite_here" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_installed_names_are_the_projects_own_and_the_package_list_is_complete() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = config["package-dir"]
    assert set(folders) == {"autograd_conformance_suites", "autograd_conformance_reference"}

    def installed_name(folder: Path) -> str:
        parts = folder.relative_to(ROOT).parts
        top = {v: k for k, v in folders.items()}.get(parts[0], parts[0])
        return ".".join((top, *parts[1:]))

    on_disk = {
        installed_name(init.parent)
        for top in ("conformance", *folders.values())
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert sorted(config["packages"]) == sorted(on_disk)
