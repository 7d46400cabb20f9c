"""Shared fixtures of the benchmarks, and the facts every result file records about the run
(library versions, thread counts, the machine's load: timings on a busy machine are noisy)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:  # `pytest benchmarks` from a checkout imports the packages from it
    sys.path.insert(0, ROOT)

from benchmarks import threads  # noqa: E402
from benchmarks.workloads import draw_program  # noqa: E402
from conformance.spec.program import Program  # noqa: E402

THREAD_SETTINGS = (None, 1)
"""None: each library's default thread count; 1: both pinned to one thread."""


def thread_id(setting: int | None) -> str:
    return "threads-default" if setting is None else f"threads-{setting}"


def thread_label(setting: int | None) -> str:
    return "default" if setting is None else str(setting)


def pytest_benchmark_update_machine_info(config: Any, machine_info: dict[str, Any]) -> None:
    import numpy
    import torch

    machine_info["autograd_conformance"] = {
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "torch_default_threads": threads.torch_threads(),
        "blas_default_threads": threads.blas_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }


@pytest.fixture(scope="session")
def program_200() -> Program:
    return draw_program()
