"""The project's own tests run under the `ci` conformance profile and its seed, as they always
have: deterministic, bounded examples, and no deadline (many tests start subprocesses, whose
first call takes seconds on a loaded machine). The plugin applies a profile only to sessions that
ask for it, so the project's test session asks here; hypothesis's own --hypothesis-profile and
--hypothesis-seed still win when given."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.spec import profiles

_UNDO = pytest.StashKey[Callable[[], None]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_UNDO] = profiles.activate(
        None,
        None,
        user_profile=config.getoption("hypothesis_profile", None),
        user_seed=config.getoption("hypothesis_seed", None),
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    undo = config.stash.get(_UNDO, None)
    if undo is not None:
        undo()
