"""`python -m tests.mutants [NAME ...]`: run the suites on mutants and print who flags what.

Prints one row per (mutant, requirement it names) with the verdict, then the total time. Exit
status 1 when some named requirement does not come out "failed".
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.mutants.catalogue import CATALOGUE, TORCH_CATALOGUE
from tests.mutants.runs import Runner, mutant_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants")
    parser.add_argument("names", nargs="*", help="mutant class names (default: the catalogue)")
    parser.add_argument("--torch", action="store_true", help="the bugs on top of PyTorch")
    parser.add_argument("--jobs", type=int, default=None, help="parallel runs (default: cores)")
    parser.add_argument("--profile", default="ci", choices=("ci", "thorough", "dev"))
    args = parser.parse_args(argv)
    pool = TORCH_CATALOGUE if args.torch else CATALOGUE
    everything = {m.__name__: m for m in (*CATALOGUE, *TORCH_CATALOGUE)}
    chosen = [everything[n] for n in args.names] if args.names else list(pool)
    started = time.perf_counter()
    misses = 0
    with tempfile.TemporaryDirectory() as workdir:
        runner = Runner(Path(workdir), args.jobs, args.profile)
        for mutant in chosen:
            runner.submit(mutant_case(mutant))
        print(f"{'mutant':36} {'class':6} {'requirement':12} {'verdict':16} seconds")
        for mutant in chosen:
            run = runner.result(mutant_case(mutant))
            bug_class = mutant.bug_class if not mutant.bug_class.startswith("own") else "own"
            for rid in mutant.flagged_by:
                verdict = run.verdict(rid)
                misses += verdict != "failed"
                mark = "" if verdict == "failed" else "   <-- MISS"
                print(
                    f"{mutant.__name__:36} {bug_class:6} {rid:12} {verdict:16} "
                    f"{run.seconds:6.1f}{mark}"
                )
        runner.close()
    print(f"{len(chosen)} mutants, {misses} misses, {time.perf_counter() - started:.0f} s wall")
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
