"""`conformance --version` and `--help` answer without importing the heavy libraries.

Checked by which modules a fresh interpreter has imported, not by a stopwatch, so the test holds
on a busy machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

HEAVY = ("numpy", "hypothesis", "pytest", "torch", "conformance.backends.registry")


def _imported_after(argv: list[str]) -> dict[str, object]:
    """Run `conformance ARGV` in a fresh interpreter; what it printed, how it exited and which of
    HEAVY it imported."""
    program = f"""
import contextlib, io, json, sys
from conformance.run.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main({argv!r})
    except SystemExit as exc:
        code = exc.code
print(json.dumps({{"code": code, "out": out.getvalue(),
                  "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_help_imports_no_engine_nor_test_library() -> None:
    result = _imported_after(["--help"])
    assert result["code"] == 0
    assert "usage: conformance" in str(result["out"])
    assert result["heavy"] == []


def test_run_help_imports_no_engine_nor_test_library() -> None:
    result = _imported_after(["run", "--help"])
    assert result["code"] == 0
    assert "--profile {ci,thorough,dev}" in str(result["out"])
    assert result["heavy"] == []


def test_version_prints_the_installed_distributions_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert done.stdout == f"conformance {version('autograd-conformance')}\n"
    assert done.stderr == ""


def test_the_package_version_is_the_distributions() -> None:
    import conformance

    assert conformance.__version__ == version("autograd-conformance")
