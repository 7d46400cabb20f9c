"""Facts about the suite and the host that go into every report."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import conformance


def suite_info(target: list[str]) -> dict[str, Any]:
    return {
        "name": "autograd-conformance",
        "version": conformance.__version__,
        "git_commit": git_commit(),
        "git_dirty": _git("status", "--porcelain", "--untracked-files=no") not in (None, ""),
        "target": target,
    }


def git_commit() -> str | None:
    """The commit of the checkout the package runs from, if it runs from one."""
    return _git("rev-parse", "HEAD") or None


def _git(*args: str) -> str | None:
    root = Path(conformance.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def host_environment() -> dict[str, Any]:
    import hypothesis
    import numpy
    import pytest

    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": numpy.__version__,
        "hypothesis": hypothesis.__version__,
        "pytest": pytest.__version__,
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
