"""`python -m conformance.report.docs FILE...`: rewrite the statuses table (between its markers)
in each documentation file from conformance.report.statuses; a test fails when one is stale."""

from __future__ import annotations

import sys
from pathlib import Path

from conformance.report.files import atomic_write_text
from conformance.report.statuses import DOCS_END, DOCS_START, docs_table


def with_docs_table(document: str) -> str:
    head, start, rest = document.partition(DOCS_START)
    _, end, tail = rest.partition(DOCS_END)
    if not start or not end:
        raise ValueError(f"the document lacks the markers {DOCS_START!r} ... {DOCS_END!r}")
    return f"{head}{DOCS_START}\n{docs_table()}\n{DOCS_END}{tail}"


def main(argv: list[str] | None = None) -> int:
    for name in sys.argv[1:] if argv is None else argv:
        path = Path(name)
        atomic_write_text(path, with_docs_table(path.read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
