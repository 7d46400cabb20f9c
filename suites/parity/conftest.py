from __future__ import annotations

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Without a counterpart there is nothing to compare against: the suite is not part of the run
    # (rather than a wall of skips in the report). The `counterpart` fixture is the plugin's.
    if config.getoption("--conformance-parity-with") is None and collection_path.suffix == ".py":
        return True
    return None
