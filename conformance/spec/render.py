"""Render a program as Python source a reader can paste into a shell.

Engines with PyTorch's API (PyTorch, the reference engine) get native code: `import torch` and
the ops spelled as PyTorch spells them, so the reproducer needs nothing but the engine. Other
engines get a script that replays the program through this package's adapter for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.spec.ops import positional_params
from conformance.spec.program import Program

TORCH_DIALECTS = {
    "torch": "import torch",
    "reference": "import autograd_conformance_reference as torch",
}


def literal(array: np.ndarray) -> str:
    """A Python literal that reads back to exactly these values (repr of floats is exact)."""
    if array.dtype.kind == "f":
        return _nested_floats(array.tolist())
    return repr(array.tolist())


def _nested_floats(value: Any) -> str:
    # Built by hand: repr of a list of strings would quote the float('nan') spellings.
    if isinstance(value, list):
        return "[" + ", ".join(_nested_floats(v) for v in value) + "]"
    return _float_literal(value)


def _float_literal(value: float) -> str:
    if np.isnan(value):
        return "float('nan')"
    if np.isinf(value):
        return "float('inf')" if value > 0 else "-float('inf')"
    return repr(float(value))


def _reduction(op: str, a: list[str], p: dict[str, Any]) -> str:
    if p.get("dim") is None:
        return f"torch.{op}({a[0]})"
    dim = tuple(p["dim"]) if isinstance(p["dim"], (list, tuple)) else p["dim"]
    return f"torch.{op}({a[0]}, dim={dim!r}, keepdim={bool(p.get('keepdim'))})"


def _keywords(a: list[str], p: dict[str, Any]) -> str:
    """The optional operands present, as PyTorch's keyword arguments."""
    pairs = zip(p.get("optional", ()), a[2:], strict=True)
    return "".join(f", {name}={arg}" for name, arg in pairs)


TORCH_SPELLINGS: dict[str, Callable[[str, list[str], dict[str, Any]], str]] = {
    "sum": _reduction,
    "mean": _reduction,
    "expand": lambda op, a, p: f"{a[0]}.expand({tuple(p['shape'])!r})",
    "index": lambda op, a, p: f"{a[0]}[torch.tensor({list(p['indices'])!r}, dtype=torch.int64)]",
    "linear": lambda op, a, p: f"torch.nn.functional.linear({a[0]}, {a[1]}{_keywords(a, p)})",
    "bce_with_logits": lambda op, a, p: (
        f"torch.nn.functional.binary_cross_entropy_with_logits({a[0]}, {a[1]}, "
        f"reduction={p.get('reduction', 'mean')!r}{_keywords(a, p)})"
    ),
}
"""The ops PyTorch spells other than `torch.<name>(*operands, *params)` (the op table's default,
as for the adapters in conformance/backends/opmap.py)."""


def _torch_expr(op: str, a: list[str], p: dict[str, Any]) -> str:
    if op in TORCH_SPELLINGS:
        return TORCH_SPELLINGS[op](op, a, p)
    params = [repr(v) for v in positional_params(op, p)]
    return f"torch.{op}({', '.join([*a, *params])})"


def torch_step_lines(program: Program) -> list[str]:
    """PyTorch dialect: one line per step, then `outputs = [...]`."""
    steps = [f"{s.name} = {_torch_expr(s.op, list(s.args), dict(s.params))}" for s in program.steps]
    return [*steps, f"outputs = [{', '.join(program.outputs)}]"]


def render_program(program: Program, backend: str, device: str = "cpu") -> str:
    """Source that builds the program's tensors and outputs as local variables.

    The inputs are named after the program's inputs, the outputs are in `outputs`. For a
    backend without a native dialect the source defines `adapter` too.
    """
    if backend in TORCH_DIALECTS:
        device_arg = "" if device == "cpu" else f", device={device!r}"
        lines = [TORCH_DIALECTS[backend]]
        for i in program.inputs:
            grad = ", requires_grad=True" if i.requires_grad else ""
            data = tuple(i.value.shape) if i.value.size == 0 else literal(i.value)
            maker = "zeros" if i.value.size == 0 else "tensor"
            lines.append(
                f"{i.name} = torch.{maker}({data}, dtype=torch.{i.value.dtype.name}"
                f"{device_arg}{grad})"
            )
        return "\n".join(lines + torch_step_lines(program))
    label = backend if device is None else f"{backend}:{device}"
    return "\n".join(
        [
            "from conformance.spec.program import Program",
            "from conformance.backends.registry import load_backend",
            f"adapter = load_backend({label!r})",
            f"program = Program.from_json({program.to_json()!r})",
            "tensors = program.make_inputs(adapter)",
            *(f"{i.name} = tensors[{n}]" for n, i in enumerate(program.inputs)),
            "outputs = program.output_tensors(adapter, tensors)",
        ]
    )
