"""`tox -e cuda` on a machine without a visible CUDA device fails fast with one line; it is never
green by skipping."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the CUDA gate is a check of the PyTorch build")

REPO = Path(__file__).resolve().parents[1]


def test_cuda_env_starts_with_the_gate_and_runs_parity() -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    commands = [c.strip() for c in tox["testenv:cuda"]["commands"].strip().splitlines()]
    assert commands[0] == "python -m conformance.backends.cuda_check"
    assert any("--backend torch:cuda" in c and "--parity-with torch:cpu" in c for c in commands)
    assert tox["testenv:cuda"]["system_site_packages"].strip() == "true"


def test_gate_answers_for_this_machine() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.backends.cuda_check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if torch.cuda.is_available():
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("conformance: error: "), done.stderr
    assert "CUDA" in lines[0]


def test_cuda_backend_without_a_device_is_a_usage_error(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here; this checks the machine without one")
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--backend", "torch:cuda", "--out",
         str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "CUDA" in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
