"""`@requirement("ID")`: how a suite test names the requirement it checks.

The decorator applies the `requirement` marker (read by the conformance plugin) and makes the
requirement's normative sentence the test's docstring, so the sentence is written once, in
conformance/spec/requirements.py. A test explains how it checks in comments, not in a docstring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from conformance.spec import requirements

Test = TypeVar("Test", bound=Callable[..., Any])


def requirement(rid: str) -> Callable[[Test], Test]:
    """Mark a test as checking requirement `rid` and give it the requirement's statement."""
    # Looked up through the module at decoration time: tests/fake_suite.py swaps the catalogue.
    found = requirements.BY_ID.get(rid)
    if found is None:
        raise LookupError(
            f"unknown requirement {rid!r}: add it to conformance/spec/requirements.py"
        )

    def decorate(test: Test) -> Test:
        if test.__doc__:
            raise TypeError(
                f"{test.__name__}: the docstring comes from requirement {rid}; "
                "say how the test checks in a comment"
            )
        test.__doc__ = found.statement
        marked: Test = pytest.mark.requirement(rid)(test)
        return marked

    return decorate
