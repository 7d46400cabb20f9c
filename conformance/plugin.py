"""The pytest plugin: `pytest --pyargs suites --backend torch:cpu`.

Provides the `backend` fixture (the adapter under test) and `reference` (the reference engine's
adapter), the `requirement` marker, hypothesis profiles, and turns a requirement whose capability
the backend lacks into "not applicable" (a skip whose reason starts with NOT_APPLICABLE).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance import evidence
from conformance.catalogue import BY_ID

NOT_APPLICABLE = "not applicable:"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance")
    group.addoption("--backend", default=None, help="backend under test, NAME[:DEVICE]")
    group.addoption(
        "--conformance-profile",
        default=None,
        choices=("ci", "thorough", "dev"),
        help="hypothesis profile (default: ci)",
    )
    group.addoption("--conformance-seed", type=int, default=None, help="hypothesis seed")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): conformance requirement IDs checked")
    from conformance import profiles

    profiles.register()
    profiles.load(config.getoption("--conformance-profile"), config.getoption("--conformance-seed"))


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> Any:
    from conformance.registry import BackendError, load_backend

    spec = request.config.getoption("--backend") or "reference"
    try:
        return load_backend(spec)
    except BackendError as exc:
        pytest.exit(str(exc), returncode=2)


@pytest.fixture(scope="session")
def reference() -> Any:
    from conformance.registry import load_backend

    return load_backend("reference")


def _requirement_ids(item: pytest.Item) -> list[str]:
    return [rid for mark in item.iter_markers("requirement") for rid in mark.args]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for rid in _requirement_ids(item):
            if rid not in BY_ID:
                raise pytest.UsageError(f"{item.nodeid}: unknown requirement id {rid!r}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    ids = _requirement_ids(item)
    if ids and "backend" in getattr(item, "fixturenames", ()):
        adapter = item.funcargs["backend"]  # type: ignore[attr-defined]
        for rid in ids:
            lacking = [c for c in BY_ID[rid].capabilities if not adapter.capabilities.has(c)]
            if lacking:
                notes = [adapter.capabilities.notes.get(c, "") for c in lacking]
                why = "; ".join(n for n in notes if n) or "the engine does not declare it"
                pytest.skip(f"{NOT_APPLICABLE} {rid} needs {', '.join(lacking)} ({why})")
    _count_examples(item)
    evidence.start()
    try:
        yield
    finally:
        item.stash[COLLECTED] = evidence.stop()  # type: ignore[assignment]


COLLECTED = pytest.StashKey[Any]()


def _count_examples(item: pytest.Item) -> None:
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    if handle is None or getattr(handle.inner_test, "_counted", False):
        return
    inner = handle.inner_test

    def counted(*args: Any, **kwargs: Any) -> Any:
        evidence.example()
        return inner(*args, **kwargs)

    counted._counted = True  # type: ignore[attr-defined]
    handle.inner_test = counted
