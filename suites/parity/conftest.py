from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Without a counterpart there is nothing to compare against: the suite is not part of the run
    # (rather than a wall of skips in the report).
    if config.getoption("--parity-with") is None and collection_path.suffix == ".py":
        return True
    return None


@pytest.fixture(scope="session")
def counterpart(request: pytest.FixtureRequest) -> Any:
    from conformance.backends.registry import BackendError, load_backend

    try:
        return load_backend(request.config.getoption("--parity-with"))
    except BackendError as exc:
        pytest.exit(str(exc), returncode=2)
