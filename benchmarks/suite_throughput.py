"""Wall time and memory of `conformance run --profile ci`, one backend at a time.

    python -m benchmarks.suite_throughput [--backend SPEC]... [-n WORKERS]... [--json OUT]

Each run is a subprocess, timed from start to exit. Memory is read from /proc every 50 ms for
the run's whole process tree: the peak of the summed resident sets (xdist workers run side by
side, so the sum is what the machine must hold) and the largest single process's peak (its
VmHWM). Not wait4's ru_maxrss: a child forked from a large process (pytest with torch loaded)
reports its parent's size from before its exec. The run's JSON report gives the examples and
test time per requirement. benchmarks/test_suite_throughput.py runs the same measurement under
pytest-benchmark, so `tox -e bench` publishes it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("reference", "torch:cpu")
WORKERS = ("1", "auto")
TARGET_S = 60.0
TARGET_RSS_MIB = 1024.0
_SAMPLE_S = 0.05


def _children_by_parent() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                # the command name may contain spaces: the fields after it start after ')'
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> tuple[int, int]:
    """KiB: the summed resident set of `root` and its descendants, and the largest peak
    resident set (VmHWM) among them; zeros where /proc is missing."""
    tree, total, largest, stack = _children_by_parent(), 0, 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(tree.get(pid, ()))
        total += _status_kib(pid, "VmRSS:")
        largest = max(largest, _status_kib(pid, "VmHWM:"))
    return total, largest


class _PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.tree_kib, self.process_kib = pid, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            total, largest = tree_memory(self.pid)
            self.tree_kib = max(self.tree_kib, total)
            self.process_kib = max(self.process_kib, largest)
            self.done.wait(_SAMPLE_S)


def measure(backend: str, workers: str = "1", profile: str = "ci") -> dict[str, Any]:
    """Run `conformance run` once for one backend; wall time, memory and the report's figures."""
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as out:
        command = [
            sys.executable, "-m", "conformance", "run", "--backend", backend,
            "--profile", profile, "--out", out, "-n", workers,
        ]  # fmt: skip
        env = dict(os.environ)
        # the checkout's packages, whether or not the project is installed (editable or not)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        start = time.perf_counter()
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        sampler = _PeakSampler(proc.pid)
        sampler.start()
        assert proc.stderr is not None
        stderr = proc.stderr.read()  # drained while it runs: a full pipe would block the run
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        sampler.done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        reports = sorted(Path(out).glob("*-*.json"))
        report = json.loads(reports[0].read_text()) if reports else None
    return {
        "backend": backend,
        "workers": workers,
        "profile": profile,
        "command": " ".join(["conformance", *command[3:-4], "--out", "DIR", "-n", workers]),
        "exit_code": proc.returncode,
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),  # every process of the run, summed
        "max_process_rss_mib": round(sampler.process_kib / 1024, 1),
        "peak_tree_rss_mib": round(sampler.tree_kib / 1024, 1),
        "stderr_tail": stderr.decode(errors="replace")[-2000:] if proc.returncode > 1 else "",
        "report": _report_figures(report),
    }


def _report_figures(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "complete": report["complete"],
        "duration_s": report["duration_s"],
        "summary": report["summary"],
        "requirements": [
            {
                "id": r["id"],
                "status": r["status"],
                "examples": r["examples"],
                "duration_s": r["duration_s"],
                "examples_per_s": r["examples_per_s"],
            }
            for r in report["requirements"]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite_throughput")
    parser.add_argument("--backend", action="append", dest="backends")
    parser.add_argument("-n", action="append", dest="workers", metavar="WORKERS")
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args(argv)
    results = []
    for backend in args.backends or BACKENDS:
        for workers in args.workers or WORKERS:
            result = measure(backend, workers, args.profile)
            results.append(result)
            print(
                f"{backend:12} -n {workers:4}  {result['wall_s']:7.1f} s"
                f" (CPU {result['cpu_s']:.1f} s)  exit {result['exit_code']}"
                f"  max process RSS {result['max_process_rss_mib']:.0f} MiB"
                f"  peak tree RSS {result['peak_tree_rss_mib']:.0f} MiB"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
