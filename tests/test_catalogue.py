"""The requirement catalogue: well-formed, SPEC.md current, and tied one-to-one to suite tests,
whose markers and docstrings come from the catalogue (suites/requirement.py)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from typing import Any

import pytest

import autograd_conformance_suites as suites
from autograd_conformance_suites.requirement import requirement
from conformance.protocol import Capabilities
from conformance.spec import specmd as spec
from conformance.spec.requirements import BY_ID, LEVELS, PARITY, REQUIREMENTS, TAPE
from conformance.spec.tolerances import CHECKS

ID_PATTERN = re.compile(r"^[A-Z]+-\d{3}$")


def suite_tests() -> list[tuple[str, Callable[..., Any], list[str]]]:
    """(qualified name, function, requirement ids) of every test in the suites package and its
    subpackages (opt-in suites such as parity included)."""
    found: list[tuple[str, Callable[..., Any], list[str]]] = []
    for info in pkgutil.walk_packages(suites.__path__, suites.__name__ + "."):
        if not info.name.rpartition(".")[2].startswith("test_"):
            continue
        module = importlib.import_module(info.name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("test_") or fn.__module__ != module.__name__:
                continue
            marks = getattr(fn, "pytestmark", [])
            ids = [rid for m in marks if m.name == "requirement" for rid in m.args]
            found.append((f"{info.name}.{name}", fn, ids))
    return found


def test_spec_md_is_current() -> None:
    assert spec.main(["--check"]) == 0, "SPEC.md is stale: run python -m conformance.spec"


def test_spec_check_flags_a_stale_file(tmp_path: Any) -> None:
    stale = tmp_path / "SPEC.md"
    stale.write_text(spec.render().replace("MUST", "SHOULD", 1), encoding="utf-8")
    assert spec.main(["--check", "--path", str(stale)]) == 1
    assert spec.main(["--path", str(stale)]) == 0
    assert spec.main(["--check", "--path", str(stale)]) == 0


def test_spec_lists_every_requirement() -> None:
    text = spec.render()
    for req in REQUIREMENTS:
        assert f"#### {req.id}: {req.title}" in text
        assert req.statement in text
    for title in {req.area.title for req in REQUIREMENTS}:
        assert f"\n### {title}\n" in text


def test_areas_have_distinct_titles() -> None:
    areas = {req.area for req in REQUIREMENTS}
    assert len({area.title for area in areas}) == len(areas), "two areas share a SPEC.md section"


@pytest.mark.parametrize("req", REQUIREMENTS, ids=lambda r: r.id)
def test_requirement_is_well_formed(req: Any) -> None:
    assert ID_PATTERN.match(req.id), req.id
    assert "MUST" in req.statement
    assert req.statement.endswith(".") and req.statement.count(". ") == 0, "one sentence"
    assert req.level in LEVELS
    assert req.source.strip()
    unknown = [key for key in req.tolerances if key not in CHECKS]
    assert not unknown, f"{req.id}: tolerance keys not in conformance.spec.tolerances: {unknown}"
    caps = Capabilities()
    for capability in req.capabilities:
        caps.has(capability)  # raises AttributeError for a name Capabilities does not know
    # Tape-level requirements need the tape; functional ones must apply without it. (Parity
    # requirements may be of either kind.)
    if req.level != PARITY:
        assert ("tape" in req.capabilities) == (req.level == TAPE), req.id


def test_every_suite_test_names_one_known_requirement_and_states_it() -> None:
    tests = suite_tests()
    assert tests, "no suite tests found"
    for qualified, fn, ids in tests:
        assert len(ids) == 1, f"{qualified} names {ids}; one requirement per test"
        assert ids[0] in BY_ID, f"{qualified} names unknown requirement {ids[0]}"
        doc = " ".join((fn.__doc__ or "").split())
        assert doc == BY_ID[ids[0]].statement, f"{qualified}: docstring is not the statement"


def test_every_requirement_is_checked_by_a_suite_test() -> None:
    used = {rid for _, _, ids in suite_tests() for rid in ids}
    assert not set(BY_ID) - used, f"requirements without a test: {sorted(set(BY_ID) - used)}"


def test_by_id_indexes_the_catalogue_in_order() -> None:
    assert len(REQUIREMENTS) == len(BY_ID) >= 30
    assert [r.id for r in REQUIREMENTS] == list(BY_ID)


def test_decorator_marks_the_test_and_states_the_requirement() -> None:
    rid = REQUIREMENTS[0].id

    @requirement(rid)
    def test_example() -> None:
        pass

    marks = [(m.name, m.args) for m in getattr(test_example, "pytestmark", [])]
    assert marks == [("requirement", (rid,))]
    assert test_example.__doc__ == BY_ID[rid].statement


def test_decorator_refuses_an_unknown_id_and_a_hand_written_docstring() -> None:
    with pytest.raises(LookupError, match="NOPE-001"):
        requirement("NOPE-001")

    def test_documented() -> None:
        """A copy of the statement that could drift from the catalogue."""

    with pytest.raises(TypeError, match="docstring"):
        requirement(REQUIREMENTS[0].id)(test_documented)
