"""Exit codes of the `conformance` command and the error that maps to exit code 2.

Every input problem (a bad backend, a corrupt report, a malformed manifest) is raised as
`UsageError` with a one-line message; the CLI prints it as `conformance: error: ...` and exits 2,
without a traceback and before any output file is written.
"""

from __future__ import annotations

EXIT_OK = 0
"""Every applicable requirement passes (expected failures allowed)."""
EXIT_NONCONFORMANCE = 1
"""A requirement failed or errored (or, for `diff`, a regression)."""
EXIT_USAGE = 2
"""Usage or input error: nothing was run, no file was written."""
EXIT_CRASH = 3
"""A backend crashed or hung; its report is written and marked incomplete."""
EXIT_UNCHECKED = 4
"""Too little was checked to say "conforms": on some backend no requirement applied or none ran,
fewer than `--min-applicable N` applied, or a `--require`d one was not applicable or skipped.
Nothing failed (that is exit 1, which takes precedence; a crash, exit 3, before both)."""


class UsageError(Exception):
    """Bad input from the user; `str(exc)` is a single line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
