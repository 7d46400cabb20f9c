"""Bad input, fuzzed: command-line arguments, the expected-failures manifest, and the JSON
reports that `diff`, `matrix` and `repro` read.

Whatever the input, the answer is the same (conformance/errors.py, docs/cli.md): exit 2, exactly
one line on stderr (`conformance: error: ...`) saying what is wrong and what to do, nothing on
stdout, no traceback, and no file written. Each case runs in a fresh temporary folder that is
also the current directory, and the folder's listing is compared before and after.

The cases call `conformance.run.cli.main` in this process, which keeps hundreds of them fast; a
few go through the installed console script to show that the real command prints no traceback
either. A `conformance run` whose input passed every check would go on to load its backends:
here that step raises `_WouldRun` instead, so that an input that is (unexpectedly) valid never
starts an engine, and the tests that need an error can say so.

Every input tried is counted, and every traceback seen (`FIGURES`).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conformance.backends.registry import BackendError, parse_spec
from conformance.report import jsonio
from conformance.run import runner
from conformance.run.cli import main
from conformance.run.options import CLI_OPTIONS
from conformance.spec import profiles
from conformance.spec.requirements import BY_ID
from tests.report_samples import sample_backend_report

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {"inputs": 0, "tracebacks": 0}
"""Inputs tried and tracebacks seen by this module's tests; with CONFORMANCE_FUZZ_FIGURES=FILE
each process appends its figures to FILE as one JSON line (sum them)."""

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""Bounded: the module runs in seconds under the project's `ci` profile."""

Files = Mapping[str, bytes | None]
"""Inputs to create in the case's folder: name -> content, None for a folder."""


@pytest.fixture(scope="module", autouse=True)
def _report_figures() -> Iterator[None]:
    yield
    target = os.environ.get("CONFORMANCE_FUZZ_FIGURES")
    if target:  # one line per process: under pytest-xdist each worker tried a share
        with open(target, "a", encoding="utf-8") as figures:
            figures.write(json.dumps(FIGURES) + "\n")


# -- one case -------------------------------------------------------------------------------------
class _WouldRun(Exception):
    """Every check of `conformance run` passed: it would now load the backends."""


@dataclass
class Outcome:
    code: int | str | None
    """The exit code; "ran" if `conformance run` accepted its input."""
    out: str
    err: str
    traceback: str | None
    """An exception that escaped the command, formatted."""
    written: set[str]
    """Paths that appeared, vanished or changed in the case's folder."""


def _listing(root: Path) -> dict[str, tuple[bool, int, int]]:
    listing = {}
    for path in root.rglob("*"):
        stat = path.lstat()
        listing[path.relative_to(root).as_posix()] = (path.is_dir(), stat.st_size, stat.st_mtime_ns)
    return listing


def invoke(argv: list[str], files: Files = {}) -> Outcome:  # noqa: B006 (never mutated)
    """`conformance ARGV` in a fresh folder holding `files`, which is the current directory."""
    FIGURES["inputs"] += 1
    out, err = io.StringIO(), io.StringIO()
    caught: str | None = None
    code: int | str | None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, content in files.items():
            if content is None:
                (root / name).mkdir()
            else:
                (root / name).write_bytes(content)
        before = _listing(root)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            with (
                redirect_stdout(out),
                redirect_stderr(err),
                mock.patch.object(runner, "load_backends", side_effect=_WouldRun),
            ):
                try:
                    code = main(argv)
                except SystemExit as exc:  # --help and --version exit through argparse
                    code = exc.code
                except _WouldRun:
                    code = "ran"
                except Exception:
                    code, caught = None, traceback.format_exc()
        finally:
            os.chdir(cwd)
        after = _listing(root)
    written = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    if caught is not None or "Traceback" in out.getvalue() + err.getvalue():
        FIGURES["tracebacks"] += 1
    return Outcome(code, out.getvalue(), err.getvalue(), caught, written)


def assert_usage_error(outcome: Outcome, *names: str) -> str:
    """Exit 2 with one line on stderr, naming each of `names`, and nothing else happened."""
    assert outcome.traceback is None, outcome.traceback
    assert outcome.code == 2, outcome
    assert outcome.out == "", outcome
    assert "Traceback" not in outcome.err
    assert outcome.err.startswith("conformance: error: "), outcome.err
    assert outcome.err.count("\n") == 1 and outcome.err.endswith("\n"), outcome.err
    assert not outcome.written, f"files written on bad input: {sorted(outcome.written)}"
    for name in names:
        assert name in outcome.err, (name, outcome.err)
    return outcome.err


def assert_no_traceback(outcome: Outcome) -> None:
    """Any answer but a crash; an exit 2 is a proper usage error."""
    assert outcome.traceback is None, outcome.traceback
    assert "Traceback" not in outcome.out + outcome.err
    if outcome.code == 2:
        assert_usage_error(outcome)


# -- command-line arguments -----------------------------------------------------------------------
COMMANDS = ("run", "list", "matrix", "diff", "repro")
# What a real argv can hold: any text but NUL, and bytes that are not UTF-8, which Python decodes
# to lone surrogates U+DC80..U+DCFF (os.fsdecode); no other surrogate can come from the OS.
NOT_UTF8 = st.binary(max_size=20).filter(lambda raw: b"\x00" not in raw).map(os.fsdecode)
UTF8_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
TEXT = UTF8_TEXT | NOT_UTF8


def _asks_for_help_or_version(token: str) -> bool:
    """argparse answers `-h...` and any long prefix of --help or --version (exit 0)."""
    name = token.split("=", 1)[0]
    if token.startswith("-h"):
        return True
    return len(name) > 2 and ("--help".startswith(name) or "--version".startswith(name))


def _parses(convert: Any, value: str) -> Any:
    try:
        return convert(value)
    except (ValueError, OverflowError):
        return None


def _valid_workers(value: str) -> bool:
    number = _parses(int, value)
    return value == "auto" or (number is not None and number >= 1)


def _valid_seconds(value: str) -> bool:
    number = _parses(float, value)
    return number is not None and number > 0


def _valid_count(value: str) -> bool:
    number = _parses(int, value)
    return number is not None and number >= 0


def _valid_backend(value: str) -> bool:
    try:
        parse_spec(value)
    except BackendError:
        return False
    return not value.lstrip().startswith("{")  # a worker's serialised spec: fuzzed below


BAD_VALUES: dict[str, st.SearchStrategy[str]] = {
    "-n": TEXT.filter(lambda v: not _valid_workers(v)),
    "--seed": TEXT.filter(lambda v: _parses(int, v) is None),
    "--timeout-example": TEXT.filter(lambda v: not _valid_seconds(v)),
    "--timeout-run": TEXT.filter(lambda v: not _valid_seconds(v)),
    "--min-applicable": TEXT.filter(lambda v: not _valid_count(v)),
    "--memory-limit": TEXT.filter(lambda v: not _valid_count(v)),  # MiB; 0: no limit
    "--profile": TEXT.filter(lambda v: v not in profiles.PROFILES),
    "--backend": TEXT.filter(lambda v: not _valid_backend(v)),
    "--parity-with": TEXT.filter(lambda v: not _valid_backend(v)),
    "--requirement": TEXT.filter(lambda v: v not in BY_ID),
    "--require": TEXT.filter(lambda v: v not in BY_ID),
    "--expect": TEXT,  # the folder is empty: no path names a readable manifest
}
VALUE_OPTIONS = [o.cli_flag for o in CLI_OPTIONS if not o.flag]


def test_every_typed_option_of_run_is_fuzzed() -> None:
    untested = set(VALUE_OPTIONS) - set(BAD_VALUES) - {"--out", "--db", "--suite"}
    assert not untested, f"add bad values for {sorted(untested)}"


@FUZZ
@given(option=st.sampled_from(sorted(BAD_VALUES)), data=st.data(), attached=st.booleans())
def test_a_bad_value_of_any_run_option_is_a_usage_error(
    option: str, data: Any, attached: bool
) -> None:
    value = data.draw(BAD_VALUES[option], label="value")
    # `--opt=VALUE` reaches the option's parser even where VALUE starts with `-`.
    given_as = [f"{option}={value}"] if attached and option.startswith("--") else [option, value]
    assert_usage_error(invoke(["run", "--backend", "reference", *given_as]))


@pytest.mark.parametrize(
    "spec",
    ["{", "{}", '{"engine": 1}', '{"engine": "torch", "device": [], "target": 3}', "{null}"],
)
def test_a_malformed_serialised_backend_is_a_usage_error(spec: str) -> None:
    assert_usage_error(invoke(["run", "--backend", spec]))


@pytest.mark.parametrize("option", [*VALUE_OPTIONS, "matrix --out"])
def test_an_option_without_its_value_is_a_usage_error(option: str) -> None:
    command, _, flag = option.rpartition(" ")
    args = [command or "run", flag] if command != "matrix" else ["matrix", "r.json", flag]
    err = assert_usage_error(invoke(args))
    assert "expected one argument" in err


@pytest.mark.parametrize(
    "args",
    [[], ["diff"], ["diff", "old.json"], ["repro"], ["repro", "r.json"], ["matrix"]],
    ids=lambda a: " ".join(a) or "nothing",
)
def test_a_missing_argument_is_a_usage_error(args: list[str]) -> None:
    assert "required" in assert_usage_error(invoke(args))


@FUZZ
@given(command=TEXT.filter(lambda t: t not in COMMANDS and not _asks_for_help_or_version(t)))
def test_an_unknown_command_is_a_usage_error(command: str) -> None:
    assert_usage_error(invoke([command]))


@FUZZ
@given(command=st.sampled_from(COMMANDS), name=TEXT, value=st.none() | TEXT)
def test_an_unknown_option_is_a_usage_error(command: str, name: str, value: str | None) -> None:
    option = "--no-such-option" + name + ("" if value is None else f"={value}")
    assert_usage_error(invoke([command, option]))


@FUZZ
@given(
    command=st.sampled_from([c for c in COMMANDS if c != "list"]),
    args=st.lists(TEXT, min_size=1, max_size=6),
)
def test_any_arguments_give_an_answer_never_a_traceback(command: str, args: list[str]) -> None:
    """Random words after a command: an accepted run, help, or a one-line usage error."""
    assume(not any(_asks_for_help_or_version(a) for a in args))
    outcome = invoke([command, *args])
    assert_no_traceback(outcome)
    if command != "run":  # the folder is empty: there is no report to read
        assert outcome.code == 2


# -- the expected-failures manifest ---------------------------------------------------------------
def run_with_manifest(content: Any, name: str = "expect.toml") -> Outcome:
    """`run --expect NAME` where NAME holds `content` (None: a folder; `...`: no such file)."""
    files: dict[str, bytes | None] = {} if content is ... else {name: content}
    return invoke(["run", "--backend", "reference", "--expect", name, "--out", "out"], files)


def toml_string(text: str) -> str:
    # JSON's escapes are TOML's, but TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    """A TOML spelling of a value of the kinds `TOML_VALUES` draws."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # TOML spells floats as Python does, inf and nan included
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    inline = ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
    return "{" + inline + "}"


TOML_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # TOML is UTF-8: no surrogates
TOML_VALUES = st.recursive(
    st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | TOML_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TOML_TEXT, inner, max_size=3),
    max_leaves=6,
)
FIELD_TYPES = {
    "requirement": str, "test": str, "reason": str, "link": str, "backends": list,
}  # fmt: skip
GOOD_ENTRY = {"requirement": "BCE-005", "reason": "subgradient at 0", "backends": ["torch"]}


def manifest_text(kind: str, entry: Mapping[str, Any]) -> str:
    lines = [f"[[{kind}]]"] + [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def test_the_good_entry_is_accepted() -> None:
    """The base of the wrong-type cases is itself valid: each error comes from its one change."""
    outcome = run_with_manifest(manifest_text("expected-failure", GOOD_ENTRY).encode())
    assert outcome.code == "ran", outcome


@FUZZ
@given(
    kind=st.sampled_from(["expected-failure", "opt-out"]),
    key=st.sampled_from(sorted(FIELD_TYPES)),
    value=TOML_VALUES,
)
def test_a_field_of_the_wrong_type_is_a_usage_error(kind: str, key: str, value: Any) -> None:
    right_type = isinstance(value, FIELD_TYPES[key])
    assume(not right_type or (key == "backends" and not all(isinstance(b, str) for b in value)))
    entry = {**GOOD_ENTRY, key: value}
    if key == "test":
        del entry["requirement"]
    outcome = run_with_manifest(manifest_text(kind, entry).encode())
    assert_usage_error(outcome, "expect.toml", f"{key} must be")


@FUZZ
@given(rid=TOML_TEXT.filter(lambda r: r not in BY_ID))
def test_an_unknown_requirement_id_is_a_usage_error(rid: str) -> None:
    text = manifest_text("expected-failure", {**GOOD_ENTRY, "requirement": rid})
    assert_usage_error(run_with_manifest(text.encode()), "expect.toml")


@FUZZ
@given(name=TOML_TEXT.filter(lambda b: b.strip() != "" and not _valid_backend(b)))
@example(name="myengine")
@example(name="tourch:cpu")
def test_a_manifest_naming_no_known_backend_is_a_usage_error(name: str) -> None:
    text = manifest_text("expected-failure", {**GOOD_ENTRY, "backends": ["torch", name]})
    assert_usage_error(run_with_manifest(text.encode()), "expect.toml")


@FUZZ
@given(content=st.binary(max_size=64) | UTF8_TEXT.map(str.encode))
@example(content=b"")
@example(content=b"\n# nothing but a comment\n")
@example(content=b"\xff\xfe[\x00[\x00")
@example(content=b"a = " + b"[" * 5000)
@example(content=b"[[expected-failure]\nreason = 1")
@example(content='\ufeff[[opt-out]]\ntest = "t"\nreason = "r"\n'.encode())
def test_garbage_in_the_manifest_is_a_usage_error(content: bytes) -> None:
    assert_usage_error(run_with_manifest(content), "expect.toml")


@pytest.mark.parametrize("content", [None, ...], ids=["a folder", "missing"])
def test_a_manifest_that_is_no_file_is_a_usage_error(content: Any) -> None:
    assert_usage_error(run_with_manifest(content), "expect.toml")


# -- reports given to diff, matrix and repro ------------------------------------------------------
GOOD_REPORT = jsonio.dumps(sample_backend_report(label="reference:cpu"))
READERS = {
    "diff old": ["diff", "bad.json", "good.json"],
    "diff new": ["diff", "good.json", "bad.json"],
    "matrix": ["matrix", "good.json", "bad.json", "--out", "matrix"],
    "repro": ["repro", "bad.json", "FAKE-002"],
}


def read_report(command: str, content: bytes | None) -> Outcome:
    files = {"good.json": GOOD_REPORT.encode()}
    if content is not ...:
        files["bad.json"] = content  # type: ignore[assignment]
    return invoke(READERS[command], files)


def test_the_good_report_is_read_by_every_command() -> None:
    """The cases below differ from this one only in the bad file."""
    for command in READERS:
        args = [a.replace("bad.json", "good.json") for a in READERS[command]]
        outcome = invoke(args, {"good.json": GOOD_REPORT.encode()})
        assert outcome.traceback is None and outcome.code == 0, outcome


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
COMMAND = st.sampled_from(sorted(READERS))


@FUZZ
@given(command=COMMAND, data=st.data())
def test_a_truncated_report_is_a_usage_error(command: str, data: Any) -> None:
    cut = data.draw(st.integers(0, len(GOOD_REPORT.rstrip()) - 1), label="cut")
    outcome = read_report(command, GOOD_REPORT[:cut].encode())
    assert_usage_error(outcome, "bad.json")


@FUZZ
@given(command=COMMAND, value=JSON | st.dictionaries(st.just("schema_version"), JSON))
def test_json_that_is_no_report_is_a_usage_error(command: str, value: Any) -> None:
    assert_usage_error(read_report(command, json.dumps(value).encode()), "bad.json")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*prefix, index))


REPORT_PATHS = [p for p in _paths(json.loads(GOOD_REPORT)) if p]


def _replaced(report: Any, path: tuple[Any, ...], value: Any) -> Any:
    """`report` with the value at `path` replaced (or, for the `...` value, removed)."""
    copy = json.loads(json.dumps(report))
    *parents, last = path
    holder = copy
    for key in parents:
        holder = holder[key]
    if value is ...:
        del holder[last]
    else:
        holder[last] = value
    return copy


@settings(FUZZ, max_examples=300)
@given(
    command=COMMAND,
    path=st.sampled_from(REPORT_PATHS),
    value=st.just(...) | JSON | st.sampled_from(["\ud800", float("nan"), -1, 10**30]),
)
def test_a_report_with_one_value_changed_is_read_or_refused_never_a_crash(
    command: str, path: tuple[Any, ...], value: Any
) -> None:
    """Wrong schema, deep inside a real report: refused if the schema says so, and otherwise
    read; a report that matches the schema is never a crash."""
    changed = _replaced(json.loads(GOOD_REPORT), path, value)
    outcome = read_report(command, json.dumps(changed).encode())
    assert_no_traceback(outcome)
    if jsonio.schema_errors(changed) or value == "\ud800":
        assert_usage_error(outcome, "bad.json")


@pytest.mark.parametrize("command", sorted(READERS))
@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"   \n",
        None,
        ...,
        b"\x00\x01\x02\xff" * 16,
        GOOD_REPORT.encode("utf-16"),
        GOOD_REPORT.encode("latin-1") + b"\xe9\xff",
        b"[" * 100_000,
        b'{"schema_version": 1, "a": ' + b"[" * 100_000,
        b'{"schema_version": 1, "tests": ' + b"[" * 900 + b"]" * 900 + b"}",
        b"NaN",
        GOOD_REPORT.replace('"reference:cpu"', '"\\ud800"').encode(),
    ],
    ids=[
        "empty", "blank", "a folder", "missing", "binary", "utf-16", "not utf-8",
        "deeply nested", "deeply nested report", "nested, closed", "NaN", "a lone surrogate",
    ],
)  # fmt: skip
def test_a_report_that_cannot_be_read_is_a_usage_error(command: str, content: Any) -> None:
    assert_usage_error(read_report(command, content), "bad.json")


@FUZZ
@given(ident=TEXT)
def test_repro_of_anything_but_a_failure_is_a_usage_error(ident: str) -> None:
    assume(ident not in ("FAKE-002", "suite.py::test_gradients"))  # the failures it reproduces
    outcome = invoke(["repro", "good.json", ident], {"good.json": GOOD_REPORT.encode()})
    assert_usage_error(outcome)


@pytest.mark.parametrize("out", [("file",), ("file", "below")], ids=["a file", "below a file"])
def test_matrix_out_that_cannot_be_a_folder_is_a_usage_error(out: tuple[str, ...]) -> None:
    files = {"good.json": GOOD_REPORT.encode(), "file": b"keep"}
    outcome = invoke(["matrix", "good.json", "--out", "/".join(out)], files)
    assert_usage_error(outcome, "--out")


# -- through the real command ---------------------------------------------------------------------
def _console_script() -> list[str]:
    script = shutil.which("conformance", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "conformance"]


@pytest.mark.parametrize(
    ("args", "files"),
    [
        (["diff", "bad.json", "good.json"], {"bad.json": GOOD_REPORT[:300].encode()}),
        (["repro", "bad.json", "X"], {"bad.json": b"\xff\xfe\x00garbage"}),
        (
            ["diff", "good.json", "bad.json"],
            {"bad.json": GOOD_REPORT.replace('"reference:cpu"', '"\\udce9"').encode()},
        ),
        (["matrix", "folder"], {"folder": None}),
        (["run", "--backend", "reference", "--expect", "m.toml"], {"m.toml": b"\x00\xff["}),
        (["run", "--backend", "{}"], {}),
        (["run", "--no-such-option", "\u00e9\u2603"], {}),
    ],
    ids=[
        "truncated",
        "binary",
        "lone surrogate",
        "folder",
        "binary manifest",
        "bad spec",
        "unknown option",
    ],
)
def test_the_console_script_prints_one_line_and_no_traceback(
    args: list[str], files: dict[str, bytes | None], tmp_path: Path
) -> None:
    FIGURES["inputs"] += 1
    files = {"good.json": GOOD_REPORT.encode(), **files}
    for name, content in files.items():
        if content is None:
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_bytes(content)
    before = _listing(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*_console_script(), *args], cwd=tmp_path, capture_output=True, env=env, timeout=120
    )
    stderr = done.stderr.decode("utf-8", "replace")
    if "Traceback" in stderr + done.stdout.decode("utf-8", "replace"):
        FIGURES["tracebacks"] += 1
    assert "Traceback" not in stderr, stderr
    assert done.returncode == 2, (done.returncode, stderr)
    assert stderr.startswith("conformance: error: ") and stderr.count("\n") == 1, stderr
    assert done.stdout == b""
    assert _listing(tmp_path) == before
