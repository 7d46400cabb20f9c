"""The runner: worker processes, streamed results, crash and hang handling, time limits, progress.

The crashing backends are in tests/crashing_adapters.py and run the four-test suite
tests/fake_suite.py: its first test only runs ops (so it passes before a backend dies in the
gradient test), its third is not applicable anywhere.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.backends.registry import parse_spec
from conformance.judge.manifest import parse_manifest
from conformance.report import load_report
from conformance.run.cli import main
from conformance.run.options import RunOptions
from conformance.run.progress import Progress
from conformance.run.runner import MARKER
from conformance.run.streams import JsonLines
from conformance.run.worker import STARTUP_GRACE, WorkerState, overdue
from tests.crashing_adapters import use_fake_catalogue

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = "tests.crashing_adapters"
SUITE = ["--suite", "tests/fake_suite.py"]
HANG_LIMIT_S = 10


def stem(name: str) -> str:
    return f"{ADAPTERS}.{name}-cpu"


def requirements(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in report["requirements"]}


@pytest.fixture(scope="module")
def crash_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run: the reference backend and four backends that abort, segfault, hang, or raise."""
    out = tmp_path_factory.mktemp("crash") / "reports"
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        use_fake_catalogue(patch)
        patch.chdir(ROOT)
        patch.setattr(sys, "stdout", stdout)
        patch.setattr(sys, "stderr", stderr)
        backends = ["reference"] + [
            f"{ADAPTERS}:{name}"
            for name in ("AbortingAdapter", "SegfaultingAdapter", "HangingAdapter")
        ]
        backends.append(f"{ADAPTERS}:ImportRaisingAdapter")
        # The example limit is the hang's cut-off, and every backend of the run has it: generous
        # enough that a correct backend on a machine busy with other work is never cut.
        args = ["run", *SUITE, "--timeout-example", str(HANG_LIMIT_S), "--out", str(out)]
        for backend in backends:
            args += ["--backend", backend]
        started = time.monotonic()
        code = main(args)
        elapsed = time.monotonic() - started
    return {
        "code": code,
        "out": out,
        "stdout": stdout.getvalue(),
        "stderr": stderr.getvalue(),
        "elapsed": elapsed,
    }


def test_a_crash_or_hang_exits_3(crash_run: dict[str, Any]) -> None:
    assert crash_run["code"] == 3, crash_run["stderr"]


def test_the_other_backends_reports_are_complete(crash_run: dict[str, Any]) -> None:
    report = load_report(crash_run["out"] / "reference-cpu.json")
    assert report["complete"] is True
    assert report["crash"] is None
    assert report["summary"]["conforms"] is True
    assert [r["status"] for r in report["requirements"]] == [
        "passed", "passed", "not-applicable", "passed",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "signal"), [("AbortingAdapter", "SIGABRT"), ("SegfaultingAdapter", "SIGSEGV")]
)
def test_a_killed_worker_leaves_an_incomplete_report_naming_the_crash(
    crash_run: dict[str, Any], name: str, signal: str
) -> None:
    report = load_report(crash_run["out"] / f"{stem(name)}.json")
    assert report["complete"] is False
    crash = report["crash"]
    assert (crash["kind"], crash["phase"], crash["signal"]) == ("signal", "run", signal)
    assert crash["test"] == "tests/fake_suite.py::test_gradients"
    assert f"killed by {signal}" in crash["message"]
    assert "Fatal Python error" in crash["log_tail"]
    reqs = requirements(report)
    # What finished before the crash is kept; the test in flight is the error; the rest did not run.
    assert reqs["FAKE-001"]["status"] == "passed"
    assert reqs["FAKE-001"]["examples"] == 25
    assert reqs["FAKE-002"]["status"] == "error"
    assert signal in reqs["FAKE-002"]["message"]
    assert reqs["FAKE-003"]["status"] == "skipped"
    assert reqs["FAKE-004"]["status"] == "skipped"
    assert reqs["FAKE-004"]["message"].startswith("not run: crashed")
    for suffix in (".md", ".html", ".junit.xml"):
        assert (crash_run["out"] / f"{stem(name)}{suffix}").exists()
    assert "Incomplete report." in (crash_run["out"] / f"{stem(name)}.md").read_text()


def test_a_hang_is_killed_at_the_example_time_limit(crash_run: dict[str, Any]) -> None:
    report = load_report(crash_run["out"] / f"{stem('HangingAdapter')}.json")
    assert report["complete"] is False
    crash = report["crash"]
    assert crash["kind"] == "hang"
    assert crash["test"] == "tests/fake_suite.py::test_gradients"
    assert crash["message"] == (
        f"hung: no progress for {HANG_LIMIT_S} s in tests/fake_suite.py::test_gradients (example 1)"
    )
    assert requirements(report)["FAKE-001"]["status"] == "passed"
    assert requirements(report)["FAKE-002"]["status"] == "error"
    # Cut at the example limit, long before the start-up allowance would have cut it.
    assert report["duration_s"] < HANG_LIMIT_S + STARTUP_GRACE


def test_an_engine_raising_at_import_is_a_crash_while_loading(crash_run: dict[str, Any]) -> None:
    report = load_report(crash_run["out"] / f"{stem('ImportRaisingAdapter')}.json")
    assert report["complete"] is False
    crash = report["crash"]
    assert (crash["kind"], crash["phase"]) == ("exception", "load")
    assert crash["message"] == (
        "crashed while loading: RuntimeError: broken_engine: libbroken.so: undefined symbol: "
        "grad_kernel_v2"
    )
    assert report["backend"]["device"] == "cpu"
    assert {r["status"] for r in report["requirements"]} == {"skipped"}
    assert report["tests"] == []


def test_the_run_reports_each_backend_and_writes_the_matrix(crash_run: dict[str, Any]) -> None:
    out: Path = crash_run["out"]
    assert (out / "index.html").exists() and (out / "matrix.md").exists()
    matrix = (out / "matrix.md").read_text()
    for name in ("AbortingAdapter", "SegfaultingAdapter", "HangingAdapter", "ImportRaisingAdapter"):
        assert f"[{ADAPTERS}:{name}:cpu]({stem(name)}.html) (incomplete)" in matrix
    lines = crash_run["stdout"].splitlines()
    assert lines[0].startswith("reference:cpu: Conforms: all 3 applicable requirements pass")
    assert "; 3 of 4 requirements checked (3 passed · 1 not applicable) -> " in lines[0]
    assert sum("Incomplete:" in line for line in lines) == 4
    temporary = [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != MARKER]
    assert not temporary, "temporary files left"


def test_progress_is_a_plain_line_per_requirement_when_not_a_terminal(
    crash_run: dict[str, Any],
) -> None:
    stderr = crash_run["stderr"]
    assert "reference:cpu  FAKE-001       passed          25 examples" in stderr
    assert "reference:cpu  FAKE-003       not-applicable  0 examples" in stderr
    assert f"{ADAPTERS}:AbortingAdapter:cpu: crashed: the worker was killed by SIGABRT" in stderr
    assert "\r" not in stderr


@pytest.fixture
def busy_cores() -> Any:
    """Every core kept busy (twice over) while the test runs: timings must not assume an idle
    machine (CI runners and developers' laptops rarely are)."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(2 * (os.cpu_count() or 1))
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.parametrize("load", ["idle", "busy"])
def test_a_run_time_limit_stops_a_backend(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    load: str,
) -> None:
    if load == "busy":
        request.getfixturevalue("busy_cores")
    use_fake_catalogue(monkeypatch)
    monkeypatch.chdir(ROOT)
    # The run's clock starts when the worker is seen in the hanging test, not when it is spawned:
    # how long a worker takes to start depends on what else the machine is doing, and the point
    # is that the limit stops a backend and names the test in flight.
    from conformance.run import worker

    in_hang: list[float] = []

    def overdue_counting_from_the_hang(
        state: WorkerState, options: RunOptions, started: float
    ) -> dict[str, Any] | None:
        if not in_hang and any(n.endswith("::test_gradients") for n in state.in_flight()):
            in_hang.append(time.monotonic())
        return overdue(state, options, in_hang[0] if in_hang else time.monotonic())

    monkeypatch.setattr(worker, "overdue", overdue_counting_from_the_hang)
    args = ["run", *SUITE, "--backend", f"{ADAPTERS}:HangingAdapter", "--out", str(tmp_path)]
    assert main([*args, "--timeout-run", "4", "--timeout-example", "120"]) == 3
    assert in_hang, "the worker never reached the hanging test"
    crash = load_report(tmp_path / f"{stem('HangingAdapter')}.json")["crash"]
    assert crash["kind"] == "timeout"
    assert crash["message"].startswith("exceeded the run time limit of 4 s")
    assert "test_gradients" in crash["message"]


def test_xdist_workers_and_a_crash_under_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_catalogue(monkeypatch)
    monkeypatch.chdir(ROOT)
    args = ["run", *SUITE, "-n", "2", "--out", str(tmp_path)]
    assert main([*args, "--backend", f"{ADAPTERS}:AbortingAdapter"]) == 3
    report = load_report(tmp_path / f"{stem('AbortingAdapter')}.json")
    assert report["workers"] == 2
    assert report["complete"] is False
    assert report["crash"]["kind"] == "crash"
    # xdist replaces a dead worker and goes on: every test has exactly one outcome.
    assert sorted(t["nodeid"].partition("::")[2] for t in report["tests"]) == [
        "test_float8", "test_forward", "test_gradients", "test_product_rule",
    ]  # fmt: skip
    reqs = requirements(report)
    assert reqs["FAKE-001"]["status"] == "passed"
    assert reqs["FAKE-003"]["status"] == "not-applicable"
    assert reqs["FAKE-002"]["status"] == "error"
    assert (
        "crashed while running 'tests/fake_suite.py::test_gradients'"
        in (reqs["FAKE-002"]["message"])
    )
    assert "test_gradients" in report["crash"]["message"]


def test_direct_pytest_run_writes_the_same_reports_and_streams(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    command = [
        sys.executable, "-m", "pytest", "tests/fake_suite.py", "-q", "-p", "no:cacheprovider",
        "--conformance-backend", f"{ADAPTERS}:DoubledGradientAdapter",
        "--conformance-out", str(tmp_path / "out"), "--conformance-results", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["status"] for r in records] == ["passed", "failed", "not-applicable", "failed"]
    assert records[1]["program"] is not None and records[1]["check"] is not None
    report = load_report(tmp_path / "out" / f"{stem('DoubledGradientAdapter')}.json")
    assert report["complete"] is True
    reqs = requirements(report)
    assert reqs["FAKE-002"]["status"] == "failed"
    assert "load_backend(" in reqs["FAKE-002"]["failures"][0]["reproducer"]
    for suffix in (".md", ".html", ".junit.xml"):
        assert (tmp_path / "out" / f"{stem('DoubledGradientAdapter')}{suffix}").exists()


# -- streams, watchdog and progress, without workers --------------------------------------------
def test_stream_reader_returns_complete_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    reader = JsonLines(path)
    assert reader.read_new() == []
    with open(path, "w") as stream:
        stream.write('{"a": 1}\n{"b": ')
    assert reader.read_new() == [{"a": 1}]
    with open(path, "a") as stream:
        stream.write('2}\nnot json\n{"c": 3}\n')
    assert reader.read_new() == [{"b": 2}, {"c": 3}]


def _options(**fields: Any) -> RunOptions:
    return RunOptions(backends=[parse_spec("reference")], **fields)


def test_watchdog_verdicts() -> None:
    state = WorkerState()
    state.take([], [{"event": "start", "nodeid": "t::a", "pid": 1}])
    now = time.monotonic()
    assert overdue(state, _options(timeout_example=5), now) is None
    state.in_test[1][2] = now - 6  # last heartbeat 6 s ago
    hang = overdue(state, _options(timeout_example=5), now)
    assert hang is not None and hang["kind"] == "hang" and hang["test"] == "t::a"
    limit = overdue(state, _options(timeout_example=60, timeout_run=1), now - 2)
    assert limit is not None and limit["kind"] == "timeout"
    idle = WorkerState(last_event=now - 1000)
    assert overdue(idle, _options(timeout_example=5), now)["message"].endswith(  # type: ignore[index]
        "while starting (collecting the suites)"
    )


def test_worker_state_tracks_tests_examples_and_crashes() -> None:
    state = WorkerState()
    tests = [
        {"nodeid": "t::a", "requirements": ["R-1"]},
        {"nodeid": "t::b", "requirements": ["R-1"]},
    ]
    state.take(
        [{"nodeid": "t::a", "status": "passed", "examples": 4}],
        [
            {"event": "collected", "tests": tests, "requirements": {}, "pid": 1},
            {"event": "start", "nodeid": "t::b", "pid": 1},
            {"event": "example", "nodeid": "t::b", "n": 2, "pid": 1},
        ],
    )
    assert state.examples() == 6
    assert state.in_flight() == {"t::b": 2}
    assert state.missing() == ["t::b"]
    assert state.requirement_tests() == {"R-1": ["t::a", "t::b"]}
    state.take([], [{"event": "crashed", "nodeid": "t::b", "pid": 0}])
    assert state.crashed == ["t::b"] and state.in_flight() == {}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_one_live_line() -> None:
    stream = _Terminal()
    manifest = parse_manifest(
        '[[expected-failure]]\nrequirement = "R-1"\nreason = "x"', "m", ["R-1"]
    )
    progress = Progress(stream, "torch:cpu", manifest)
    state = WorkerState()
    state.take(
        [{"nodeid": "t::a", "status": "failed", "examples": 3}],
        [{"event": "collected", "tests": [{"nodeid": "t::a", "requirements": ["R-1"]}], "pid": 1}],
    )
    progress.update(state, force=True)
    progress.finish(state)
    text = stream.getvalue()
    assert text.startswith("\rtorch:cpu: 1/1 tests · 1/1 requirements · 3 examples · 1 failing")
    assert text.endswith("\n") and text.count("\n") == 1


def test_progress_lines_apply_the_manifest() -> None:
    stream = io.StringIO()
    manifest = parse_manifest(
        '[[expected-failure]]\nrequirement = "R-1"\nreason = "x"', "m", ["R-1"]
    )
    progress = Progress(stream, "torch:cpu", manifest)
    state = WorkerState()
    state.take(
        [{"nodeid": "t::a", "status": "failed", "examples": 3}],
        [{"event": "collected", "tests": [{"nodeid": "t::a", "requirements": ["R-1"]}], "pid": 1}],
    )
    progress.update(state)
    progress.update(state)  # printed once
    assert stream.getvalue() == "torch:cpu  R-1            xfail           3 examples\n"


def test_worker_environment_names_the_callers_directory_but_does_not_put_it_first(
    tmp_path: Path,
) -> None:
    from conformance.backends.registry import CALLER_DIR_ENV
    from conformance.run.worker import worker_env

    env = worker_env(tmp_path)
    assert env[CALLER_DIR_ENV] == str(tmp_path)
    assert str(tmp_path) not in env.get("PYTHONPATH", "").split(os.pathsep)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_the_run_writes_the_report_and_leaves_no_worker(tmp_path: Path) -> None:
    marker = f"CONFORMANCE_TEST_MARKER={os.getpid()}-{time.time_ns()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), marker.split("=")[0]: marker.split("=")[1]}
    command = [
        sys.executable, "-m", "conformance", "run", *SUITE, "--out", str(tmp_path),
        "--backend", f"{ADAPTERS}:HangingAdapter", "--backend", "reference",
    ]  # fmt: skip
    runner = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert runner.stderr is not None
    os.set_blocking(runner.stderr.fileno(), False)
    seen = b""
    deadline = time.monotonic() + 120
    while b"FAKE-001" not in seen and time.monotonic() < deadline:
        time.sleep(0.2)  # until the first test passed: the worker now hangs in the second
        seen += runner.stderr.read() or b""
    time.sleep(1)
    runner.terminate()
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, seen + err
    assert (seen + err).decode().rstrip().endswith("conformance: interrupted")
    # The runner has waited for its workers; a leaked one would spin for ever in the hang.
    deadline = time.monotonic() + 30
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == []
    report = load_report(tmp_path / f"{stem('HangingAdapter')}.json")
    assert report["crash"]["kind"] == "interrupted"
    assert requirements(report)["FAKE-001"]["status"] == "passed"
    assert not (tmp_path / "reference-cpu.json").exists(), "the run went on after SIGTERM"
    assert (tmp_path / "index.html").exists()


# -- isolation: the runner process never loads an adapter ---------------------------------------
def install(site: Path, **adapters: str) -> dict[str, str]:
    """What pip leaves behind for a package registering `adapters` (name -> module:Class) in the
    entry-point group; the environment of a process that has it installed."""
    from conformance.backends.registry import ENTRY_POINT_GROUP

    dist = site / "fake_engine_adapters-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-engine-adapters\nVersion: 0.1\n"
    )
    lines = [f"{name} = {target}" for name, target in adapters.items()]
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n" + "\n".join(lines) + "\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


def conformance(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


CRASHY = {"crashy": f"{ADAPTERS}:ConstructorAbortingAdapter", "broken": "no_such_module:Adapter"}


def test_an_installed_adapter_that_aborts_while_loading_is_listed_as_crashed(
    tmp_path: Path,
) -> None:
    env = install(tmp_path / "site", **CRASHY)
    done = conformance("list", env=env)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    assert "cpu (crashed while loading: killed by SIGABRT)" in lines["crashy"]
    assert "unavailable: backend 'broken': cannot import 'no_such_module'" in lines["broken"]
    assert "  reference  installed; devices: cpu" in done.stdout
    assert "Requirements (" in done.stdout


def test_the_default_run_reports_an_installed_adapter_that_aborts_and_exits_3(
    tmp_path: Path,
) -> None:
    env = install(tmp_path / "site", **CRASHY)
    out = tmp_path / "out"
    done = conformance("run", *SUITE, "--profile", "dev", "--out", str(out), env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("crashy")]
    assert said == ["crashy:cpu: crashed while loading: killed by SIGABRT"], done.stderr
    assert "leaving out broken: backend 'broken': cannot import 'no_such_module'" in done.stderr
    assert not list(out.glob("broken*"))
    crashed = load_report(out / "crashy-cpu.json")
    assert crashed["complete"] is False
    assert (crashed["crash"]["kind"], crashed["crash"]["phase"]) == ("signal", "load")
    assert crashed["backend"]["label"] == "crashy:cpu"
    reference = load_report(out / "reference-cpu.json")
    assert reference["complete"] is True and reference["summary"]["conforms"] is True


def test_each_process_constructs_an_adapter_at_most_once(tmp_path: Path) -> None:
    """The runner constructs none; its probe and its worker one each; a pytest session writing
    its own reports one (the fixture and the report's backend facts share it)."""
    constructions = tmp_path / "constructions.txt"
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "CONFORMANCE_TEST_CONSTRUCTIONS": str(constructions)
    }  # fmt: skip
    counted = f"{ADAPTERS}:CountedAdapter"
    command = [sys.executable, "-m", "conformance", "run", *SUITE, "--profile", "dev",
               "--backend", counted, "--out", str(tmp_path / "run")]  # fmt: skip
    runner = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    runner.communicate(timeout=600)
    assert runner.returncode == 0
    pids = constructions.read_text().split()
    assert len(pids) == len(set(pids)) == 2, pids  # the probe, then the worker
    assert str(runner.pid) not in pids
    constructions.unlink()
    direct = [
        sys.executable, "-m", "pytest", "tests/fake_suite.py", "-q", "-p", "no:cacheprovider",
        "--conformance-backend", counted, "--conformance-out", str(tmp_path / "direct"),
    ]  # fmt: skip
    done = subprocess.run(direct, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(constructions.read_text().split()) == 1
