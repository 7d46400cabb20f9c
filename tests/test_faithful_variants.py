"""No false failures on engines built differently from PyTorch where no requirement says how
(tests/faithful_variants.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutants.runs import Case, run_case

VARIANTS = {
    # Before GRAPH-002 keyed leaves by object, every fresh constant leaf was "<a tensor not in
    # the program>", one leaf reached through several accumulate nodes: a false failure.
    "FreshConstantLeaves": ("GRAPH-002",),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_faithful_variant_passes_the_requirements_it_concerns(name: str, tmp_path: Path) -> None:
    run = run_case(Case(f"tests.faithful_variants:{name}", VARIANTS[name]), tmp_path)
    for rid in VARIANTS[name]:
        assert run.verdict(rid) == "passed", run.describe(rid)
