"""The workloads, each written once against PyTorch's Python API and run with the module swapped
(`torch` or `reference_engine`), so that the only difference between the two timings is the
engine.

- the linear + BCE-with-logits example (docs/pytorch-example.md), forward and backward, at the
  tutorial's size and at a 256 x 1024 -> 256 layer;
- a 200-op random program drawn, with a fixed seed, from the suites' own program strategy, run
  through the adapters exactly as the suites run programs.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from conformance.spec.program import Program

ENGINE_MODULES = {"reference": "autograd_conformance_reference", "torch": "torch"}
"""Engine name in the benchmark ids -> the module that provides PyTorch's API."""


def engine_module(engine: str) -> ModuleType:
    import importlib

    return importlib.import_module(ENGINE_MODULES[engine])


# -- linear + BCE-with-logits ------------------------------------------------------------------
@dataclass(frozen=True)
class LayerCase:
    """`z = x @ W + b; loss = bce_with_logits(z, y)`; `batch` None is the tutorial's 1-D x."""

    name: str
    batch: int | None
    n_in: int
    n_out: int
    dtype: str
    target: float
    """The largest acceptable time ratio reference / torch (issue 8)."""

    @property
    def parameters(self) -> int:
        return self.n_in * self.n_out + self.n_out


LAYER_CASES = (
    LayerCase("seed 5->3 float32", None, 5, 3, "float32", 1.0),
    LayerCase("seed 5->3 float64", None, 5, 3, "float64", 1.0),
    LayerCase("256x1024->256 float32", 256, 1024, 256, "float32", 1.5),
    LayerCase("256x1024->256 float64", 256, 1024, 256, "float64", 1.5),
)


def layer_arrays(case: LayerCase, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs of one layer: the tutorial's x = ones, y = zeros at the seed size; random x and
    hard 0/1 targets for the batched layer. W is scaled by 1/sqrt(n_in) so logits stay O(1)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(case.dtype)
    if case.batch is None:
        x = np.ones(case.n_in)
        y = np.zeros(case.n_out)
    else:
        x = rng.standard_normal((case.batch, case.n_in))
        y = (rng.random((case.batch, case.n_out)) < 0.5).astype(np.float64)
    weight = rng.standard_normal((case.n_in, case.n_out)) / np.sqrt(case.n_in)
    bias = rng.standard_normal(case.n_out)
    return {k: v.astype(dtype) for k, v in {"x": x, "W": weight, "b": bias, "y": y}.items()}


def layer_tensors(m: ModuleType, arrays: dict[str, np.ndarray]) -> tuple[Any, Any, Any, Any]:
    """x, W, b, y as tensors of module `m`; W and b are leaves that require grad."""
    return (
        m.tensor(arrays["x"]),
        m.tensor(arrays["W"], requires_grad=True),
        m.tensor(arrays["b"], requires_grad=True),
        m.tensor(arrays["y"]),
    )


def layer_step(m: ModuleType, x: Any, W: Any, b: Any, y: Any) -> Any:  # noqa: N803
    """One training step's autograd work, as the tutorial writes it: forward, then backward into
    fresh .grad (set to None first, as `zero_grad(set_to_none=True)` does)."""
    W.grad = None
    b.grad = None
    z = m.matmul(x, W) + b
    loss = m.nn.functional.binary_cross_entropy_with_logits(z, y)
    loss.backward()
    return loss


# -- a 200-op random program ----------------------------------------------------------------------
PROGRAM_STEPS = 200
PROGRAM_SEED = 8
PROGRAM_MIN_OPS = 18
"""The first drawn program using at least this many of the op set's 22 ops is taken, so the
graph exercises the whole engine rather than the strategy's simplest (all-`add`) draw."""


def draw_program(steps: int = PROGRAM_STEPS, seed: int = PROGRAM_SEED) -> Program:
    """A fixed program from `suites.strategies.programs`: `steps` ops, every input requiring
    grad, float64 (the strategy's default dtype). Deterministic for a given hypothesis version and
    strategy; `program_facts` records a digest so a changed draw shows in the results."""
    from hypothesis import HealthCheck, Phase, find, settings

    from autograd_conformance_suites.strategies import programs

    def rich(program: Program) -> bool:
        return len(program.steps) == steps and len(program.ops) >= PROGRAM_MIN_OPS

    return find(
        programs(min_steps=steps, max_steps=steps, requires_grad=True),
        rich,
        settings=settings(
            phases=[Phase.generate],
            max_examples=200,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
        random=random.Random(seed),
    )


def program_facts(program: Program) -> dict[str, Any]:
    counts = Counter(step.op for step in program.steps)
    return {
        "steps": len(program.steps),
        "inputs": len(program.inputs),
        "outputs": len(program.outputs),
        "ops": dict(sorted(counts.items())),
        "largest_value": max(int(i.value.size) for i in program.inputs),
        "sha256": hashlib.sha256(program.to_json().encode()).hexdigest()[:16],
    }


@dataclass
class ProgramRun:
    """A program's leaves and cotangents on one adapter, made once; `step` is what is timed."""

    adapter: Any
    program: Program
    leaves: list[Any]
    wanted: list[Any]
    cotangents: list[Any]

    @classmethod
    def prepare(cls, adapter: Any, program: Program, seed: int = 0) -> ProgramRun:
        rng = np.random.default_rng(seed)
        leaves = program.make_inputs(adapter)
        outputs = _float_outputs(adapter, program, leaves)
        cotangents = [
            adapter.tensor(rng.uniform(-1.0, 1.0, tuple(o.shape)).astype(adapter.dtype(o)))
            for o in outputs
        ]
        wanted = [leaf for leaf in leaves if leaf.requires_grad]
        return cls(adapter, program, leaves, wanted, cotangents)

    def step(self) -> Any:
        """Forward through the adapter (as the suites do), then one `autograd.grad` over every
        float output with its cotangent, w.r.t. every input that requires grad (BCE's weights
        never do)."""
        outputs = _float_outputs(self.adapter, self.program, self.leaves)
        return self.adapter.m.autograd.grad(
            outputs, self.wanted, grad_outputs=self.cotangents, allow_unused=True
        )


def _float_outputs(adapter: Any, program: Program, leaves: list[Any]) -> list[Any]:
    return [o for o in program.output_tensors(adapter, leaves) if o.requires_grad]


def adapter_for(engine: str) -> Any:
    if engine == "reference":
        from conformance.backends.reference import ReferenceAdapter

        return ReferenceAdapter()
    from conformance.backends.torch import TorchAdapter

    return TorchAdapter("cpu")
