"""Make the repository root importable however pytest is invoked, and keep hypothesis quick."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

settings.register_profile(
    "reference_engine",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
