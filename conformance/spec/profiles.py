"""Hypothesis profiles, one row each: `ci` (deterministic, bounded, fast), `thorough`, `dev`.

Each is registered with hypothesis as `conformance-NAME` and loaded only for a conformance
session (the plugin's `activate`), never for another project's tests. The profile name and seed
go into every report, so a run can be repeated exactly. The `--profile` option of
`conformance run` and the plugin's `--conformance-profile` take their choices from here
(conformance/run/options.py).

Precedence in a conformance session: hypothesis's own `--hypothesis-profile` and
`--hypothesis-seed`, given explicitly, win over the conformance profile and seed (and are
recorded in the report); `--conformance-db DIR` adds an example database to whichever applies.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Hypothesis is imported only where a profile is registered or loaded: `conformance --help`
# reads the profile names from here and should not pay for it.


@dataclass(frozen=True)
class Profile:
    name: str
    max_examples: int
    shrink_seconds: int
    """Wall-clock cap on shrinking one failure. Hypothesis stops after 300 s by default; a broken
    engine fails many tests, and `ci` must stay bounded. A cap changes how small the reported
    counterexample is, never whether a failure is reported."""
    database: bool = False
    """Whether hypothesis keeps failing examples between runs in its default place (only where a
    developer iterates); `--conformance-db DIR` gives any profile a database."""
    phases: tuple[str, ...] | None = None
    """Names of hypothesis `Phase`s; None: hypothesis's default phases."""

    @property
    def hypothesis_name(self) -> str:
        """The name it is registered under with hypothesis (`--hypothesis-profile` takes it)."""
        return HYPOTHESIS_PREFIX + self.name


HYPOTHESIS_PREFIX = "conformance-"
PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        # No reuse (no database) and no targeting: the same seed draws the same examples.
        Profile("ci", 25, 30, phases=("explicit", "generate", "shrink", "explain")),
        Profile("thorough", 400, 300),
        Profile("dev", 10, 10, database=True),
    )
}
DEFAULT_PROFILE = "ci"
DEFAULT_SEED = 20261126

_SUPPRESSED = ("too_slow", "data_too_large", "filter_too_much")

active: dict[str, str | int] = {"profile": DEFAULT_PROFILE, "seed": DEFAULT_SEED}
"""What the running conformance session uses, for its report."""


def register() -> None:
    """Registers every profile with hypothesis under its `conformance-` name; loads none."""
    from hypothesis import HealthCheck, Phase, settings

    for profile in PROFILES.values():
        extra: dict[str, object] = {} if profile.database else {"database": None}
        if profile.phases is not None:
            extra["phases"] = tuple(Phase[name] for name in profile.phases)
        settings.register_profile(
            profile.hypothesis_name,
            # Built on hypothesis's own defaults, not on whatever profile is loaded: under a CI
            # variable hypothesis loads its derandomized `ci` profile, and the conformance seed
            # must decide the draws there as everywhere (a report must not depend on `CI`).
            parent=settings.get_profile("default"),
            derandomize=False,
            max_examples=profile.max_examples,
            deadline=None,
            print_blob=True,
            suppress_health_check=[HealthCheck[name] for name in _SUPPRESSED],
            **extra,
        )


def activate(
    profile: str | None,
    seed: int | None,
    database: Path | None = None,
    *,
    user_profile: str | None = None,
    user_seed: object = None,
) -> Callable[[], None]:
    """Loads the conformance profile and seeds hypothesis for one session; returns what undoes it.

    `user_profile`/`user_seed`: hypothesis's own options where given explicitly; they win (the
    hypothesis plugin has already applied them), and `database` (a folder) replaces the
    profile's database. Hypothesis uses no database under a forced seed, `--hypothesis-seed`
    included, so where the profile has a database the seed seeds each test's seed instead."""
    from hypothesis import Phase, settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    undo = _state()
    register()
    if user_profile:
        base = user_profile
        name = user_profile.removeprefix(HYPOTHESIS_PREFIX)
        if name not in PROFILES or user_profile == name:
            name = user_profile  # not one of ours: the report names hypothesis's profile
    else:
        name = profile or DEFAULT_PROFILE
        base = PROFILES[name].hypothesis_name
    if name in PROFILES and base.startswith(HYPOTHESIS_PREFIX):
        _bound_shrinking(PROFILES[name].shrink_seconds)
    if database is not None:
        # Reuse replays the saved examples first; `ci` leaves it out only for want of a database.
        parent = settings.get_profile(base)
        phases = tuple(parent.phases)
        base = f"{base}-with-database"
        settings.register_profile(
            base,
            parent=parent,
            database=DirectoryBasedExampleDatabase(str(database)),
            phases=phases if Phase.reuse in phases else (Phase.reuse, *phases),
        )
    settings.load_profile(base)
    active["profile"] = name
    if user_seed is not None:
        try:
            active["seed"] = int(str(user_seed))
        except ValueError:
            raise ValueError(
                f"--hypothesis-seed {user_seed!r}: a conformance report records an integer seed"
            ) from None
    else:
        active["seed"] = DEFAULT_SEED if seed is None else seed
        _seed(int(active["seed"]), forced=settings().database is None)
    return undo


def _seed(seed: int, *, forced: bool) -> None:
    import hypothesis.core

    if forced:
        # Every test draws from this seed, so `ci` is deterministic and `--seed N` reproduces a
        # run (hypothesis's --hypothesis-seed does the same).
        hypothesis.core.global_force_seed = seed  # type: ignore[assignment]
        return
    # Hypothesis ignores the database under a forced seed, so with one each test's seed comes
    # from a generator seeded here instead: the same tests in the same order draw the same
    # examples, after replaying what the database holds. Where a future hypothesis lacks this
    # generator, the draws are random and the database still works.
    threadlocal = getattr(hypothesis.core, "threadlocal", None)
    if threadlocal is not None and hasattr(threadlocal, "_hypothesis_global_random"):
        threadlocal._hypothesis_global_random = random.Random(seed)


def _state() -> Callable[[], None]:
    """What `activate` changes, as a function that puts it back (for in-process pytest runs)."""
    import hypothesis.core
    from hypothesis import settings
    from hypothesis.internal.conjecture import engine

    profile = settings.get_current_profile_name()
    seed = hypothesis.core.global_force_seed
    threadlocal = getattr(hypothesis.core, "threadlocal", None)
    generator = getattr(threadlocal, "_hypothesis_global_random", None)
    shrinking = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    recorded = dict(active)

    def undo() -> None:
        settings.load_profile(profile)
        hypothesis.core.global_force_seed = seed
        if threadlocal is not None and hasattr(threadlocal, "_hypothesis_global_random"):
            threadlocal._hypothesis_global_random = generator
        if shrinking is not None:
            engine.MAX_SHRINKING_SECONDS = shrinking
        active.update(recorded)

    return undo


def _bound_shrinking(seconds: int) -> None:
    # Hypothesis has no public setting for this; its engine reads the module global each time
    # it starts shrinking. Where a future version lacks it, the default cap stays.
    from hypothesis.internal.conjecture import engine

    if hasattr(engine, "MAX_SHRINKING_SECONDS"):
        engine.MAX_SHRINKING_SECONDS = seconds
