"""Hypothesis profiles: `ci` (deterministic, bounded, fast), `thorough`, `dev`.

The profile name and seed go into every report, so a run can be repeated exactly.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

PROFILES = ("ci", "thorough", "dev")
DEFAULT_PROFILE = "ci"
DEFAULT_SEED = 20261126

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

active = {"profile": DEFAULT_PROFILE, "seed": DEFAULT_SEED}


def register() -> None:
    settings.register_profile(
        "ci",
        max_examples=25,
        derandomize=False,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=_SUPPRESSED,
        phases=(Phase.explicit, Phase.generate, Phase.shrink, Phase.explain),
    )
    settings.register_profile(
        "thorough",
        max_examples=400,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=_SUPPRESSED,
    )
    settings.register_profile(
        "dev", max_examples=10, deadline=None, print_blob=True, suppress_health_check=_SUPPRESSED
    )


def load(profile: str | None, seed: int | None) -> None:
    """Activate a profile and a global seed (hypothesis's --hypothesis-seed equivalent)."""
    import hypothesis

    name = profile or DEFAULT_PROFILE
    settings.load_profile(name)
    active["profile"] = name
    active["seed"] = DEFAULT_SEED if seed is None else seed
    # Every test draws from this seed, so `ci` is deterministic and `--seed N` reproduces a run.
    hypothesis.core.global_force_seed = active["seed"]  # type: ignore[assignment]
    _bound_shrinking(SHRINK_SECONDS[name])


SHRINK_SECONDS = {"ci": 30, "dev": 10, "thorough": 300}
"""Wall-clock cap on shrinking one failure. Hypothesis stops after 300 s by default; a broken
engine fails many tests, and `ci` must stay bounded. A cap changes how small the reported
counterexample is, never whether a failure is reported."""


def _bound_shrinking(seconds: int) -> None:
    # Hypothesis has no public setting for this; its engine reads the module global each time
    # it starts shrinking. Where a future version lacks it, the default cap stays.
    from hypothesis.internal.conjecture import engine

    if hasattr(engine, "MAX_SHRINKING_SECONDS"):
        engine.MAX_SHRINKING_SECONDS = seconds
