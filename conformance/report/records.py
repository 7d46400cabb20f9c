"""Typed records of a run: one test's result, one requirement's verdict, one backend's report.

The pytest plugin makes a `TestResult` per test and streams it as one JSON line (`result_line`);
conformance.report.model aggregates results into a `BackendReport`; the writers of every format
take a `BackendReport`. `to_dict` gives the JSON form that conformance/schema/report-v1.json
describes, `from_dict` reads it back (also from reports written by earlier versions of schema v1).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from conformance.report.statuses import ERROR, STATUSES

SCHEMA_VERSION = 1

Measured = float | str | None
"""A largest error measured; once read back from JSON, "nan" or "inf" for non-finite values."""

_Record = TypeVar("_Record")


def _known(cls: type[_Record], data: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `data` that are fields of `cls` (absent ones keep their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in data.items() if k in names}


def jsonable(value: Any) -> Any:
    """Strict JSON: non-finite floats become the strings "nan", "inf", "-inf"."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


# -- one test -------------------------------------------------------------------------------------
@dataclass
class TestResult:
    """One test's outcome, with the evidence its checks left."""

    __test__ = False  # not a pytest test class, whatever its name

    nodeid: str
    requirements: list[str]
    status: str
    message: str | None = None
    duration_s: float = 0.0
    examples: int = 0
    max_abs_error: Measured = None
    max_rel_error: Measured = None
    tolerance: dict[str, float] | None = None
    program: dict[str, Any] | None = None
    """The shrunk counterexample (conformance.spec.program's JSON form), on failure."""
    check: str | None = None
    """Source of the failing check, appended to the program's rendering in a reproducer."""
    details: dict[str, Any] = field(default_factory=dict)
    expectation: dict[str, Any] | None = None
    """The expected-failures manifest entry that turned this test into xfail or xpass."""

    _EVIDENCE = ("program", "check", "details")

    def to_dict(self, evidence: bool = True) -> dict[str, Any]:
        """The JSON form. Without `evidence` (in a report, whose failures carry it) the program,
        check and details are left out; optional entries that are empty are always left out."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not evidence:
            for name in self._EVIDENCE:
                del data[name]
        for name in (*self._EVIDENCE, "expectation"):
            if name in data and not data[name]:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestResult:
        """A result as streamed or reported; a record with an unknown status becomes an error
        (fail closed) that names it."""
        result = cls(**_known(cls, data))
        result.requirements = list(result.requirements or [])
        result.duration_s = float(result.duration_s or 0.0)
        result.examples = int(result.examples or 0)
        result.details = dict(result.details or {})
        if result.status not in STATUSES:
            result.message = f"unknown status {result.status!r}: {result.message}"
            result.status = ERROR
        return result


def result_line(result: TestResult) -> str:
    """The results stream's line for one test (`--conformance-results`). Non-finite errors stay
    floats (Python's JSON reads NaN back); the report spells them as strings."""
    return json.dumps(result.to_dict(), default=str) + "\n"


# -- one requirement ------------------------------------------------------------------------------
@dataclass
class Failure:
    """A failing (or expected-to-fail) test of a requirement, with what reproduces it."""

    nodeid: str
    status: str
    message: str | None = None
    program: dict[str, Any] | None = None
    check: str | None = None
    reproducer: str | None = None
    """Python source that replays the failure on its own (conformance.report.repro)."""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RequirementVerdict:
    id: str
    title: str
    status: str
    message: str | None
    tests: list[str]
    """Node ids of the requirement's tests."""
    examples: int
    examples_per_s: float | None
    max_abs_error: Measured
    max_rel_error: Measured
    tolerance: dict[str, float] | None
    failures: list[Failure]
    statement: str | None = None
    level: str | None = None
    duration_s: float = 0.0
    expectation: dict[str, Any] | None = None

    _ORDER = (
        "id", "title", "statement", "level", "status", "message", "tests", "examples",
        "duration_s", "examples_per_s", "max_abs_error", "max_rel_error", "tolerance",
        "expectation", "failures",
    )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {name: data[name] for name in self._ORDER}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequirementVerdict:
        known = _known(cls, data)
        known["failures"] = [Failure(**_known(Failure, f)) for f in data.get("failures", [])]
        return cls(**known)


# -- one backend ----------------------------------------------------------------------------------
@dataclass
class Crash:
    """Why a backend's run did not finish: its worker died, hung, timed out or was interrupted,
    or the adapter failed while loading."""

    kind: str
    """signal, crash, exit, hang, timeout, exception or interrupted."""
    message: str
    phase: str = "run"
    """load or run."""
    test: str | None = None
    signal: str | None = None
    returncode: int | None = None
    log_tail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {"kind": data.pop("kind"), "phase": data.pop("phase"), **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Crash:
        return cls(**_known(cls, data))


@dataclass
class Summary:
    requirements: dict[str, int]
    """Requirements per status."""
    tests: dict[str, int]
    """Tests per status."""
    total: int
    applicable: int
    pass_rate: float | None
    examples: int
    conforms: bool

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        return cls(**{"examples": 0, **_known(cls, data)})


@dataclass
class BackendReport:
    """The report of one backend on one device."""

    suite: dict[str, Any]
    """name, version, git_commit, git_dirty, target."""
    backend: dict[str, Any]
    """label, name, adapter, version, device, environment, capabilities."""
    environment: dict[str, Any]
    """The host: python, numpy, os, cpu."""
    profile: str
    seed: int
    started: str
    duration_s: float
    crash: Crash | None
    summary: Summary
    requirements: list[RequirementVerdict]
    tests: list[TestResult]
    counterpart: dict[str, Any] | None = None
    """The parity suite's counterpart backend, described like `backend`."""
    selection: list[str] | None = None
    workers: int | str = 1
    expectations: dict[str, Any] | None = None
    """The expected-failures manifest's verdict: file, entries, stale, unexpected_passes."""
    schema_version: int = SCHEMA_VERSION

    @property
    def complete(self) -> bool:
        return self.crash is None

    @property
    def label(self) -> str:
        return str(self.backend["label"])

    @property
    def stem(self) -> str:
        """`<name>-<device>`, the file name of the backend's reports without suffix."""
        return slug(str(self.backend["name"]), str(self.backend["device"]))

    def requirement(self, rid: str) -> RequirementVerdict | None:
        return next((r for r in self.requirements if r.id == rid), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (before non-finite floats are spelled as strings, see `jsonable`)."""
        return {
            "schema_version": self.schema_version,
            "suite": self.suite,
            "backend": self.backend,
            "counterpart": self.counterpart,
            "environment": self.environment,
            "profile": self.profile,
            "seed": self.seed,
            "started": self.started,
            "duration_s": self.duration_s,
            "complete": self.complete,
            "crash": self.crash.to_dict() if self.crash else None,
            "selection": self.selection,
            "workers": self.workers,
            "summary": dataclasses.asdict(self.summary),
            "expectations": self.expectations,
            "requirements": [r.to_dict() for r in self.requirements],
            "tests": [t.to_dict(evidence=False) for t in self.tests],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackendReport:
        """A report read from JSON (already checked against the schema)."""
        known = _known(cls, data)
        known["crash"] = Crash.from_dict(data["crash"]) if data.get("crash") else None
        known["summary"] = Summary.from_dict(data["summary"])
        known["requirements"] = [RequirementVerdict.from_dict(r) for r in data["requirements"]]
        known["tests"] = [TestResult.from_dict(t) for t in data["tests"]]
        return cls(**known)


def slug(name: str, device: str) -> str:
    """File stem of a backend's reports: ("torch", "cuda:1") -> "torch-cuda1"."""
    safe_name = "".join(c if c.isalnum() or c in "_-" else "." for c in name)
    safe_device = "".join(c for c in device if c.isalnum() or c in "_-")
    return f"{safe_name}-{safe_device}"
