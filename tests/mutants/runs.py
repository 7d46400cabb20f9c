"""Running the suites on one backend in a subprocess, as a user would, and reading the verdicts.

    python -m pytest --pyargs suites --conformance-profile ci --conformance-backend SPEC \
        --conformance-requirement ID ... --conformance-results out.jsonl

One backend per run (the plugin loads one), so a `Runner` spreads runs over a thread pool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.mutants.base import Bug
from tests.mutants.catalogue import import_path

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 900


@dataclass(frozen=True)
class Case:
    backend: str
    requirements: tuple[str, ...]


def mutant_case(mutant: type[Bug]) -> Case:
    return Case(import_path(mutant), tuple(mutant.flagged_by))


@dataclass
class Run:
    case: Case
    returncode: int
    records: list[dict[str, Any]]
    output: str
    seconds: float

    def by_requirement(self, rid: str) -> list[dict[str, Any]]:
        return [r for r in self.records if rid in r.get("requirements", ())]

    def verdict(self, rid: str) -> str:
        """'failed' when some test of `rid` failed and none errored; else what happened."""
        statuses = {r["status"] for r in self.by_requirement(rid)}
        if not statuses:
            return "not run"
        if "error" in statuses:
            return "error"
        if "failed" in statuses:
            return "failed"
        return "/".join(sorted(statuses))

    def describe(self, rid: str) -> str:
        lines = [f"{self.case.backend} --conformance-requirement {rid}: exit {self.returncode}"]
        lines += [
            f"  {r['status']}: {r['nodeid']} ({r.get('examples')} examples) "
            f"{r.get('message')!s:.400}"
            for r in self.by_requirement(rid)
        ]
        if not self.records:
            lines.append(self.output[-3000:])
        return "\n".join(lines)


def run_case(case: Case, workdir: Path, profile: str = "ci") -> Run:
    handle, name = tempfile.mkstemp(suffix=".jsonl", dir=workdir)
    os.close(handle)
    results = Path(name)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "autograd_conformance_suites",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "--conformance-profile",
        profile,
        "--conformance-backend",
        case.backend,
        "--conformance-results",
        str(results),
        # One failing test settles a requirement's verdict; the rest would only shrink again.
        "--conformance-requirement-fail-fast",
    ]
    for rid in case.requirements:
        command += ["--conformance-requirement", rid]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=REPO,  # `tests.mutants.catalogue` is importable from the repository root
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    seconds = time.perf_counter() - started
    lines = results.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return Run(case, done.returncode, records, done.stdout + done.stderr, seconds)


class Runner:
    """Runs cases on a thread pool, each at most once; `result` waits for one."""

    def __init__(self, workdir: Path, workers: int | None = None, profile: str = "ci") -> None:
        self.workdir = workdir
        self.profile = profile
        self.pool = ThreadPoolExecutor(max_workers=workers or max(1, os.cpu_count() or 1))
        self.futures: dict[Case, Future[Run]] = {}

    def submit(self, case: Case) -> None:
        if case not in self.futures:
            self.futures[case] = self.pool.submit(run_case, case, self.workdir, self.profile)

    def result(self, case: Case) -> Run:
        self.submit(case)
        return self.futures[case].result()

    def timings(self) -> list[tuple[float, str]]:
        done = [(f.result().seconds, c.backend) for c, f in self.futures.items() if f.done()]
        return sorted(done, reverse=True)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
