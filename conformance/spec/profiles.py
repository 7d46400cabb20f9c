"""Hypothesis profiles, one row each: `ci` (deterministic, bounded, fast), `thorough`, `dev`.

The profile name and seed go into every report, so a run can be repeated exactly. The `--profile`
option of `conformance run` and the plugin's `--conformance-profile` take their choices from here
(conformance/run/options.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, settings


@dataclass(frozen=True)
class Profile:
    name: str
    max_examples: int
    shrink_seconds: int
    """Wall-clock cap on shrinking one failure. Hypothesis stops after 300 s by default; a broken
    engine fails many tests, and `ci` must stay bounded. A cap changes how small the reported
    counterexample is, never whether a failure is reported."""
    database: bool = False
    """Whether hypothesis keeps failing examples between runs (only where a developer iterates)."""
    phases: tuple[Phase, ...] | None = None
    """None: hypothesis's default phases."""


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        # No reuse (no database) and no targeting: the same seed draws the same examples.
        Profile("ci", 25, 30, phases=(Phase.explicit, Phase.generate, Phase.shrink, Phase.explain)),
        Profile("thorough", 400, 300),
        Profile("dev", 10, 10, database=True),
    )
}
DEFAULT_PROFILE = "ci"
DEFAULT_SEED = 20261126

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

active = {"profile": DEFAULT_PROFILE, "seed": DEFAULT_SEED}


def register() -> None:
    for profile in PROFILES.values():
        extra: dict[str, object] = {} if profile.database else {"database": None}
        if profile.phases is not None:
            extra["phases"] = profile.phases
        settings.register_profile(
            profile.name,
            max_examples=profile.max_examples,
            deadline=None,
            print_blob=True,
            suppress_health_check=_SUPPRESSED,
            **extra,  # type: ignore[arg-type]
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
    _bound_shrinking(PROFILES[name].shrink_seconds)


def _bound_shrinking(seconds: int) -> None:
    # Hypothesis has no public setting for this; its engine reads the module global each time
    # it starts shrinking. Where a future version lacks it, the default cap stays.
    from hypothesis.internal.conjecture import engine

    if hasattr(engine, "MAX_SHRINKING_SECONDS"):
        engine.MAX_SHRINKING_SECONDS = seconds
