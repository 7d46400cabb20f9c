"""The expected-failures manifest: known nonconformances and opt-outs of one engine, in TOML.

    [[expected-failure]]
    requirement = "BCE-005" # or test = "suites/test_linear_bce.py::test_bce_gradient_at_zero_logit"
    reason = "subgradient at z = 0 is 0, not 0.5 - y"
    link = "https://github.com/me/engine/issues/12"   # optional
    backends = ["myengine"]          # optional: names or NAME:DEVICE labels; default all

    [[opt-out]]
    test = "suites/test_graph.py::test_walk"
    reason = "the graph walk takes minutes on this engine"

An expected failure that fails is reported `xfail`; one that passes is reported `xpass` (an
unexpected pass: the entry is stale). An opted-out test is not run and is reported `skipped`.
None of these ever counts as passed. Entries that matched nothing are reported as stale.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, published as tomli (a dependency there)
    import tomli as tomllib

from conformance.errors import UsageError

EXPECTED = "expected-failure"
OPT_OUT = "opt-out"
_KEYS = {"requirement", "test", "reason", "link", "backends"}


@dataclass(frozen=True)
class Entry:
    kind: str
    """EXPECTED or OPT_OUT."""
    requirement: str | None
    test: str | None
    reason: str
    link: str | None = None
    backends: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return self.requirement or self.test or ""

    def applies_to(self, label: str) -> bool:
        """Whether the entry concerns backend `label` ("torch:cpu"); names match every device."""
        if not self.backends:
            return True
        return label in self.backends or label.rpartition(":")[0] in self.backends

    def matches_test(self, nodeid: str, requirements: Collection[str]) -> bool:
        if self.requirement is not None:
            return self.requirement in requirements
        assert self.test is not None
        return nodeid == self.test or nodeid.startswith(self.test + "[")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "reason": self.reason}
        if self.requirement is not None:
            data["requirement"] = self.requirement
        if self.test is not None:
            data["test"] = self.test
        if self.link is not None:
            data["link"] = self.link
        if self.backends:
            data["backends"] = list(self.backends)
        return data


@dataclass(frozen=True)
class Manifest:
    path: str
    entries: tuple[Entry, ...]

    def for_backend(self, label: str) -> Manifest:
        return Manifest(self.path, tuple(e for e in self.entries if e.applies_to(label)))

    def expected_for_requirement(self, rid: str) -> Entry | None:
        return next((e for e in self.entries if e.kind == EXPECTED and e.requirement == rid), None)

    def expected_for_test(self, nodeid: str) -> Entry | None:
        return next(
            (
                e
                for e in self.entries
                if e.kind == EXPECTED and e.test is not None and e.matches_test(nodeid, ())
            ),
            None,
        )

    def opt_out_for(self, nodeid: str, requirements: Collection[str]) -> Entry | None:
        return next(
            (e for e in self.entries if e.kind == OPT_OUT and e.matches_test(nodeid, requirements)),
            None,
        )


_SEE = "see docs/cli.md, Expected failures and opt-outs"


def load_manifest(path: str | Path, known_requirements: Collection[str]) -> Manifest:
    """Read and validate a manifest; any problem is a one-line UsageError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"manifest {path} is not UTF-8 text (byte {exc.start}); --expect takes a TOML file"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"cannot read manifest {path}: {_reason(exc)}; --expect takes a TOML file"
        ) from None
    return parse_manifest(text, str(path), known_requirements)


def parse_manifest(text: str, source: str, known_requirements: Collection[str]) -> Manifest:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"manifest {source} is not valid TOML: {exc} ({_SEE})") from None
    except RecursionError:  # the parser recurses once per level of nested arrays
        raise UsageError(
            f"manifest {source} is nested too deeply to be a manifest ({_SEE})"
        ) from None
    unknown_tables = sorted(set(data) - {EXPECTED, OPT_OUT})
    if unknown_tables:
        raise UsageError(
            f"manifest {source}: unknown key(s) {', '.join(map(repr, unknown_tables))}; "
            f"expected [[{EXPECTED}]] and [[{OPT_OUT}]] tables ({_SEE})"
        )
    entries: list[Entry] = []
    for kind in (EXPECTED, OPT_OUT):
        tables = data.get(kind, [])
        if not isinstance(tables, list):
            raise UsageError(f"manifest {source}: {kind} must be an array of tables, [[{kind}]]")
        for number, table in enumerate(tables, start=1):
            entries.append(_entry(kind, table, f"manifest {source}: [[{kind}]] #{number}"))
    if not entries:
        raise UsageError(
            f"manifest {source} has no entries: add [[{EXPECTED}]] or [[{OPT_OUT}]] tables, "
            "or leave out --expect"
        )
    known = set(known_requirements)
    for entry in entries:
        if entry.requirement is not None and entry.requirement not in known:
            raise UsageError(
                f"manifest {source}: unknown requirement id {entry.requirement!r} "
                "(see `conformance list`)"
            )
    targets = [(e.kind, e.target, e.backends) for e in entries]
    duplicates = sorted({t[1] for t in targets if targets.count(t) > 1})
    if duplicates:
        raise UsageError(f"manifest {source}: duplicate entries for {', '.join(duplicates)}")
    return Manifest(source, tuple(entries))


def _entry(kind: str, table: Any, where: str) -> Entry:
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table")
    extra = sorted(set(table) - _KEYS)
    if extra:
        raise UsageError(f"{where}: unknown key(s) {', '.join(extra)}")
    requirement, test = table.get("requirement"), table.get("test")
    if (requirement is None) == (test is None):
        raise UsageError(f'{where}: give exactly one of requirement = "ID" or test = "NODEID"')
    for key in ("requirement", "test", "reason", "link"):
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise UsageError(f"{where}: {key} must be a non-empty string")
    if table.get("reason") is None:
        raise UsageError(f"{where}: every entry needs a reason")
    backends = table.get("backends", [])
    if not isinstance(backends, list) or not all(isinstance(b, str) and b for b in backends):
        raise UsageError(f"{where}: backends must be a list of backend names or labels")
    for backend in backends:
        _check_backend(backend, where)
    return Entry(
        kind, requirement, test, table["reason"].strip(), table.get("link"), tuple(backends)
    )


def _check_backend(label: str, where: str) -> None:
    """A name or label that names no backend would make the entry apply nowhere, silently."""
    from conformance.backends.registry import BackendError, parse_spec

    try:
        parse_spec(label)
    except BackendError as exc:
        raise UsageError(f"{where}: backends: {exc}") from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
