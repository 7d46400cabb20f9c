"""Run the benchmark workloads in a loop, for a profiler to look at:

    python -m pyinstrument -m benchmarks.profile_workloads [seed|layer|program] [ENGINE]
    py-spy record -o profile.svg -- python -m benchmarks.profile_workloads program

ENGINE is `reference` (default) or `torch`.
"""

from __future__ import annotations

import sys
import time

from benchmarks.workloads import (
    LAYER_CASES,
    ProgramRun,
    adapter_for,
    draw_program,
    engine_module,
    layer_arrays,
    layer_step,
    layer_tensors,
)

SECONDS = 5.0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    workload = args[0] if args else "program"
    engine = args[1] if len(args) > 1 else "reference"
    if workload == "program":
        step = ProgramRun.prepare(adapter_for(engine), draw_program()).step
    elif workload in ("seed", "layer"):
        case = LAYER_CASES[0] if workload == "seed" else LAYER_CASES[2]
        m = engine_module(engine)
        tensors = layer_tensors(m, layer_arrays(case))

        def step() -> object:
            return layer_step(m, *tensors)

    else:
        print(f"unknown workload {workload!r}: seed, layer or program", file=sys.stderr)
        return 2
    end, count = time.perf_counter() + SECONDS, 0
    while time.perf_counter() < end:
        step()
        count += 1
    print(f"{workload} on {engine}: {count} steps in {SECONDS:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
