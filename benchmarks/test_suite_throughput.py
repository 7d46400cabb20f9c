"""`conformance run --profile ci` for each default backend, with one worker and with `-n auto`:
wall time (target <= 60 s each on 2 cores), peak memory (target <= 1 GiB) and examples per second
per requirement. One round each: a run is a minute of wall time, not a microbenchmark; publish.py
judges the targets."""

from __future__ import annotations

import os
from typing import Any

import pytest

from benchmarks.suite_throughput import BACKENDS, TARGET_RSS_MIB, TARGET_S, WORKERS, measure


@pytest.mark.benchmark(group="suite-ci")
@pytest.mark.parametrize("workers", WORKERS, ids=lambda w: f"workers-{w}")
@pytest.mark.parametrize("backend", BACKENDS)
def test_ci_run(benchmark: Any, backend: str, workers: str) -> None:
    result = benchmark.pedantic(measure, args=(backend, workers), rounds=1, iterations=1)
    benchmark.extra_info.update(
        workload="suite-ci",
        case=f"{backend} -n {workers}",
        target=TARGET_S,
        target_rss_mib=TARGET_RSS_MIB,
        load_average=os.getloadavg()[0],
        cpu_count=os.cpu_count(),
        **result,
    )
    # A crashed or misused run (exit 2 or 3) has no meaningful time; a nonconformance (exit 1)
    # is still a complete run, and the report says which requirement failed.
    assert result["exit_code"] in (0, 1), result["stderr_tail"]
    assert result["report"] is not None and result["report"]["complete"]
