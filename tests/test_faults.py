"""The faults matrix: whatever a backend does to its worker, the run writes its report, marked
incomplete with the cause, exits 3, and the other backends of the same run complete.

One run of the four-test suite tests/fake_suite.py on the reference and on one adapter per fault
(tests/crashing_adapters.py). tests/test_runner.py covers the native deaths (SIGABRT, SIGSEGV)
and a hang in backward on the same suite.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.report import load_report
from conformance.run.cli import main
from tests.crashing_adapters import use_fake_catalogue

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = "tests.crashing_adapters"
HANG_LIMIT_S = 10
MEMORY_LIMIT_MIB = 1024

# adapter -> (crash kind, phase, words the crash message must hold)
FAULTS = {
    "tests.raising_adapter_module:Adapter": (
        "exception", "load", "RuntimeError: raising_adapter_module: engine ABI mismatch",
    ),
    f"{ADAPTERS}:ConstructorRaisingAdapter": (
        "exception", "load", "RuntimeError: engine licence not found",
    ),
    f"{ADAPTERS}:ConstructorAbortingAdapter": ("signal", "load", "SIGABRT"),
    f"{ADAPTERS}:AbortingAdapter": ("signal", "run", "killed by SIGABRT"),
    f"{ADAPTERS}:KilledAdapter": ("signal", "run", "killed by SIGKILL"),
    f"{ADAPTERS}:ForwardLoopingAdapter": ("hang", "run", f"no progress for {HANG_LIMIT_S} s"),
    f"{ADAPTERS}:MemoryHogAdapter": ("memory", "run", f"its limit of {MEMORY_LIMIT_MIB} MiB"),
}  # fmt: skip


def stem(backend: str) -> str:
    # An adapter whose module cannot be imported never said which devices it has.
    device = "default" if "raising_adapter_module" in backend else "cpu"
    return f"{backend.replace(':', '.')}-{device}"


@pytest.fixture(scope="module")
def faults_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("faults") / "reports"
    stdout, stderr = io.StringIO(), io.StringIO()
    backends = ["reference", *FAULTS, f"{ADAPTERS}:NoisyAdapter"]
    args = ["run", "--suite", "tests/fake_suite.py", "--out", str(out)]
    args += ["--timeout-example", str(HANG_LIMIT_S), "--memory-limit", str(MEMORY_LIMIT_MIB)]
    for backend in backends:
        args += ["--backend", backend]
    with pytest.MonkeyPatch.context() as patch:
        use_fake_catalogue(patch)
        patch.chdir(ROOT)
        patch.setattr(sys, "stdout", stdout)
        patch.setattr(sys, "stderr", stderr)
        code = main(args)
    return {"code": code, "out": out, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def test_a_run_with_faulty_backends_exits_3(faults_run: dict[str, Any]) -> None:
    assert faults_run["code"] == 3, faults_run["stderr"][-3000:]


@pytest.mark.parametrize("backend", list(FAULTS))
def test_each_fault_leaves_a_report_marked_incomplete_with_its_cause(
    faults_run: dict[str, Any], backend: str
) -> None:
    kind, phase, words = FAULTS[backend]
    path = faults_run["out"] / f"{stem(backend)}.json"
    assert path.is_file(), sorted(p.name for p in faults_run["out"].iterdir())
    report = load_report(path)
    assert report["complete"] is False
    assert report["summary"]["conforms"] is False
    crash = report["crash"]
    assert (crash["kind"], crash["phase"]) == (kind, phase), crash
    assert words in crash["message"], crash["message"]
    for suffix in (".md", ".html"):
        assert (faults_run["out"] / f"{stem(backend)}{suffix}").is_file()
    if phase == "run":
        # What finished before the fault is kept; nothing is passed that did not run.
        statuses = {r["id"]: r["status"] for r in report["requirements"]}
        assert statuses["FAKE-003"] in ("skipped", "not-applicable"), statuses
        assert "passed" not in {statuses["FAKE-002"], statuses["FAKE-004"]}, statuses


def test_out_of_memory_is_an_error_of_the_run_never_a_nonconformance(
    faults_run: dict[str, Any],
) -> None:
    report = load_report(faults_run["out"] / f"{stem(f'{ADAPTERS}:MemoryHogAdapter')}.json")
    by_id = {r["id"]: r for r in report["requirements"]}
    assert by_id["FAKE-002"]["status"] == "error", by_id["FAKE-002"]
    assert "MemoryError" in by_id["FAKE-002"]["message"]
    assert report["crash"]["test"] == "tests/fake_suite.py::test_gradients"


def test_the_other_backends_of_the_run_complete(faults_run: dict[str, Any]) -> None:
    for backend in ("reference", f"{ADAPTERS}:NoisyAdapter"):
        report = load_report(faults_run["out"] / f"{stem(backend)}.json")
        assert report["complete"] is True and report["crash"] is None, backend
        assert report["summary"]["conforms"] is True, backend


def test_heavy_output_from_an_engine_stays_out_of_the_report_and_the_console(
    faults_run: dict[str, Any],
) -> None:
    path = faults_run["out"] / f"{stem(f'{ADAPTERS}:NoisyAdapter')}.json"
    assert path.stat().st_size < 200_000
    assert "engine debug" not in faults_run["stdout"] + faults_run["stderr"]
