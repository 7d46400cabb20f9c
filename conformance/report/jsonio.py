"""The JSON report: its schema, writing it, and reading one back with every problem as a one-line
error. `load_report` gives the JSON data, `read_report` the typed `BackendReport`."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from conformance.errors import UsageError
from conformance.report.records import SCHEMA_VERSION, BackendReport, jsonable

SCHEMA_RESOURCE = f"report-v{SCHEMA_VERSION}.json"


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of reports, shipped as conformance/schema/report-v1.json."""
    resource = resources.files("conformance").joinpath("schema").joinpath(SCHEMA_RESOURCE)
    loaded: dict[str, Any] = json.loads(resource.read_text("utf-8"))
    return loaded


def schema_errors(report: Any) -> list[str]:
    """Where `report` departs from the schema, one line each ("path: message")."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors]


def dumps(report: BackendReport) -> str:
    """The JSON report, strict JSON (see `jsonable`)."""
    return json.dumps(jsonable(report.to_dict()), indent=1, allow_nan=False) + "\n"


def read_report(path: str | Path) -> BackendReport:
    """A report read from disk, checked against the schema, as a typed record."""
    return BackendReport.from_dict(load_report(path))


def load_report(path: str | Path) -> dict[str, Any]:
    """A report read from disk and checked against the schema; UsageError otherwise."""
    again = "write it again with `conformance run`"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"report {path} does not exist; {_GIVE}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"report {path} is not UTF-8 text (byte {exc.start}); {_GIVE}") from None
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror or exc}; {_GIVE}") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"report {path} is not valid JSON ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}); {_GIVE}"
        ) from None
    except RecursionError:  # the decoder recurses once per level of nesting
        raise UsageError(f"report {path} is nested too deeply to be a report; {_GIVE}") from None
    if not isinstance(report, dict) or "schema_version" not in report:
        raise UsageError(f"{path} is not a conformance report (it has no schema_version); {_GIVE}")
    version = report["schema_version"]
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"report {path} has schema version {version!r}; this version of conformance reads "
            f"schema version {SCHEMA_VERSION} ({again})"
        )
    try:
        errors = schema_errors(report)
    except RecursionError:  # so does the validator
        raise UsageError(f"report {path} is nested too deeply to be a report; {_GIVE}") from None
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UsageError(
            f"report {path} does not match report schema v{SCHEMA_VERSION}: "
            f"{_shorten(errors[0])}{more}; {again}"
        )
    if "\\u" in text:
        _refuse_lone_surrogates(report, path)
    return report


_GIVE = "give the path of a JSON report that `conformance run` wrote"


def _refuse_lone_surrogates(report: Any, path: str | Path) -> None:
    """A JSON escape such as \\ud800 decodes to half a character, which no output can encode:
    printing it would be a crash far from its cause."""
    try:
        json.dumps(report, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode("ascii")
        raise UsageError(
            f"report {path} holds a string with an unpaired surrogate ({bad}), which is no text; "
            f"{_GIVE}"
        ) from None


def _shorten(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
