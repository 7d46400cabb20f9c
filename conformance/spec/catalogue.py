"""The requirement catalogue: what an engine must do, one normative sentence per requirement.

This module is data. SPEC.md is generated from it (`python -m conformance.spec`), and every suite
test names the requirement(s) it checks with `@pytest.mark.requirement("ID")`; its docstring is
the requirement's statement.
"""

from __future__ import annotations

from dataclasses import dataclass

TAPE = "tape semantics"
FUNCTIONAL = "functional gradients"
PARITY = "device parity"
"""Requirements judged against a counterpart backend (`--parity-with`), e.g. CUDA against CPU;
they appear in a report only when the run names a counterpart."""


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    statement: str
    """One normative sentence (MUST / MUST NOT)."""
    capabilities: tuple[str, ...]
    """Capabilities (see conformance.protocol.Capabilities.has) the engine needs for it to apply."""
    level: str
    """TAPE, FUNCTIONAL or PARITY."""
    source: str
    """The PyTorch behaviour or documentation it encodes."""


REQUIREMENTS: tuple[Requirement, ...] = ()
"""Filled in by the suites' authors; ordered as SPEC.md lists them."""

BY_ID: dict[str, Requirement] = {}


def register(*requirements: Requirement) -> None:
    global REQUIREMENTS
    for req in requirements:
        if req.id in BY_ID:
            raise ValueError(f"duplicate requirement id {req.id}")
        BY_ID[req.id] = req
    REQUIREMENTS = REQUIREMENTS + requirements


# The data lives in its own module; importing the catalogue fills REQUIREMENTS and BY_ID.
from conformance.spec import requirements as _requirements  # noqa: E402,F401
