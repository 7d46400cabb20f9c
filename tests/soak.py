"""Soak: the `thorough` profile over many seeds on the backends that must conform.

    python -m tests.soak --seeds 20 --out OUT        # tox -e soak

For each seed S it runs, as a user would,

    conformance run --profile thorough --seed S --backend reference --backend torch:cpu \
        -n 1 --out OUT/seed-S

and reads the JSON report of each backend. The reference engine and PyTorch on CPU are the
spec and its oracle, so every failure here is a false failure of the suites (a tolerance, a
strategy drawing an input the spec does not cover): the soak exits 1 if any run is not all-pass,
and names each failing requirement. OUT/soak.md is rewritten after every seed, so a soak that is
stopped early still leaves the figures of the seeds it ran.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BACKENDS = ("reference", "torch:cpu")


@dataclass
class BackendResult:
    label: str
    passed: int
    applicable: int
    not_passed: dict[str, int]
    """failed, error, xpass and skipped requirements (each is a false failure here)."""
    examples: int
    duration_s: float
    conforms: bool
    complete: bool
    failing: list[str]
    """'ID (status): message' of each requirement that did not pass."""

    @property
    def all_pass(self) -> bool:
        return self.conforms and self.complete and not any(self.not_passed.values())


@dataclass
class SeedRun:
    seed: int
    exit_code: int
    wall_s: float
    backends: list[BackendResult] = field(default_factory=list)

    @property
    def all_pass(self) -> bool:
        return (
            self.exit_code == 0 and bool(self.backends) and all(b.all_pass for b in self.backends)
        )


def backend_result(report: dict) -> BackendResult:
    counts = report["summary"]["requirements"]
    failing = [
        f"{r['id']} ({r['status']}): {(r['message'] or '').splitlines()[0] if r['message'] else ''}"
        for r in report["requirements"]
        if r["status"] not in ("passed", "not-applicable", "xfail")
    ]
    return BackendResult(
        label=report["backend"]["label"],
        passed=counts["passed"],
        applicable=report["summary"]["applicable"],
        not_passed={s: counts[s] for s in ("failed", "error", "xpass", "skipped") if counts[s]},
        examples=report["summary"]["examples"],
        duration_s=report["duration_s"],
        conforms=report["summary"]["conforms"],
        complete=report["complete"],
        failing=failing,
    )


def run_seed(seed: int, args: argparse.Namespace) -> SeedRun:
    out = args.out / f"seed-{seed}"
    command = [
        sys.executable, "-m", "conformance", "run", "--profile", args.profile,
        "--seed", str(seed), "-n", str(args.workers), "--out", str(out),
    ]  # fmt: skip
    for backend in args.backend or DEFAULT_BACKENDS:
        command += ["--backend", backend]
    log = args.out / f"seed-{seed}.log"
    started = time.monotonic()
    with log.open("w") as stream:
        done = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, check=False)
    run = SeedRun(seed, done.returncode, time.monotonic() - started)
    # The run's own backend reports; the matrix and the other formats are not needed here.
    for path in sorted(out.glob("*.json")) if out.is_dir() else []:
        run.backends.append(backend_result(json.loads(path.read_text())))
    return run


def summary(runs: list[SeedRun], args: argparse.Namespace, not_run: list[int]) -> str:
    backends = ", ".join(args.backend or DEFAULT_BACKENDS)
    clean = sum(r.all_pass for r in runs)
    lines = [
        f"# Soak: profile `{args.profile}`, backends {backends}",
        "",
        f"Seeds run: {len(runs)}; all-pass: {clean}; not all-pass: {len(runs) - clean}"
        + (f"; not run (time budget): {len(not_run)}" if not_run else ""),
        "",
        "| seed | backend | passed / applicable | not passed | examples | backend s | run wall s "
        "| exit |",
        "|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        if not run.backends:
            lines.append(
                f"| {run.seed} | (no report) | | | | | {run.wall_s:.0f} | {run.exit_code} |"
            )
        for b in run.backends:
            bad = ", ".join(f"{n} {s}" for s, n in b.not_passed.items()) or "-"
            if not b.complete:
                bad += " (incomplete)"
            lines.append(
                f"| {run.seed} | {b.label} | {b.passed} / {b.applicable} | {bad} | {b.examples} "
                f"| {b.duration_s:.0f} | {run.wall_s:.0f} | {run.exit_code} |"
            )
    failures = [(r.seed, b.label, f) for r in runs for b in r.backends for f in b.failing]
    if failures:
        lines += ["", "## Requirements that did not pass", ""]
        lines += [f"- seed {seed}, {label}: {text}" for seed, label, text in failures]
    if not_run:
        lines += ["", f"Not run: seeds {', '.join(map(str, not_run))}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds (default 20)")
    parser.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument("--backend", action="append", help="default: reference and torch:cpu")
    parser.add_argument("--profile", default="thorough")
    parser.add_argument("-n", dest="workers", default="1", help="workers per backend (default 1)")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for each seed's reports and soak.md"
    )
    parser.add_argument(
        "--budget-s", type=float, default=None,
        help="start no seed that would, at the mean time per seed so far, end after S seconds",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs: list[SeedRun] = []
    started = time.monotonic()
    for index, seed in enumerate(seeds):
        elapsed = time.monotonic() - started
        if args.budget_s is not None and runs and elapsed * (1 + 1 / len(runs)) > args.budget_s:
            not_run = seeds[index:]
            break
        runs.append(run_seed(seed, args))
        (args.out / "soak.md").write_text(summary(runs, args, []))
        verdict = "all pass" if runs[-1].all_pass else "NOT ALL PASS"
        print(f"seed {seed}: {verdict} ({runs[-1].wall_s:.0f} s)", flush=True)
    else:
        not_run = []
    (args.out / "soak.md").write_text(summary(runs, args, not_run))
    print(f"summary: {args.out / 'soak.md'}")
    return 0 if runs and all(r.all_pass for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
