"""Every option of a run, declared once: `conformance run --NAME` and the pytest plugin's
`--conformance-NAME` are both built from `OPTIONS`, and the runner hands a worker its options
by the same table (`plugin_arguments`), so no option is spelled twice.

An option reaches `conformance run` (`cli`), the plugin (`plugin`), or both; one that both take is
forwarded by the runner to each worker's plugin. `RunOptions` holds the values of one run.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from conformance.spec import profiles

if TYPE_CHECKING:
    from conformance.backends.registry import BackendSpec

# Nothing here imports NumPy, hypothesis or an adapter: `conformance --help` builds its parser
# from this table and should answer at once. The registry is imported when a specifier is parsed.

PLUGIN_PREFIX = "--conformance-"
DEFAULT_SUITE = "autograd_conformance_suites"
"""The bundled suites' installed name: the repository's suites/ folder."""
SUITES_PREFIX = "suites/"
"""How reports and manifests name a bundled test wherever the suites are installed:
`suites/test_graph.py::test_walk`."""
DEFAULT_TIMEOUT_EXAMPLE = 300.0
DEFAULT_OUT = Path("conformance-reports")
"""`conformance run`'s output folder, in the current directory: never the published reports/."""


def package_dir(name: str) -> Path | None:
    """Where the module NAME would be imported from (its folder for a package), not importing
    it; None if it cannot be found."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin).resolve()
    return origin.parent if origin.name == "__init__.py" else origin


@functools.cache
def _bundled_dir() -> Path | None:
    return package_dir(DEFAULT_SUITE)


def canonical_nodeid(nodeid: str, rootpath: Path) -> str:
    """A bundled test's ID as reports and manifests spell it, `suites/FILE::NAME`, whichever
    folder the suites are installed in and whatever pytest's rootdir; other tests keep pytest's."""
    suites = _bundled_dir()
    file, sep, name = nodeid.partition("::")
    path = (rootpath / file).resolve()
    if suites is None or suites not in path.parents:
        return nodeid
    return SUITES_PREFIX + path.relative_to(suites).as_posix() + sep + name


def backend_spec(value: str) -> BackendSpec:
    from conformance.backends.registry import BackendError, spec_argument

    try:
        return spec_argument(value)
    except BackendError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def workers(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid worker count {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("-n needs at least 1 worker")
    return number


def seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError("a time limit must be positive")
    return number


def mebibytes(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid memory size {value!r}: give a whole number of MiB, or 0 for no limit"
        ) from None
    if number < 0 or 0 < number < MIN_MEMORY_LIMIT_MIB:
        raise argparse.ArgumentTypeError(
            f"a memory limit must be at least {MIN_MEMORY_LIMIT_MIB} MiB (or 0 for no limit)"
        )
    return number


MIN_MEMORY_LIMIT_MIB = 256
"""Below this an engine cannot even be imported (PyTorch's CPU build alone maps about 220 MiB)."""


def default_memory_limit_mib() -> int:
    """Half of this machine's physical memory: one runaway worker cannot take the machine down,
    and no engine this project runs comes near it."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0  # unknown (not Linux or macOS): no limit
    return max(MIN_MEMORY_LIMIT_MIB, total // 2 // 2**20)


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    dest: str = ""
    """The RunOptions field (and argparse dest); default: the name with `_` for `-`."""
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    many: bool = False
    """Repeatable; its value is a list."""
    flag: bool = False
    """Takes no value (store_true)."""
    cli: bool = True
    plugin: bool = True
    per_backend: bool = False
    """`conformance run` takes several; each worker (and a plugin session) runs one."""
    cli_name: str = ""
    """The CLI's spelling where it is not `--NAME` (`-n`)."""

    def __post_init__(self) -> None:
        if not self.dest:
            object.__setattr__(self, "dest", self.name.replace("-", "_"))

    @property
    def cli_flag(self) -> str:
        return self.cli_name or f"--{self.name}"

    @property
    def plugin_flag(self) -> str:
        return PLUGIN_PREFIX + self.name

    @property
    def plugin_dest(self) -> str:
        # Prefixed like the flag: pytest's namespace is shared with every other plugin.
        return "conformance_" + self.dest

    def argparse_kwargs(self, dest: str, *, many: bool) -> dict[str, Any]:
        if self.flag:
            return {"action": "store_true", "dest": dest, "help": self.help}
        kwargs: dict[str, Any] = {"dest": dest, "help": self.help, "metavar": self.metavar}
        if self.type is not None:
            kwargs["type"] = self.type
        if self.choices is not None:
            kwargs["choices"] = self.choices
        if many:
            kwargs["action"] = "append"
        else:
            kwargs["default"] = self.default
        return kwargs

    def encode(self, value: Any) -> list[str]:
        """The worker's argv for this option's value (nothing for an unset one)."""
        if value is None or value is False or value == []:
            return []
        if self.flag:
            return [self.plugin_flag]
        values = value if self.many and not self.per_backend else [value]
        return [arg for v in values for arg in (self.plugin_flag, _text(v))]


def _text(value: Any) -> str:
    from conformance.backends.registry import BackendSpec

    if isinstance(value, BackendSpec):
        return value.to_json()  # passed whole: the worker does not parse the specifier again
    if isinstance(value, Path):
        return str(value.resolve())  # the worker may run in another directory
    return str(value)


_SPEC = "NAME[:DEVICE] or package.module:Class[:DEVICE]"
OPTIONS: tuple[Option, ...] = (
    Option(
        "backend",
        f"backend under test, {_SPEC} (`conformance run`: repeatable; default: reference and "
        "every installed backend on every available device; pytest: default reference)",
        dest="backends", type=backend_spec, metavar="SPEC", many=True, per_backend=True,
    ),
    Option(
        "profile", f"hypothesis profile (default {profiles.DEFAULT_PROFILE})",
        default=profiles.DEFAULT_PROFILE, choices=tuple(profiles.PROFILES),
    ),
    Option("seed", "hypothesis seed", type=int, default=profiles.DEFAULT_SEED, metavar="N"),
    Option(
        "db",
        "hypothesis example database folder: failures found in one run are replayed first in "
        "the next (default: none, so a seed repeats a run exactly)",
        type=Path, metavar="DIR",
    ),
    Option(
        "requirement", "run only the tests of this requirement ID (repeatable)",
        dest="requirements", many=True, metavar="ID",
    ),
    Option(
        "requirement-fail-fast",
        "once a test of a requirement fails, skip that requirement's remaining tests", flag=True,
    ),
    Option(
        "expect", "expected-failures manifest (TOML); its opt-outs are not run",
        type=Path, metavar="FILE",
    ),
    Option(
        "parity-with",
        "also run the parity suite against this counterpart backend (e.g. torch:cpu)",
        type=backend_spec, metavar="SPEC",
    ),
    # Where the reports go: `conformance run` always writes them, a plugin session only if asked.
    Option(
        "out",
        "write the JSON, Markdown, HTML and JUnit reports, the matrix and its stylesheet to DIR "
        f"(default {DEFAULT_OUT}); a non-empty DIR must hold an earlier run's reports",
        dest="out_dir", type=Path, default=DEFAULT_OUT, metavar="DIR", plugin=False,
    ),
    Option(
        "force", "write into --out even if it is a non-empty folder of other files",
        flag=True, plugin=False,
    ),
    Option(
        "out",
        "write the JSON, Markdown, HTML and JUnit reports of this session, the matrix and its "
        "stylesheet to DIR; a non-empty DIR must hold earlier reports",
        dest="out_dir", metavar="DIR", cli=False,
    ),
    Option(
        "force", "write into --conformance-out even if it is a non-empty folder of other files",
        flag=True, cli=False,
    ),
    # Fail closed: a run that checked too little exits 4 (conformance/errors.py).
    Option(
        "min-applicable",
        "exit 4 unless at least N requirements apply to each backend (default 1)",
        type=int, default=1, metavar="N", plugin=False,
    ),
    Option(
        "require",
        "requirement ID that must be checked on each backend: not applicable or skipped exits 4 "
        "(repeatable)",
        dest="required", many=True, metavar="ID", plugin=False,
    ),
    Option(
        "workers", "pytest-xdist processes per backend (a number or auto)",
        type=workers, default=1, metavar="WORKERS", cli_name="-n", plugin=False,
    ),
    Option(
        "timeout-example",
        "a backend that makes no progress for S seconds (one example) hangs (default 300)",
        type=seconds, default=DEFAULT_TIMEOUT_EXAMPLE, metavar="S", plugin=False,
    ),
    Option(
        "timeout-run", "a backend's whole run may take at most S seconds (default: no limit)",
        type=seconds, metavar="S", plugin=False,
    ),
    Option(
        "memory-limit",
        "the most memory, in MiB, that each worker process may allocate; 0 for no limit "
        "(default: half of this machine's memory)",
        type=mebibytes, metavar="MIB", plugin=False,
    ),
    Option(
        "suite", "pytest path or package to run instead of the bundled suites (repeatable)",
        many=True, metavar="TARGET", plugin=False,
    ),
    # The worker's streams, which the runner follows (conformance/run/session.py writes them).
    Option(
        "results", "stream one JSON line per test outcome to this file (used by `conformance run`)",
        metavar="PATH", cli=False,
    ),
    Option(
        "progress",
        "stream heartbeats (collected tests, test start/end, each example) to this file",
        metavar="PATH", cli=False,
    ),
)  # fmt: skip
CLI_OPTIONS = tuple(o for o in OPTIONS if o.cli)
PLUGIN_OPTIONS = {o.name: o for o in OPTIONS if o.plugin}
FORWARDED = tuple(o for o in OPTIONS if o.cli and o.plugin)
"""What the runner passes on to each worker's plugin."""


def add_cli_options(parser: argparse.ArgumentParser) -> None:
    for option in CLI_OPTIONS:
        kwargs = option.argparse_kwargs(option.dest, many=option.many)
        parser.add_argument(option.cli_flag, **kwargs)


def add_plugin_options(add: Callable[..., Any]) -> None:
    """`add` is a pytest option group's `addoption`."""
    for option in PLUGIN_OPTIONS.values():
        many = option.many and not option.per_backend
        kwargs = option.argparse_kwargs(option.plugin_dest, many=many)
        if many:
            kwargs["default"] = []
        elif not option.flag:
            kwargs["default"] = None  # unset: the plugin's own default applies
        add(option.plugin_flag, **kwargs)


def plugin_value(config: Any, name: str) -> Any:
    """The value of the plugin option NAME from a pytest config."""
    return config.getoption(PLUGIN_OPTIONS[name].plugin_dest)


@dataclass
class RunOptions:
    """The values of one `conformance run`: one field per CLI option (by its dest) plus where
    output goes. An empty `backends` means every installed backend on every available device."""

    backends: list[BackendSpec]
    profile: str = profiles.DEFAULT_PROFILE
    seed: int = profiles.DEFAULT_SEED
    db: Path | None = None
    requirements: list[str] | None = None
    requirement_fail_fast: bool = False
    expect: Path | None = None
    parity_with: BackendSpec | None = None
    out_dir: Path = DEFAULT_OUT
    force: bool = False
    min_applicable: int = 1
    required: list[str] | None = None
    workers: int | str = 1
    timeout_example: float = DEFAULT_TIMEOUT_EXAMPLE
    timeout_run: float | None = None
    memory_limit: int | None = None
    """MiB per worker process; None: default_memory_limit_mib(); 0: no limit."""
    suite: list[str] = field(default_factory=lambda: [DEFAULT_SUITE])
    progress: TextIO = field(default_factory=lambda: sys.stderr)
    output: TextIO = field(default_factory=lambda: sys.stdout)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        values = {o.dest: getattr(args, o.dest) for o in CLI_OPTIONS}
        values["backends"] = values["backends"] or []
        values["suite"] = values["suite"] or [DEFAULT_SUITE]
        return cls(**values)


def plugin_arguments(options: RunOptions, backend: BackendSpec) -> list[str]:
    """A worker's plugin options: every forwarded option of the run, for one backend."""
    arguments: list[str] = []
    for option in FORWARDED:
        value = backend if option.per_backend else getattr(options, option.dest)
        arguments += option.encode(value)
    return arguments
