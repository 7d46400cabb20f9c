"""Reading the worker's streams while it writes them: complete lines only, torn lines ignored."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class JsonLines:
    """Follows a JSON-lines file that another process appends to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self._offset)
                chunk = stream.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        return [parsed for line in lines if (parsed := _parse(line)) is not None]


def _parse(line: bytes) -> dict[str, Any] | None:
    # A line torn by a crash mid-write is dropped; the runner then reports that test as in flight.
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def tail(path: Path, lines: int = 40, limit: int = 6000) -> str | None:
    """The last lines of a log file, for a crash report."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            stream.seek(max(0, size - 64 * 1024), os.SEEK_SET)
            text = stream.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    all_lines = text.rstrip().splitlines()
    # A fatal error's report (faulthandler's traceback) starts with this line: keep it whole.
    fatal = [n for n, line in enumerate(all_lines) if "Fatal Python error" in line]
    if fatal:
        kept = "\n".join(all_lines[fatal[-1] :])[:limit]
    else:
        kept = "\n".join(all_lines[-lines:])[-limit:]
    return kept or None
