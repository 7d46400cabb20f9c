"""Reference engine against PyTorch CPU eager, forward + backward, same code with the module
swapped. Each benchmark records what publish.py pairs and compares in `extra_info`; the targets
(issue 8) are judged there, never asserted here.

Before timing, `test_*_agree` checks the two engines compute the same gradients, so the two
timings are of the same computation."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pytest

from benchmarks import threads
from benchmarks.conftest import THREAD_SETTINGS, thread_id, thread_label
from benchmarks.workloads import (
    LAYER_CASES,
    LayerCase,
    ProgramRun,
    adapter_for,
    engine_module,
    layer_arrays,
    layer_step,
    layer_tensors,
    program_facts,
)
from conformance.spec.program import Program

ENGINES = ("reference", "torch")
PROGRAM_TARGET = 1.0


def _name(case: Any) -> str:
    return case.name.replace(" ", "-").replace(">", "")


# -- first, the two engines compute the same thing (not timed) --------------------------------
@pytest.mark.parametrize("case", LAYER_CASES, ids=_name)
def test_linear_bce_agree(case: LayerCase) -> None:
    grads = {}
    for engine in ENGINES:
        m = engine_module(engine)
        x, W, b, y = layer_tensors(m, layer_arrays(case))  # noqa: N806
        loss = layer_step(m, x, W, b, y)
        grads[engine] = [loss.detach().numpy(), W.grad.numpy(), b.grad.numpy()]
    rtol = 1e-4 if case.dtype == "float32" else 1e-10
    for got, want in zip(grads["reference"], grads["torch"], strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.max(np.abs(want)))


def test_random_program_agrees(program_200: Program) -> None:
    grads = {e: ProgramRun.prepare(adapter_for(e), program_200).step() for e in ENGINES}
    assert (
        len(grads["reference"])
        == len(grads["torch"])
        == sum(i.requires_grad for i in program_200.inputs)
    )
    for got, want in zip(grads["reference"], grads["torch"], strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-9)


def _marks(setting: int | None, group: str) -> Any:
    """Wall time with the default threads; with one thread, the process's CPU time, which other
    processes on a shared machine cannot inflate by taking the core away."""
    timer = time.perf_counter if setting is None else time.process_time
    return pytest.mark.benchmark(group=group, warmup=True, timer=timer)


def _grid(cases: tuple[Any, ...], group: str) -> list[Any]:
    """Reference and torch adjacent for each case and thread setting: the two timings of a pair
    are taken as close together as the run allows."""
    return [
        pytest.param(
            setting,
            case,
            engine,
            id=f"{_name(case)}-{engine}-{thread_id(setting)}",
            marks=_marks(setting, group),
        )
        for setting in THREAD_SETTINGS
        for case in cases
        for engine in ENGINES
    ]


def _record(benchmark: Any, setting: int | None, **info: Any) -> None:
    timer = "wall" if setting is None else "process CPU"
    benchmark.extra_info.update(info, timer=timer, load_average=os.getloadavg()[0])


@pytest.mark.parametrize(("setting", "case", "engine"), _grid(LAYER_CASES, "linear+bce"))
def test_linear_bce(benchmark: Any, setting: int | None, case: LayerCase, engine: str) -> None:
    m = engine_module(engine)
    tensors = layer_tensors(m, layer_arrays(case))
    with threads.limited(setting) as counts:
        benchmark(layer_step, m, *tensors)
    _record(
        benchmark,
        setting,
        workload="linear+bce",
        case=case.name,
        engine=engine,
        threads=thread_label(setting),
        target=case.target,
        parameters=case.parameters,
        **counts,
    )


@pytest.mark.parametrize(
    ("setting", "engine"),
    [
        pytest.param(s, e, id=f"{e}-{thread_id(s)}", marks=_marks(s, "program-200"))
        for s in THREAD_SETTINGS
        for e in ENGINES
    ],
)
def test_random_program(
    benchmark: Any, setting: int | None, engine: str, program_200: Program
) -> None:
    run = ProgramRun.prepare(adapter_for(engine), program_200)
    with threads.limited(setting) as counts:
        benchmark(run.step)
    _record(
        benchmark,
        setting,
        workload="program-200",
        case=f"{len(program_200.steps)}-op random program",
        engine=engine,
        threads=thread_label(setting),
        target=PROGRAM_TARGET,
        program=program_facts(program_200),
        **counts,
    )
