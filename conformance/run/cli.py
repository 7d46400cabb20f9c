"""The `conformance` command (also `python -m conformance`). See docs/cli.md."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from conformance.errors import EXIT_NONCONFORMANCE, EXIT_OK, EXIT_USAGE, UsageError
from conformance.spec import profiles

EXIT_CODES = """\
exit codes:
  0  every applicable requirement passes (expected failures in --expect allowed);
     for diff: no regression
  1  nonconformance: a requirement failed or errored; for diff: a regression
  2  usage or input error (bad backend, report or manifest): one line on stderr, nothing written
  3  a backend crashed or hung: its report is written and marked incomplete
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the CI log shows what is wrong and nothing else.
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _workers(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid worker count {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("-n needs at least 1 worker")
    return number


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {value!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("a time limit must be positive")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="conformance",
        description="Conformance suites for autograd engines: where an engine's gradients and "
        "graph semantics differ from PyTorch's.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run the suites against backends and write reports",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--backend",
        action="append",
        dest="backends",
        metavar="SPEC",
        help="NAME[:DEVICE] or package.module:Class[:DEVICE] (repeatable; default: reference and "
        "every installed backend on every available device)",
    )
    run.add_argument("--profile", default=profiles.DEFAULT_PROFILE, choices=profiles.PROFILES)
    run.add_argument("--seed", type=int, default=profiles.DEFAULT_SEED)
    run.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR")
    run.add_argument("--expect", type=Path, metavar="FILE", help="expected-failures manifest")
    run.add_argument(
        "-n", dest="workers", type=_workers, default=1, metavar="WORKERS",
        help="pytest-xdist processes per backend (a number or auto)",
    )  # fmt: skip
    run.add_argument(
        "--requirement", action="append", dest="requirements", metavar="ID",
        help="run only this requirement's tests (repeatable)",
    )  # fmt: skip
    run.add_argument(
        "--timeout-example", type=_seconds, default=300.0, metavar="S",
        help="a backend that makes no progress for S seconds (one example) hangs (default 300)",
    )  # fmt: skip
    run.add_argument(
        "--timeout-run", type=_seconds, default=None, metavar="S",
        help="a backend's whole run may take at most S seconds (default: no limit)",
    )  # fmt: skip
    run.add_argument(
        "--parity-with", metavar="SPEC",
        help="also run the parity suite against this counterpart backend (e.g. torch:cpu)",
    )  # fmt: skip
    run.add_argument(
        "--suite", action="append", metavar="TARGET",
        help="pytest path or package to run instead of the bundled suites (repeatable)",
    )  # fmt: skip

    commands.add_parser("list", help="known backends (installed or not, devices) and requirements")

    matrix = commands.add_parser("matrix", help="cross-backend matrix from JSON reports")
    matrix.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    matrix.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR")

    diff = commands.add_parser(
        "diff", help="regressions and fixes between two reports (exit 1 on a regression)"
    )
    diff.add_argument("old", type=Path, metavar="OLD.json")
    diff.add_argument("new", type=Path, metavar="NEW.json")

    repro = commands.add_parser("repro", help="print the standalone reproducer of a failure")
    repro.add_argument("report", type=Path, metavar="REPORT.json")
    repro.add_argument("ident", metavar="ID", help="requirement id or test id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except UsageError as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "list":
        return _list()
    if args.command == "matrix":
        return _matrix(args.reports, args.out)
    if args.command == "diff":
        return _diff(args.old, args.new)
    return _repro(args.report, args.ident)


def _run(args: argparse.Namespace) -> int:
    from conformance.backends.registry import installed_labels
    from conformance.run.runner import DEFAULT_SUITE, RunOptions, run

    backends = args.backends or installed_labels()
    if not args.backends and not any(b.startswith("reference:") for b in backends):
        # Never skip the reference silently: if it cannot load, the run must say so.
        backends.insert(0, "reference")
    options = RunOptions(
        backends=backends,
        profile=args.profile,
        seed=args.seed,
        out_dir=args.out,
        expect=args.expect,
        workers=args.workers,
        requirements=args.requirements,
        timeout_example=args.timeout_example,
        timeout_run=args.timeout_run,
        suite=args.suite or [DEFAULT_SUITE],
        parity_with=args.parity_with,
    )
    code, done = run(options)
    if done:
        print(f"matrix: {args.out / 'index.html'}, {args.out / 'matrix.md'}")
    return code


def _list() -> int:
    from conformance.report import catalogue_meta

    for line in backend_lines():
        print(line)
    meta = catalogue_meta()
    print(f"\nRequirements ({len(meta)}):")
    width = max((len(rid) for rid in meta), default=0)
    for rid, req in meta.items():
        print(f"  {rid:<{width}}  [{req['level']}] {req['title']}")
    return EXIT_OK


def backend_lines() -> list[str]:
    """One line per known backend: installed or not, and its devices with availability."""
    import importlib.util

    from conformance.backends.registry import (
        BUILTINS,
        BackendError,
        adapter_class,
        known_backends,
        parse_spec,
    )

    lines = ["Backends (use as --backend NAME[:DEVICE]; the first device is the default):"]
    known = known_backends()
    width = max(len(name) for name in known)
    for name, target in known.items():
        builtin = BUILTINS.get(name)
        origin = "" if builtin else f" (plugin {target})"
        if builtin and builtin.extra and importlib.util.find_spec(builtin.engine_module) is None:
            hint = f"pip install 'autograd-conformance[{builtin.extra}]'"
            lines.append(f"  {name:<{width}}  not installed: {hint}{origin}")
            continue
        try:
            cls = adapter_class(parse_spec(name))
        except BackendError as exc:
            lines.append(f"  {name:<{width}}  unavailable: {exc}{origin}")
            continue
        devices = ", ".join(_device_state(cls, device) for device in cls.devices)
        lines.append(f"  {name:<{width}}  installed; devices: {devices}{origin}")
    return lines


def _device_state(cls: type, device: str) -> str:
    try:
        cls(device)
    except Exception as exc:  # noqa: BLE001 - any failure means "not available here"
        reason = str(exc).strip().splitlines()
        return f"{device} (not available: {reason[0] if reason else type(exc).__name__})"
    return device


def _matrix(paths: Sequence[Path], out: Path) -> int:
    from conformance.report import load_report
    from conformance.report.matrix import write_matrix

    reports = [(path, load_report(path)) for path in paths]
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    for written in write_matrix(reports, out):
        print(written)
    return EXIT_OK


def _diff(old: Path, new: Path) -> int:
    from conformance.report import load_report
    from conformance.report.diff import diff_reports, render_diff

    result = diff_reports(load_report(old), load_report(new))
    sys.stdout.write(render_diff(result))
    return EXIT_NONCONFORMANCE if result.regressions else EXIT_OK


def _repro(path: Path, ident: str) -> int:
    from conformance.report import load_report
    from conformance.report.repro import find_reproducer

    source, others = find_reproducer(load_report(path), ident)
    sys.stdout.write(source)
    if others:
        print(
            f"conformance: {len(others)} more failing test(s) of {ident}; "
            f"pass one as ID: {', '.join(others)}",
            file=sys.stderr,
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
