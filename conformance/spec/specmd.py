"""Generate SPEC.md from the requirement catalogue.

python -m conformance.spec            # write SPEC.md at the repository root
python -m conformance.spec --check    # exit 1 if the checked-in SPEC.md is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.spec.requirements import (
    FUNCTIONAL,
    LEVELS,
    PARITY,
    REQUIREMENTS,
    TAPE,
    Requirement,
)
from conformance.spec.tolerances import TABLE

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "SPEC.md"

_INTRO = f"""\
# Autograd conformance: requirements

Generated from `conformance/spec/requirements.py` by `python -m conformance.spec`; do not edit by
hand (a test fails when this file is stale).

Each requirement is one normative sentence. It is checked by property-based tests in `suites/`
over many generated computations; each test is decorated with `@requirement("ID")`
(`suites/requirement.py`), which marks it and makes the sentence its docstring. A requirement
applies to a backend only when the backend declares every capability it lists (see
`conformance.protocol.Capabilities`); otherwise it is reported *not applicable*, never *passed*.
Its tolerance names the rows of the table at the end that its comparisons use.

Three levels:

- **{TAPE}**: PyTorch's tape semantics (leaves, `requires_grad`, `grad_fn`, `.grad`
  accumulation, `retain_graph`, no-grad blocks).
- **{FUNCTIONAL}**: gradients as vector-Jacobian products; every engine has these.
- **{PARITY}**: the backend under test against a counterpart (`--parity-with`, e.g.
  `torch:cuda` against `torch:cpu`); listed in a report only when a counterpart is named.
"""


def _entry(req: Requirement) -> list[str]:
    caps = ", ".join(f"`{c}`" for c in req.capabilities) or "none"
    tolerances = ", ".join(f"`{t}`" for t in req.tolerances) or "none (exact or semantic check)"
    return [
        f"#### {req.id}: {req.title}",
        "",
        req.statement,
        "",
        f"- Needs: {caps}",
        f"- Tolerance: {tolerances}",
        f"- Source: {req.source}",
        "",
    ]


def _tolerances() -> list[str]:
    lines = [
        "## Tolerances",
        "",
        "A comparison passes where `|actual - expected| <= atol * scale + rtol * |expected|`, "
        "with `scale = max(1, max |expected|, M)`, M the largest magnitude the computation "
        "went through (every value and gradient on the reference engine; for finite "
        "differences, the magnitude of the differenced function). From "
        "`conformance/spec/tolerances.py`:",
        "",
        "| dtype | device | check | rtol | atol | reason |",
        "|---|---|---|---|---|---|",
    ]
    for (dtype, device, check), tol in TABLE.items():
        lines.append(
            f"| {dtype} | {device} | {check} | {tol.rtol:g} | {tol.atol:g} | {tol.reason} |"
        )
    return [*lines, ""]


def render(requirements: tuple[Requirement, ...] = REQUIREMENTS) -> str:
    lines = [_INTRO]
    for level in LEVELS:
        areas = list(dict.fromkeys(r.area for r in requirements if r.level == level))
        if not areas:
            continue
        lines += [f"## {level.capitalize()}", ""]
        for area in areas:
            lines += [f"### {area.title}", ""]
            for req in (r for r in requirements if r.area == area):
                lines += _entry(req)
    lines += _tolerances()
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.spec", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if SPEC.md is stale")
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run python -m conformance.spec", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
