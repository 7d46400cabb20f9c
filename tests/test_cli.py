"""The `conformance` command end to end: run -> report -> matrix -> diff -> repro, and every kind
of bad input (one line on stderr, exit code 2, nothing written)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.report import load_report
from conformance.report.publish import publish
from conformance.run.cli import main
from conformance.spec.requirements import REQUIREMENTS
from tests.crashing_adapters import use_fake_catalogue
from tests.report_samples import sample_backend_report

ROOT = Path(__file__).resolve().parent.parent
MUTANT = "tests.mutants.catalogue:IsLeafFromRequiresGrad"
DOUBLED = "tests.crashing_adapters:DoubledGradientAdapter"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def one_line_error(err: str) -> str:
    assert err.startswith("conformance: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_help_documents_the_exit_codes() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for line in ("0  conforms", "1  nonconformance", "2  usage or input error",
                 "3  a backend crashed or hung", "4  too little checked"):  # fmt: skip
        assert line in done.stdout
    assert "run" in done.stdout and "repro" in done.stdout


# -- one table of options ----------------------------------------------------------------------
def test_cli_and_plugin_options_come_from_one_table() -> None:
    from conformance.run.cli import build_parser
    from conformance.run.options import CLI_OPTIONS, OPTIONS, PLUGIN_OPTIONS, RunOptions

    commands = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    run_parser = commands[0].choices["run"]
    flags = {flag for action in run_parser._actions for flag in action.option_strings}
    assert flags == {"-h", "--help"} | {o.cli_flag for o in CLI_OPTIONS}
    assert {f.name for f in dataclasses.fields(RunOptions)} == {o.dest for o in CLI_OPTIONS} | {
        "progress",
        "output",
    }
    assert {o.plugin_flag for o in PLUGIN_OPTIONS.values()} == {
        f"--conformance-{o.name}" for o in OPTIONS if o.plugin
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    group = done.stdout.partition("autograd-conformance:")[2].partition("\n\n")[0]
    shown = set(re.findall(r"^\s+(--[\w-]+)", group, re.MULTILINE))
    assert shown == {o.plugin_flag for o in PLUGIN_OPTIONS.values()}, group


def test_the_worker_gets_the_runs_options_by_the_same_table(tmp_path: Path) -> None:
    from conformance.backends.registry import BackendSpec, parse_spec
    from conformance.run.options import RunOptions
    from conformance.run.worker import worker_command

    backend = parse_spec("torch:cpu")
    options = RunOptions(
        [backend, parse_spec("reference")], profile="dev", seed=7, requirements=["A-1", "B-2"],
        requirement_fail_fast=True, expect=Path("expect.toml"), parity_with=parse_spec("reference"),
        workers=2, suite=["tests/fake_suite.py"],
    )  # fmt: skip
    command = worker_command(backend, options, tmp_path / "r.jsonl", tmp_path / "p.jsonl")

    def values(flag: str) -> list[str]:
        return [command[n + 1] for n, arg in enumerate(command) if arg == flag]

    assert [BackendSpec.from_json(v) for v in values("--conformance-backend")] == [backend]
    assert values("--conformance-profile") == ["dev"] and values("--conformance-seed") == ["7"]
    assert values("--conformance-requirement") == ["A-1", "B-2"]
    assert "--conformance-requirement-fail-fast" in command
    assert values("--conformance-expect") == [str(Path("expect.toml").resolve())]
    assert BackendSpec.from_json(values("--conformance-parity-with")[0]).engine == "reference"
    assert values("-n") == ["2"] and values("--conformance-results") == [str(tmp_path / "r.jsonl")]
    # Every option for the plugin has its prefix; the rest are pytest's own.
    flags = [arg.partition("=")[0] for arg in command if arg.startswith("--")]
    others = {flag for flag in flags if "conformance" not in flag}
    assert others <= {"--color", "--rootdir", "--confcutdir"}, others


def test_list_shows_backends_devices_and_requirements(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "  reference  installed; devices: cpu" in out
    assert "paddle" in out
    if importlib.util.find_spec("jax") is None:
        assert "not installed: pip install 'autograd-conformance[jax]'" in out
    assert f"Requirements ({len(REQUIREMENTS)}):" in out
    assert all(f"  {req.id} " in out for req in REQUIREMENTS)


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "nosuch"], "unknown backend 'nosuch'; known backends: jax, mygrad"),
        (["--backend", "reference:tpu"], "backend 'reference' has no device 'tpu'"),
        (["--backend", "nosuchpkg.mod:Adapter"], "cannot import 'nosuchpkg.mod'"),
        (
            ["--backend", "tests.crashing_adapters:Incomplete"],
            "does not satisfy the adapter protocol: missing environment, tensor, to_numpy",
        ),
        (["--backend", "tests.crashing_adapters:Nothing"], "has no class 'Nothing'"),
        (["--requirement", "NOPE-404"], "unknown requirement id(s): NOPE-404"),
        (["--parity-with", "nosuch"], "unknown backend 'nosuch'"),
        (["--profile", "fastest"], "invalid choice: 'fastest'"),
        (["-n", "0"], "-n needs at least 1 worker"),
        (["--timeout-example", "-1"], "a time limit must be positive"),
        (["--expect", "absent.toml"], "cannot read manifest absent.toml"),
    ],
)
def test_bad_run_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    assert main(["run", *args, "--out", str(out)]) == 2
    assert message in one_line_error(capsys.readouterr().err)
    assert not out.exists()


def test_engine_not_installed_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = [
        n for n in ("jax", "mygrad", "tinygrad", "paddle") if not importlib.util.find_spec(n)
    ]
    if not missing:
        pytest.skip("every optional engine is installed here")
    assert main(["run", "--backend", missing[0], "--out", str(tmp_path / "out")]) == 2
    err = one_line_error(capsys.readouterr().err)
    assert f"pip install 'autograd-conformance[{missing[0]}]'" in err
    assert not (tmp_path / "out").exists()


def test_unavailable_device_is_refused_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["run", "--backend", "torch:cuda", "--out", str(tmp_path / "out")]) == 2
    assert "torch:cuda: no CUDA device is visible" in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_bad_input_through_the_console_script(tmp_path: Path) -> None:
    done = run_cli("run", "--backend", "nosuch", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    one_line_error(done.stderr)
    assert done.stdout == ""
    done = run_cli("frobnicate")
    assert done.returncode == 2
    assert "invalid choice: 'frobnicate'" in one_line_error(done.stderr)


def test_out_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("keep")
    assert main(["run", "--backend", "reference", "--out", str(target)]) == 2
    assert "is not a directory" in one_line_error(capsys.readouterr().err)
    assert target.read_text() == "keep"


@pytest.fixture
def reports(tmp_path: Path) -> dict[str, Path]:
    good = publish(sample_backend_report(label="reference:cpu"), tmp_path, ["json"])[0]
    other = tmp_path / "v2.json"
    other.write_text(json.dumps({**json.loads(good.read_text()), "schema_version": 2}))
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(good.read_text()[:200])
    return {"good": good, "other": other, "corrupt": corrupt, "missing": tmp_path / "no.json"}


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("missing", "does not exist"),
        ("corrupt", "is not valid JSON"),
        ("other", "has schema version 2; this version of conformance reads schema version 1"),
    ],
)
def test_unreadable_reports_exit_2_in_every_command(
    reports: dict[str, Path], which: str, message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    bad, good = str(reports[which]), str(reports["good"])
    out = tmp_path / "matrix-out"
    for args in (
        ["matrix", good, bad, "--out", str(out)],
        ["diff", good, bad],
        ["diff", bad, good],
        ["repro", bad, "FAKE-002"],
    ):
        assert main(args) == 2, args
        assert message in one_line_error(capsys.readouterr().err)
    assert not out.exists(), "matrix wrote output for bad input"


def test_repro_of_an_unknown_id_or_a_passing_requirement(
    reports: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["repro", str(reports["good"]), "NOPE-1"]) == 2
    assert "no requirement or test 'NOPE-1'" in one_line_error(capsys.readouterr().err)
    assert main(["repro", str(reports["good"]), "FAKE-001"]) == 2
    assert "no failure" in one_line_error(capsys.readouterr().err)
    assert main(["repro", str(reports["good"]), "FAKE-002"]) == 0
    assert capsys.readouterr().out.startswith("import autograd_conformance_reference as torch\n")


# -- end to end ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bundled suites on reference and torch:cpu, and on a mutant of the catalogue, for one
    requirement (kept short: the suites' own tests run them in full)."""
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("e2e") / "reports"
    rid = REQUIREMENTS[0].id
    done = run_cli(
        "run", "--backend", "reference", "--backend", "torch:cpu", "--backend", MUTANT,
        "--requirement", rid, "--out", str(out),
    )  # fmt: skip
    return {"done": done, "out": out, "rid": rid}


def test_run_writes_every_report_and_exits_1_for_the_mutant(cpu_run: dict[str, Any]) -> None:
    done, out = cpu_run["done"], cpu_run["out"]
    assert done.returncode == 1, done.stdout + done.stderr
    stems = ["reference-cpu", "torch-cpu", "tests.mutants.catalogue.IsLeafFromRequiresGrad-cpu"]
    expected = {f"{s}{suffix}" for s in stems for suffix in (".json", ".md", ".html", ".junit.xml")}
    written = expected | {"index.html", "matrix.md", "style.css", ".conformance-output"}
    assert {p.name for p in out.iterdir()} == written
    for stem, conforms in zip(stems, (True, True, False), strict=True):
        report = load_report(out / f"{stem}.json")
        assert report["complete"] is True
        assert report["summary"]["conforms"] is conforms
        assert [r["id"] for r in report["requirements"]] == [cpu_run["rid"]]
        assert report["selection"] == [cpu_run["rid"]]
        assert report["requirements"][0]["examples"] > 0
    torch_report = load_report(out / "torch-cpu.json")
    assert torch_report["backend"]["version"].startswith("2.")
    assert "num_threads" in torch_report["backend"]["environment"]
    assert torch_report["environment"]["numpy"]
    assert torch_report["profile"] == "ci"
    assert f"| {cpu_run['rid']} |" in (out / "matrix.md").read_text()


def test_matrix_diff_and_repro_on_the_run(cpu_run: dict[str, Any], tmp_path: Path) -> None:
    out: Path = cpu_run["out"]
    mutant = out / "tests.mutants.catalogue.IsLeafFromRequiresGrad-cpu.json"
    done = run_cli("matrix", str(out / "reference-cpu.json"), str(out / "torch-cpu.json"),
                   str(mutant), "--out", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    matrix = (tmp_path / "matrix.md").read_text()
    assert "❌ failed" in matrix and "✅ passed" in matrix
    assert (tmp_path / "index.html").exists()

    same = run_cli("diff", str(out / "reference-cpu.json"), str(out / "torch-cpu.json"))
    assert same.returncode == 0 and "regressions: 0" in same.stdout
    worse = run_cli("diff", str(out / "torch-cpu.json"), str(mutant))
    assert worse.returncode == 1
    assert f"{cpu_run['rid']}: passed -> failed" in worse.stdout
    better = run_cli("diff", str(mutant), str(out / "torch-cpu.json"))
    assert better.returncode == 0 and "fixes: 1" in better.stdout


def test_a_failing_report_carries_a_reproducer_that_shows_the_failure(
    cpu_run: dict[str, Any], tmp_path: Path
) -> None:
    mutant = cpu_run["out"] / "tests.mutants.catalogue.IsLeafFromRequiresGrad-cpu.json"
    done = run_cli("repro", str(mutant), cpu_run["rid"])
    assert done.returncode == 0, done.stderr
    assert f"load_backend('{MUTANT}:cpu')" in done.stdout
    script = tmp_path / "repro.py"
    script.write_text(done.stdout)
    ran = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert ran.returncode != 0
    assert "AssertionError" in ran.stderr
    # The same program on the correct engine passes the same check.
    fixed = done.stdout.replace(f"{MUTANT}:cpu", "reference:cpu")
    script.write_text(fixed)
    ok = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert ok.returncode == 0, ok.stderr


def test_fake_suite_run_then_repro_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_catalogue(monkeypatch)
    monkeypatch.chdir(ROOT)
    args = ["run", "--suite", "tests/fake_suite.py", "--out", str(tmp_path), "--profile", "dev"]
    assert main([*args, "--backend", DOUBLED, "--seed", "3"]) == 1
    report = load_report(tmp_path / "tests.crashing_adapters.DoubledGradientAdapter-cpu.json")
    assert (report["profile"], report["seed"]) == ("dev", 3)
    assert report["requirements"][1]["examples"] >= 10
    capsys.readouterr()
    path = tmp_path / "tests.crashing_adapters.DoubledGradientAdapter-cpu.json"
    assert main(["repro", str(path), "tests/fake_suite.py::test_gradients"]) == 0
    source = capsys.readouterr().out
    assert "Program.from_json(" in source and 'print("no difference")' in source
