"""Turn one pytest-benchmark result file into reports/benchmarks.md, a plot and a compact JSON.

    python -m benchmarks.publish BENCH.json OUT_DIR

Every ratio compares two timings from the same file, so from one process on one machine; each
target of issue 8 is marked met or missed. Ratios use the best (minimum) round of each side, the
estimate least disturbed by other processes; the ratio of medians is shown beside it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLOT_NAME = "benchmarks.svg"
MET, MISSED = "met", "**missed**"


@dataclass(frozen=True)
class Row:
    """One benchmark: what publish needs from pytest-benchmark's record."""

    name: str
    info: Mapping[str, Any]
    min_s: float
    median_s: float
    rounds: int

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Row:
        stats = record["stats"]
        return cls(
            record["name"],
            record.get("extra_info", {}),
            stats["min"],
            stats["median"],
            stats["rounds"],
        )

    def get(self, key: str, default: Any = None) -> Any:
        return self.info.get(key, default)


@dataclass(frozen=True)
class Target:
    what: str
    measured: float
    limit: float
    unit: str

    @property
    def met(self) -> bool:
        return self.measured <= self.limit

    def cells(self) -> list[str]:
        return [
            self.what,
            f"{self.measured:.3g}{self.unit}",
            f"<= {self.limit:g}{self.unit}",
            MET if self.met else MISSED,
        ]


def load(path: Path) -> tuple[list[Row], dict[str, Any]]:
    data = json.loads(path.read_text())
    return [Row.from_record(b) for b in data["benchmarks"]], data


def _where(rows: Iterable[Row], **match: Any) -> list[Row]:
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


# -- 1. engine ratios -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    workload: str
    case: str
    threads: str
    reference: Row
    torch: Row

    @property
    def ratio(self) -> float:
        return self.reference.min_s / self.torch.min_s

    @property
    def median_ratio(self) -> float:
        return self.reference.median_s / self.torch.median_s

    @property
    def target(self) -> float:
        return float(self.reference.get("target"))


def engine_pairs(rows: Sequence[Row]) -> list[Pair]:
    pairs = []
    for ref in rows:
        if ref.get("workload") not in ("linear+bce", "program-200"):
            continue
        if ref.get("engine") != "reference":
            continue
        key = {k: ref.get(k) for k in ("workload", "case", "threads")}
        torch = _where(rows, engine="torch", **key)
        if torch:
            pairs.append(Pair(key["workload"], key["case"], key["threads"], ref, torch[0]))
    return pairs


def engine_section(pairs: Sequence[Pair]) -> tuple[list[str], list[Target]]:
    lines = ["## 1. Reference engine vs PyTorch CPU eager (forward + backward)", ""]
    if not pairs:
        return lines + ["Not measured in this run.", ""], []
    lines += [
        "The same code runs on both engines with the module swapped (`benchmarks/workloads.py`):"
        " the linear + BCE-with-logits example (`z = x @ W + b`, mean BCE, `loss.backward()`)"
        " and a 200-op program drawn with a fixed seed from `suites.strategies.programs`, run"
        " through the adapters as the suites run programs (`autograd.grad` over every output).",
        "",
        "With the default thread counts both engines' native libraries run two threads on a"
        " 2-core machine. When other processes keep the cores busy (see the load column), every"
        " parallel region waits for a thread that has no core, and a tiny op can take"
        " milliseconds: the default-thread rows then measure the machine's load more than the"
        " engines. The one-thread rows, in process CPU time, are the comparison that load does"
        " not distort.",
        "",
    ]
    header = [
        "workload",
        "case",
        "threads",
        "timer",
        "reference (min / median)",
        "torch (min / median)",
        "ratio",
        "ratio of medians",
        "target",
        "",
        "load (1 min)",
    ]
    body = [
        [
            p.workload,
            p.case,
            p.threads,
            p.reference.get("timer", "wall"),
            f"{_time(p.reference.min_s)} / {_time(p.reference.median_s)}",
            f"{_time(p.torch.min_s)} / {_time(p.torch.median_s)}",
            f"{p.ratio:.2f}x",
            f"{p.median_ratio:.2f}x",
            f"<= {p.target:g}x",
            MET if p.ratio <= p.target else MISSED,
            f"{p.reference.get('load_average', 0):.1f} / {p.torch.get('load_average', 0):.1f}",
        ]
        for p in pairs
    ]
    lines += _table(header, body)
    program = next((p.reference.get("program") for p in pairs if p.reference.get("program")), None)
    if program:
        ops = ", ".join(f"{op} {n}" for op, n in program["ops"].items())
        lines += [
            f"The program: {program['steps']} ops, {program['inputs']} inputs,"
            f" {program['outputs']} outputs, values of at most {program['largest_value']}"
            f" elements (digest {program['sha256']}); ops: {ops}.",
            "",
        ]
    targets = [
        Target(f"reference / torch, {p.case}, {p.threads}", p.ratio, p.target, "x") for p in pairs
    ]
    return lines, targets


# -- 2. suite throughput and 4. memory ---------------------------------------------------------
def suite_section(rows: Sequence[Row]) -> tuple[list[str], list[Target]]:
    runs = _where(rows, workload="suite-ci")
    lines = ["## 2. Suite throughput: `conformance run --profile ci`", ""]
    if not runs:
        return lines + ["Not measured in this run.", ""], []
    lines += [
        "One run each, timed from start to exit of the command"
        " (`benchmarks/suite_throughput.py`, also runnable alone).",
        "",
    ]
    header = [
        "command",
        "wall time",
        "target",
        "",
        "exit",
        "requirements passed",
        "examples",
        "examples/s (wall)",
        "max process RSS",
        "peak RSS (all processes)",
    ]
    body, targets = [], []
    for run in runs:
        report = run.get("report") or {}
        summary = report.get("summary", {})
        passed = summary.get("requirements", {}).get("passed", "?")
        examples = summary.get("examples", 0)
        wall = float(run.get("wall_s", run.min_s))
        met = MET if wall <= run.get("target") else MISSED
        body.append(
            [
                f"`{run.get('command')}`",
                f"{wall:.1f} s",
                f"<= {run.get('target'):g} s",
                met,
                run.get("exit_code"),
                f"{passed} of {summary.get('applicable', '?')}",
                examples,
                f"{examples / wall:.1f}" if wall else "-",
                f"{run.get('max_process_rss_mib'):.0f} MiB",
                f"{run.get('peak_tree_rss_mib'):.0f} MiB",
            ]
        )
        targets.append(Target(f"wall time of `{run.get('case')}`", wall, run.get("target"), " s"))
    lines += _table(header, body)
    return lines + _per_requirement(runs), targets


def memory_section(rows: Sequence[Row]) -> tuple[list[str], list[Target]]:
    runs = _where(rows, workload="suite-ci")
    lines = ["## 4. Memory", ""]
    if not runs:
        return lines + ["Not measured in this run.", ""], []
    worst_process = max(float(r.get("max_process_rss_mib")) for r in runs)
    worst_tree = max(float(r.get("peak_tree_rss_mib")) for r in runs)
    limit = float(runs[0].get("target_rss_mib"))
    lines += [
        f"Across the `ci` runs of section 2, the largest single process held {worst_process:.0f}"
        f" MiB and the whole process tree (runner, pytest worker, xdist workers) at most"
        f" {worst_tree:.0f} MiB at once (sampled every 50 ms).",
        "",
    ]
    return lines, [
        Target("peak RSS of a `ci` run, largest process", worst_process, limit, " MiB"),
        Target("peak RSS of a `ci` run, all processes together", worst_tree, limit, " MiB"),
    ]


def _per_requirement(runs: Sequence[Row]) -> list[str]:
    reports = [(r.get("case"), r.get("report")) for r in runs if r.get("report")]
    if not reports:
        return []
    ids: dict[str, None] = {}
    for _, report in reports:
        ids.update(dict.fromkeys(req["id"] for req in report["requirements"]))
    by_run = [{req["id"]: req for req in report["requirements"]} for _, report in reports]
    header = ["requirement", *[f"{case}: examples, examples/s" for case, _ in reports]]
    body = []
    for rid in ids:
        cells = [rid]
        for found in by_run:
            req = found.get(rid)
            rate = req and req.get("examples_per_s")
            cells.append("-" if req is None else f"{req['examples']}, {rate or '-'}")
        body.append(cells)
    return [
        "Examples per second per requirement (test time only, from each run's JSON report):",
        "",
        *_table(header, body),
    ]


# -- 3. numerical gradient checks ---------------------------------------------------------------
def numerics_section(rows: Sequence[Row]) -> tuple[list[str], list[Target]]:
    checks = _where(rows, workload="gradcheck")
    lines = ["## 3. Numerical gradient cost", ""]
    if not checks:
        return lines + ["Not measured in this run.", ""], []
    large = [r for r in checks if r.get("parameters", 0) >= 1_000_000]
    fast = next((r for r in large if r.get("method") == "gradcheck-fast"), None)
    targets: list[Target] = []
    if large:
        lines += [
            f"Linear + BCE example, {large[0].get('case')} ({large[0].get('parameters'):,}"
            " parameters, float64). The directional check is the suites'"
            " (`conformance.judge.numerics`: the engine's gradients from one backward, then v^T J u"
            " from two forwards, judged with"
            " the `directional` tolerance); `torch.autograd.gradcheck(fast_mode=True)` runs on the"
            f" same function. Threads: {large[0].get('threads', 'default')}; timer:"
            f" {large[0].get('timer', 'wall')} time.",
            "",
        ]
        header = [
            "check",
            "engine",
            "min",
            "median",
            "rounds",
            "ratio to gradcheck fast",
            "target",
            "",
        ]
        body = []
        for r in large:
            ratio = r.min_s / fast.min_s if fast else None
            limit = r.get("target")
            status = "" if limit is None or ratio is None else (MET if ratio <= limit else MISSED)
            body.append(
                [
                    r.get("method"),
                    r.get("engine"),
                    _time(r.min_s),
                    _time(r.median_s),
                    r.rounds,
                    "-" if ratio is None else f"{ratio:.2f}x",
                    "-" if limit is None else f"<= {limit:g}x",
                    status,
                ]
            )
            if limit is not None and ratio is not None:
                targets.append(
                    Target(
                        f"directional check ({r.get('engine')}) / gradcheck fast, 1M",
                        ratio,
                        float(limit),
                        "x",
                    )
                )
        lines += _table(header, body)
        lines += _resolution(large)
    lines += _small_sizes(checks, large)
    return lines, targets


def _resolution(large: Sequence[Row]) -> list[str]:
    lines = []
    for r in large:
        res = r.get("resolution")
        if not res:
            continue
        lines += [
            f"What the directional check can see at this size ({r.get('engine')}): its tolerance"
            f" budget is {res['budget']:.3g} against an observed numerical error of"
            f" {res['observed_error']:.3g}. An error in a single element is flagged once it exceeds"
            f" {res['smallest_flagged_error_best_element']:.3g} (most weighted element) to"
            f" {res['smallest_flagged_error_worst_element']:.3g} (least weighted); the gradient's"
            f" elements are {res['gradient_rms']:.3g} RMS and {res['gradient_max']:.3g} at most."
            " A sign flip of one element is flagged for"
            f" {100 * res['share_sign_flip_flagged']:.1f}% of the elements, a dropped element for"
            f" {100 * res['share_dropped_flagged']:.1f}%.",
            "",
        ]
        break
    return lines


def _small_sizes(checks: Sequence[Row], large: Sequence[Row]) -> list[str]:
    small = [r for r in checks if r.get("parameters", 0) < 1_000_000]
    if not small:
        return []
    methods = list(dict.fromkeys(r.get("method") for r in small))
    cases = list(dict.fromkeys((r.get("case"), r.get("parameters")) for r in small))
    header = ["size", "parameters", *methods]
    body = []
    for case, params in cases:
        cells = [case, f"{params:,}"]
        for method in methods:
            found = _where(small, case=case, method=method)
            cells.append(_time(found[0].min_s) if found else "-")
        body.append(cells)
    lines = [
        "Element-by-element central differences (two forwards per parameter, through the torch"
        " adapter) against the directional check and gradcheck, where they finish (best of the"
        " rounds):",
        "",
        *_table(header, body),
    ]
    forward = next((r.get("forward_s") for r in large if r.get("engine") == "torch adapter"), None)
    if forward and large:
        params = large[0].get("parameters")
        estimate = 2 * params * forward
        lines += [
            f"At {params:,} parameters, full central differences would take about"
            f" 2 x {params:,} forwards x {_time(forward)} = {estimate / 3600:.1f} hours"
            " (an estimate from the measured forward time, not a measurement).",
            "",
        ]
    return lines


# -- the whole report ---------------------------------------------------------------------------
def render(rows: Sequence[Row], data: Mapping[str, Any], plot: str | None) -> str:
    engine_lines, engine_targets = engine_section(engine_pairs(rows))
    suite_lines, suite_targets = suite_section(rows)
    numeric_lines, numeric_targets = numerics_section(rows)
    memory_lines, memory_targets = memory_section(rows)
    targets = engine_targets + suite_targets + numeric_targets + memory_targets
    machine = data.get("machine_info", {})
    facts = machine.get("autograd_conformance", {})
    cpu = machine.get("cpu", {}).get("brand_raw", machine.get("processor", "?"))
    lines = [
        "# Benchmarks",
        "",
        "Generated by `tox -e bench` (`pytest benchmarks --benchmark-json=BENCH.json`, then"
        " `python -m benchmarks.publish BENCH.json reports`); do not edit by hand.",
        "",
        f"Run {data.get('datetime', '?')} on {cpu}, {facts.get('cpu_count', '?')} cores,"
        f" Python {machine.get('python_version', '?')}, torch {facts.get('torch', '?')}"
        f" ({facts.get('torch_default_threads', '?')} threads by default), NumPy"
        f" {facts.get('numpy', '?')} (OpenBLAS threads {facts.get('blas_default_threads', '?')})."
        f" Load average at the end of the run: {_load(facts)}. Absolute times are noisy and"
        " secondary; ratios compare two timings from this one run. Threads `1` pins both"
        " PyTorch and NumPy's BLAS to one thread, a second data point, timed in process CPU"
        " time (`time.process_time`), which other processes on the machine cannot inflate by"
        " taking the core away; the default-thread cases are timed in wall time.",
        "",
        "## Targets",
        "",
        *_table(["target", "measured", "limit", ""], [t.cells() for t in targets]),
        f"{sum(t.met for t in targets)} of {len(targets)} targets met.",
        "",
    ]
    if plot:
        lines += [f"![benchmarks]({plot})", ""]
    return "\n".join(lines + engine_lines + suite_lines + numeric_lines + memory_lines)


def _load(facts: Mapping[str, Any]) -> str:
    load = facts.get("load_average_at_end")
    return "?" if not load else " / ".join(f"{x:.2f}" for x in load) + " (1 / 5 / 15 min)"


def plot(rows: Sequence[Row], path: Path) -> bool:
    """Ratios against their targets, the suite's wall times against 60 s, and the 1M-parameter
    gradient checks. False where matplotlib is missing (the Markdown is still written)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    pairs = engine_pairs(rows)
    runs = _where(rows, workload="suite-ci")
    checks = [r for r in _where(rows, workload="gradcheck") if r.get("parameters", 0) >= 1e6]
    panels: list[Callable[[Any], None]] = []
    if pairs:
        panels.append(lambda ax: _ratios(ax, pairs))
    if runs:
        panels.append(lambda ax: _suite(ax, runs))
    if checks:
        panels.append(lambda ax: _checks(ax, checks))
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.8), squeeze=False)
    for ax, draw in zip(axes[0], panels, strict=True):
        draw(ax)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return True


def _color(ok: bool) -> str:
    return "tab:green" if ok else "tab:red"


def _ratios(ax: Any, pairs: Sequence[Pair]) -> None:
    ys = list(range(len(pairs)))
    # bars grow from 1 (parity) to the ratio, left where the reference engine is faster
    widths = [p.ratio - 1.0 for p in pairs]
    ax.barh(ys, widths, left=1.0, color=[_color(p.ratio <= p.target) for p in pairs])
    ax.scatter([p.target for p in pairs], ys, marker="|", s=300, color="black", label="target")
    ax.set_yticks(ys, [f"{p.case}\nthreads: {p.threads}" for p in pairs], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log", base=2)
    ax.axvline(1.0, color="grey", linewidth=0.5)
    ax.set_xlabel("time reference / torch (best round; < 1: reference faster)", fontsize=8)
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title("Reference engine vs PyTorch CPU", fontsize=10)


def _suite(ax: Any, runs: Sequence[Row]) -> None:
    walls = [float(r.get("wall_s", r.min_s)) for r in runs]
    oks = [w <= r.get("target") for w, r in zip(walls, runs, strict=True)]
    ax.bar(range(len(runs)), walls, color=[_color(ok) for ok in oks])
    ax.axhline(float(runs[0].get("target")), color="black", linestyle="--", label="target")
    ax.set_xticks(range(len(runs)), [r.get("case") for r in runs], fontsize=7)
    ax.set_ylabel("wall time (s)")
    ax.legend(fontsize=7)
    ax.set_title("conformance run --profile ci", fontsize=10)


def _checks(ax: Any, checks: Sequence[Row]) -> None:
    ax.bar(range(len(checks)), [r.min_s for r in checks], color="tab:blue")
    labels = [f"{r.get('method')}\n{r.get('engine')}" for r in checks]
    ax.set_xticks(range(len(checks)), labels, fontsize=7)
    ax.set_ylabel("time (s, best round)")
    ax.set_title(f"Gradient checks, {checks[0].get('parameters'):,} parameters", fontsize=10)


def compact(rows: Sequence[Row], data: Mapping[str, Any]) -> dict[str, Any]:
    """The figures the Markdown is made from, without pytest-benchmark's per-round samples."""
    return {
        "datetime": data.get("datetime"),
        "machine_info": data.get("machine_info"),
        "benchmarks": [
            {
                "name": r.name,
                "min_s": r.min_s,
                "median_s": r.median_s,
                "rounds": r.rounds,
                "extra_info": dict(r.info),
            }
            for r in rows
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m benchmarks.publish BENCH.json OUT_DIR", file=sys.stderr)
        return 2
    rows, data = load(Path(args[0]))
    out = Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    drawn = plot(rows, out / PLOT_NAME)
    (out / "benchmarks.md").write_text(render(rows, data, PLOT_NAME if drawn else None))
    (out / "benchmarks.json").write_text(json.dumps(compact(rows, data), indent=1) + "\n")
    print(f"{out / 'benchmarks.md'}" + (f", {out / PLOT_NAME}" if drawn else " (no plot)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
