"""Reports built from hand-written test records, without running a worker (fast report tests).

A record is a test result's JSON form, as the plugin streams it; `sample_backend_report` gives
the typed report, `sample_report` its JSON form (what a reader of the JSON file sees)."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.judge.manifest import Manifest
from conformance.report import BackendReport, RunInfo, TestResult, build_report
from conformance.report.records import Crash, jsonable
from conformance.spec.program import Apply, Input, Program
from tests.crashing_adapters import FAKE_REQUIREMENTS

META = {
    r.id: {
        "title": r.title,
        "statement": r.statement,
        "level": r.level,
        "capabilities": list(r.capabilities),
        "source": r.source,
    }
    for r in FAKE_REQUIREMENTS
}

PROGRAM = Program(
    (Input("x", np.array([0.5, -1.25]), True),),
    (Apply("y", "mul", ("x", "x")), Apply("s", "sum", ("y",))),
    ("s",),
)
CHECK = 'raise AssertionError("gradient differs from the reference")'


def record(nodeid: str, rid: str, status: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "nodeid": nodeid,
        "requirements": [rid],
        "status": status,
        "message": None,
        "duration_s": 0.5,
        "examples": 25,
        "max_abs_error": None,
        "max_rel_error": None,
        "tolerance": None,
        "program": None,
        "check": None,
    }
    return {**base, **fields}


def sample_records() -> list[dict[str, Any]]:
    return [
        record(
            "suite.py::test_forward", "FAKE-001", "passed",
            max_abs_error=1e-17, max_rel_error=2.5e-16, tolerance={"rtol": 1e-10, "atol": 0.0},
        ),
        record(
            "suite.py::test_gradients", "FAKE-002", "failed",
            message="gradient [2.0] differs from the reference [1.0]",
            max_abs_error=1.0, max_rel_error=1.0, tolerance={"rtol": 1e-12, "atol": 0.0},
            program=PROGRAM.to_dict(), check=CHECK,
        ),
        record("suite.py::test_gradients_again", "FAKE-002", "passed", examples=10),
        record(
            "suite.py::test_float8", "FAKE-003", "not-applicable", examples=0,
            message="not applicable: FAKE-003 needs dtype:float8_e5m2 (no float8_e5m2)",
        ),
        record("suite.py::test_product", "FAKE-004", "passed", examples=0),
    ]  # fmt: skip


def run_info(label: str = "torch:cpu", **fields: Any) -> RunInfo:
    name, _, device = label.partition(":")
    base: dict[str, Any] = {
        "backend": {
            "label": label,
            "name": name,
            "adapter": "conformance.backends.torch:TorchAdapter",
            "version": "2.13.0",
            "device": device,
            "environment": {"num_threads": 2},
            "capabilities": None,
        },
        "profile": "ci",
        "seed": 7,
        "started": "2026-11-26T12:00:00+00:00",
        "duration_s": 3.5,
        "suite": {"name": "autograd-conformance", "version": "0.1.0", "git_commit": None},
        "environment": {"python": "3.11.7", "numpy": "2.0", "os": "Linux", "cpu": "x86_64"},
    }
    if fields.get("crash") is not None:
        fields["crash"] = Crash.from_dict(fields["crash"])
    return RunInfo(**{**base, **fields})


def sample_backend_report(
    records: list[dict[str, Any]] | None = None,
    manifest: Manifest | None = None,
    collected: list[dict[str, Any]] | None = None,
    **run_fields: Any,
) -> BackendReport:
    records = sample_records() if records is None else records
    results = [TestResult.from_dict(r) for r in records]
    return build_report(run_info(**run_fields), results, collected, META, manifest)


def sample_report(
    records: list[dict[str, Any]] | None = None,
    manifest: Manifest | None = None,
    collected: list[dict[str, Any]] | None = None,
    **run_fields: Any,
) -> dict[str, Any]:
    report = sample_backend_report(records, manifest, collected, **run_fields)
    data: dict[str, Any] = jsonable(report.to_dict())
    return data
