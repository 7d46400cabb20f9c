"""Progress on stderr: a live line on a terminal, else a plain line per finished requirement."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TextIO

from conformance.judge.manifest import Manifest
from conformance.report.statuses import FAILING, PASSED, PASSING, XFAIL, XPASS, worst

if TYPE_CHECKING:
    from conformance.report.records import BackendReport


class Progress:
    def __init__(self, stream: TextIO, label: str, manifest: Manifest | None) -> None:
        self.stream = stream
        self.label = label
        self.manifest = manifest.for_backend(label) if manifest else None
        self.live = _isatty(stream)
        self.started = time.monotonic()
        self._drawn = 0.0
        self._done: set[str] = set()

    def update(self, state: Any, *, force: bool = False) -> None:
        """Redraw from a runner.WorkerState."""
        if self.live:
            now = time.monotonic()
            if force or now - self._drawn >= 0.1:
                self._drawn = now
                self._draw(state)
        else:
            for rid, status, examples in self._finished(state):
                self.stream.write(f"{self.label}  {rid:<14} {status:<15} {examples} examples\n")
            self.stream.flush()

    def _draw(self, state: Any) -> None:
        tests = len(state.collected) if state.collected is not None else "?"
        requirements = len(state.requirement_tests()) if state.collected is not None else "?"
        elapsed = time.monotonic() - self.started
        failing = sum(1 for r in state.records.values() if r["status"] in FAILING)
        line = (
            f"{self.label}: {len(state.records)}/{tests} tests · "
            f"{len(self._finished_ids(state))}/{requirements} requirements · "
            f"{state.examples()} examples · {failing} failing · {elapsed:.0f} s"
        )
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()

    def _finished_ids(self, state: Any) -> list[str]:
        return [
            rid
            for rid, nodeids in state.requirement_tests().items()
            if all(n in state.records for n in nodeids)
        ]

    def _finished(self, state: Any) -> list[tuple[str, str, int]]:
        finished = []
        for rid in self._finished_ids(state):
            if rid in self._done:
                continue
            self._done.add(rid)
            records = [state.records[n] for n in state.requirement_tests()[rid]]
            status = worst(r["status"] for r in records) or "skipped"
            finished.append(
                (rid, self._expected(rid, status), sum(r.get("examples") or 0 for r in records))
            )
        return finished

    def _expected(self, rid: str, status: str) -> str:
        entry = self.manifest.expected_for_requirement(rid) if self.manifest else None
        if entry is None:
            return status
        return XFAIL if status in FAILING else XPASS if status == PASSED else status

    def finish(self, state: Any) -> None:
        if self.live:
            self._draw(state)
            self.stream.write("\n")
        else:
            self.update(state)
        self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def summary_line(report: BackendReport, where: str) -> str:
    """The run's last word on a backend: the verdict, how many requirements were checked (ran to
    a verdict: skipped and not-applicable ones were not), and each status's count, once."""
    from conformance.report import text
    from conformance.report.model import checked

    summary = report.summary
    counts = text.counts_line(summary.requirements) or "no requirements"
    failing = sum(summary.requirements.get(s, 0) for s in FAILING)
    if report.crash is not None:
        verdict = f"Incomplete: {report.crash.message}"
    elif failing:
        verdict = f"Does not conform: {failing} of {summary.applicable} applicable fail"
    elif summary.conforms:
        passing = sum(summary.requirements.get(s, 0) for s in PASSING)
        verdict = (
            f"Conforms: all {passing} applicable requirements pass"
            if passing == summary.applicable
            else f"Conforms: {passing} of {summary.applicable} applicable requirements pass, "
            "none fails"
        )
    else:
        verdict = "Nothing checked"
    checked_line = f"{checked(summary.requirements)} of {summary.total} requirements checked"
    return f"{report.label}: {verdict}; {checked_line} ({counts}) -> {where}"
