"""The `conformance` command (also `python -m conformance`). See docs/cli.md.

Importing this module imports neither NumPy nor hypothesis nor pytest (tests/test_cli_startup.py
checks): `conformance --help` and `--version` answer at once, and each command imports what it
needs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from conformance.errors import EXIT_NONCONFORMANCE, EXIT_OK, EXIT_USAGE, UsageError
from conformance.run.options import (
    DEFAULT_OUT,
    DEFAULT_TIMEOUT_EXAMPLE,
    RunOptions,
    add_cli_options,
)

if TYPE_CHECKING:
    from conformance.run.probe import Probe

EXIT_CODES = """\
exit codes:
  0  conforms: on each backend requirements were checked and none failed (expected
     failures in --expect allowed); for diff: no regression
  1  nonconformance: a requirement failed or errored; for diff: a regression
  2  usage or input error (bad backend, report or manifest): one line on stderr, nothing written
  3  a backend crashed or hung: its report is written and marked incomplete
  4  too little checked: no requirement applied or ran, fewer than --min-applicable
     applied, or a --require'd requirement was not applicable or skipped
"""


class _Version(argparse.Action):
    """`--version`: the installed distribution's version, read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, help=str(kwargs["help"]))

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        import conformance

        print(f"{parser.prog} {conformance.__version__}")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the CI log shows what is wrong and nothing else.
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="conformance",
        description="Conformance suites for autograd engines: where an engine's gradients and "
        "graph semantics differ from PyTorch's.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run the suites against backends and write reports",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_cli_options(run)

    commands.add_parser("list", help="known backends (installed or not, devices) and requirements")

    matrix = commands.add_parser("matrix", help="cross-backend matrix from JSON reports")
    matrix.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    matrix.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR")
    matrix.add_argument(
        "--force", action="store_true",
        help="write into --out even if it is a non-empty folder of other files",
    )  # fmt: skip

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
        return _matrix(args.reports, args.out, force=args.force)
    if args.command == "diff":
        return _diff(args.old, args.new)
    return _repro(args.report, args.ident)


def _run(args: argparse.Namespace) -> int:
    from conformance.run.runner import run

    options = RunOptions.from_args(args)
    code, done = run(options)
    if done:
        print(f"matrix: {options.out_dir / 'index.html'}, {options.out_dir / 'matrix.md'}")
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
    """One line per known backend: installed or not, and its devices with availability. Each
    installed one is loaded on each device in a probe subprocess, so that an engine that
    crashes while loading is listed as such rather than taking this process down."""
    from conformance.backends.registry import BUILTINS, installed_engines, known_backends
    from conformance.run.probe import probe_backends
    from conformance.run.worker import STARTUP_GRACE

    lines = ["Backends (use as --backend NAME[:DEVICE]; the first device is the default):"]
    known = known_backends()
    width = max(len(name) for name in known)
    probes: dict[str, list[Probe]] = {}
    timeout = DEFAULT_TIMEOUT_EXAMPLE + STARTUP_GRACE
    for probe in probe_backends(installed_engines(), timeout, Path.cwd(), every_device=True):
        probes.setdefault(probe.spec.engine, []).append(probe)
    for name, target in known.items():
        builtin = BUILTINS.get(name)
        origin = "" if builtin else f" (plugin {target})"
        if builtin is not None and name not in probes:  # its engine is not installed
            hint = f"pip install 'autograd-conformance[{builtin.extra}]'"
            lines.append(f"  {name:<{width}}  not installed: {hint}{origin}")
            continue
        usage = next((p.usage for p in probes[name] if p.usage), None)
        if usage is not None:
            lines.append(f"  {name:<{width}}  unavailable: {usage}{origin}")
            continue
        devices = ", ".join(_device_state(p) for p in probes[name])
        lines.append(f"  {name:<{width}}  installed; devices: {devices}{origin}")
    return lines


def _device_state(probe: Probe) -> str:
    device = probe.spec.device or ""
    if probe.crash is not None:
        message = str(probe.crash["message"])
        return f"{device} ({message})" if device else message  # died before naming devices
    if probe.unavailable is not None:
        return f"{device} (not available: {probe.unavailable})"
    return device


def _matrix(paths: Sequence[Path], out: Path, *, force: bool = False) -> int:
    from conformance.report import read_report
    from conformance.report.matrix import write_matrix
    from conformance.run.runner import check_out_dir

    reports = [(path, read_report(path)) for path in paths]
    check_out_dir(out, force=force)
    try:
        written = write_matrix(reports, out)
    except OSError as exc:  # the folder cannot be made or written: the user's to choose another
        raise UsageError(
            f"cannot write the matrix to --out {out}: {exc.strerror or exc}; "
            "name a folder you can write to"
        ) from None
    for path in written:
        print(path)
    return EXIT_OK


def _diff(old: Path, new: Path) -> int:
    from conformance.report import read_report
    from conformance.report.diff import diff_reports, render_diff

    result = diff_reports(read_report(old), read_report(new))
    sys.stdout.write(render_diff(result))
    return EXIT_NONCONFORMANCE if result.regressions else EXIT_OK


def _repro(path: Path, ident: str) -> int:
    from conformance.report import read_report
    from conformance.report.repro import find_reproducer

    source, others = find_reproducer(read_report(path), ident)
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
