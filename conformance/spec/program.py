"""Programs: backend-neutral computations that any adapter can execute, serialise and render.

A program is a list of inputs (NumPy values with a requires_grad flag), a list of op applications
in topological order (each naming its operands, so one value can feed several ops), and the names
of its outputs. The suites draw programs, run them on the backend under test and on the reference
engine, and put the shrunk failing program into the report, both as JSON and as Python source that
reproduces it with nothing but the engine installed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.spec.ops import OPS

SCHEMA_TAG = "autograd-conformance/program@1"


@dataclass(frozen=True)
class Input:
    name: str
    value: np.ndarray
    requires_grad: bool = False

    @property
    def differentiable(self) -> bool:
        return self.requires_grad and self.value.dtype.kind == "f"


@dataclass(frozen=True)
class Apply:
    name: str
    op: str
    args: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Program:
    inputs: tuple[Input, ...]
    steps: tuple[Apply, ...]
    outputs: tuple[str, ...]

    def __post_init__(self) -> None:
        defined = {i.name for i in self.inputs}
        for step in self.steps:
            row = OPS.get(step.op)
            if row is None:
                raise ValueError(f"program: unknown op {step.op!r} in step {step.name!r}")
            takes = row.operands + len(step.params.get("optional", ()))
            if len(step.args) != takes:
                raise ValueError(
                    f"program: step {step.name!r} gives {step.op} {len(step.args)} operands, "
                    f"it takes {takes}"
                )
            undefined = [a for a in step.args if a not in defined]
            if undefined:
                raise ValueError(f"program: step {step.name!r} uses undefined {undefined}")
            defined.add(step.name)
        missing = [o for o in self.outputs if o not in defined]
        if missing:
            raise ValueError(f"program: outputs {missing} are not defined")

    # -- execution ----------------------------------------------------------------------------
    @property
    def ops(self) -> frozenset[str]:
        return frozenset(step.op for step in self.steps)

    @property
    def dtypes(self) -> frozenset[str]:
        return frozenset(i.value.dtype.name for i in self.inputs if i.value.dtype.kind == "f")

    def make_inputs(self, adapter: Any) -> list[Any]:
        """Input tensors on the adapter, leaves with the program's requires_grad flags."""
        return [adapter.tensor(i.value, requires_grad=i.requires_grad) for i in self.inputs]

    def evaluate(self, adapter: Any, tensors: Sequence[Any]) -> dict[str, Any]:
        """Every value of the program, by name, computed from the given input tensors."""
        env = {i.name: t for i, t in zip(self.inputs, tensors, strict=True)}
        for step in self.steps:
            env[step.name] = adapter.apply(step.op, [env[a] for a in step.args], step.params)
        return env

    def output_tensors(self, adapter: Any, tensors: Sequence[Any]) -> list[Any]:
        env = self.evaluate(adapter, tensors)
        return [env[o] for o in self.outputs]

    def vjp(
        self, adapter: Any, cotangents: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """Outputs, and the gradient of sum(output * cotangent) w.r.t. each input that requires
        grad (None for the others).

        Inputs that do not require grad (targets, BCE weights) enter as constants, as a user who
        never asked for their gradient passes them: PyTorch refuses a gradient for BCE's weight.
        """
        wrt = [n for n, i in enumerate(self.inputs) if i.differentiable]

        def fn(tensors: Sequence[Any]) -> list[Any]:
            given = dict(zip(wrt, tensors, strict=True))
            full = [
                given[n] if n in given else adapter.tensor(i.value)
                for n, i in enumerate(self.inputs)
            ]
            return self.output_tensors(adapter, full)

        outputs, grads = adapter.vjp(fn, [self.inputs[n].value for n in wrt], cotangents)
        by_input = dict(zip(wrt, grads, strict=True))
        return list(outputs), [by_input.get(n) for n in range(len(self.inputs))]

    def forward(self, adapter: Any, values: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        """Output values as NumPy arrays, computed without gradients."""
        arrays = [i.value for i in self.inputs] if values is None else values
        tensors = [adapter.tensor(np.asarray(v)) for v in arrays]
        return [adapter.to_numpy(t) for t in self.output_tensors(adapter, tensors)]

    def with_values(self, values: Sequence[np.ndarray]) -> Program:
        inputs = tuple(
            Input(i.name, np.asarray(v), i.requires_grad)
            for i, v in zip(self.inputs, values, strict=True)
        )
        return Program(inputs, self.steps, self.outputs)

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SCHEMA_TAG,
            "inputs": [
                {"name": i.name, "requires_grad": i.requires_grad, **encode_array(i.value)}
                for i in self.inputs
            ],
            "steps": [
                {"name": s.name, "op": s.op, "args": list(s.args), "params": dict(s.params)}
                for s in self.steps
            ],
            "outputs": list(self.outputs),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Program:
        if data.get("format") != SCHEMA_TAG:
            raise ValueError(f"not a program of format {SCHEMA_TAG}: {data.get('format')!r}")
        return cls(
            inputs=tuple(
                Input(d["name"], decode_array(d), bool(d["requires_grad"])) for d in data["inputs"]
            ),
            steps=tuple(
                Apply(s["name"], s["op"], tuple(s["args"]), _freeze(s["params"]))
                for s in data["steps"]
            ),
            outputs=tuple(data["outputs"]),
        )

    @classmethod
    def from_json(cls, text: str) -> Program:
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Program) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())


def _freeze(params: Mapping[str, Any]) -> dict[str, Any]:
    # JSON turns tuples into lists; params compare equal either way, so keep lists.
    return dict(params)


_NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """Lossless JSON form: float32 and float64 values survive the round trip bit for bit
    (Python's float repr is the shortest string that reads back exactly); non-finite values
    become strings, since JSON has no NaN."""
    flat = array.reshape(-1).tolist()
    if array.dtype.kind == "f":
        flat = [v if np.isfinite(v) else str(v) for v in flat]
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": flat}


def decode_array(data: Mapping[str, Any]) -> np.ndarray:
    flat = [_NONFINITE.get(v, v) if isinstance(v, str) else v for v in data["data"]]
    return np.array(flat, dtype=data["dtype"]).reshape(data["shape"])
