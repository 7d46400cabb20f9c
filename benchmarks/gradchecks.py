"""Numerical gradient checks of the linear + BCE example, as the suites run them (through an
adapter, with conformance.judge.numerics) and as PyTorch runs them (torch.autograd.gradcheck)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.judge.numerics import (
    DIRECTION_SEED,
    Comparison,
    Directional,
    LinearBCE,
    central_differences,
    compare,
    directional_derivative,
    program_vjp,
    scalarised,
    unit_direction,
)
from conformance.spec.program import Program
from conformance.spec.tolerances import lookup


@dataclass(frozen=True)
class Size:
    name: str
    batch: int | None
    n_in: int
    n_out: int

    @property
    def parameters(self) -> int:
        return self.n_in * self.n_out + self.n_out


MILLION = Size("256x1024->1024", 256, 1024, 1024)
"""The issue's size: 1,049,600 parameters (W and b), float64."""
SMALL = (Size("seed 5->3", None, 5, 3), Size("16x32->16", 16, 32, 16))
"""Sizes where element-by-element central differences finish in well under a second."""


def linear_bce(size: Size, seed: int = 0) -> LinearBCE:
    """The example in float64, `z = x @ W + b`, mean reduction, hard targets."""
    rng = np.random.default_rng(seed)
    x_shape = (size.n_in,) if size.batch is None else (size.batch, size.n_in)
    z_shape = x_shape[:-1] + (size.n_out,)
    return LinearBCE(
        x=rng.standard_normal(x_shape),
        W=rng.standard_normal((size.n_in, size.n_out)) / np.sqrt(size.n_in),
        b=rng.standard_normal(size.n_out),
        y=(rng.random(z_shape) < 0.5).astype(np.float64),
        weight=None,
        pos_weight=None,
        reduction="mean",
        form="matmul",
    )


@dataclass
class Check:
    """The pieces of a gradient check of one program on one adapter, prepared once."""

    adapter: Any
    program: Program
    wrt: list[int]
    values: list[np.ndarray]

    @classmethod
    def prepare(cls, adapter: Any, case: LinearBCE) -> Check:
        program = case.program()
        wrt = [k for k, i in enumerate(program.inputs) if i.differentiable]
        return cls(adapter, program, wrt, [i.value for i in program.inputs])

    @property
    def cotangents(self) -> list[np.ndarray]:
        return [np.ones(())]  # the loss is a scalar

    def analytic(self) -> list[np.ndarray]:
        """The adapter's gradients (one forward and one backward)."""
        _, grads = program_vjp(self.adapter, self.program, self.cotangents)
        return [grads[self.program.inputs[k].name] for k in self.wrt]  # type: ignore[misc]

    def directional(self, grads: list[np.ndarray]) -> tuple[Directional, Comparison]:
        """v^T J u by central differences (two forwards) against <grads, u>, judged with the
        suites' "directional" tolerance, as suites/test_random_graphs.py does."""
        f = scalarised(self.adapter, self.program, self.cotangents)
        u = unit_direction(
            [self.values[k].shape for k in self.wrt], np.random.default_rng(DIRECTION_SEED)
        )
        result = directional_derivative(f, self.values, self.wrt, grads, u)
        comparison = compare(
            np.array(result.analytical),
            np.array(result.numerical),
            lookup("float64", "cpu", "directional"),
            scale=max(1.0, result.magnitude),
            record=False,
        )
        return result, comparison

    def directional_check(self) -> bool:
        """The whole fast-mode check: gradients from the engine, then one direction."""
        return self.directional(self.analytic())[1].ok

    def full_check(self) -> bool:
        """Element-by-element central differences (two forwards per parameter)."""
        f = scalarised(self.adapter, self.program, self.cotangents)
        numeric, magnitude = central_differences(f, self.values, self.wrt)
        tol = lookup("float64", "cpu", "finite_difference")
        return all(
            compare(a, n, tol, scale=max(1.0, magnitude), record=False).ok
            for a, n in zip(self.analytic(), numeric, strict=True)
        )

    def forward_seconds(self, repeat: int = 3) -> float:
        """The best CPU time of one forward through the adapter, as the checks call it."""
        f = scalarised(self.adapter, self.program, self.cotangents)
        best = float("inf")
        for _ in range(repeat):
            start = time.process_time()
            f(self.values)
            best = min(best, time.process_time() - start)
        return best


def single_element_resolution(check: Check, grads: list[np.ndarray]) -> dict[str, float]:
    """How small an error in one element the directional check can see at this size.

    An error d in element i moves <grads, u> by d * u_i; with the numerical noise far below the
    tolerance, the check flags it when |d u_i| exceeds the tolerance budget. Reported: the
    budget, the smallest error flagged in the most and least weighted elements, and the share of
    elements for which a sign flip (d = 2 g_i) or a dropped gradient (d = g_i) is flagged.
    """
    result, comparison = check.directional(grads)
    tol = comparison.tolerance
    budget = tol.atol * comparison.scale + tol.rtol * abs(result.numerical)
    u = unit_direction(
        [check.values[k].shape for k in check.wrt], np.random.default_rng(DIRECTION_SEED)
    )
    weights = np.concatenate([p.ravel() for p in u])
    flat = np.concatenate([np.asarray(g, np.float64).ravel() for g in grads])
    margin = budget - abs(result.analytical - result.numerical)
    return {
        "budget": budget,
        "observed_error": abs(result.analytical - result.numerical),
        "smallest_flagged_error_best_element": margin / float(weights.max()),
        "smallest_flagged_error_worst_element": margin / float(weights.min()),
        "gradient_rms": float(np.sqrt(np.mean(flat * flat))),
        "gradient_max": float(np.max(np.abs(flat))),
        "share_sign_flip_flagged": float(np.mean(np.abs(2 * flat * weights) > margin)),
        "share_dropped_flagged": float(np.mean(np.abs(flat * weights) > margin)),
    }


# -- the same function under torch.autograd.gradcheck ----------------------------------------
def torch_function(case: LinearBCE) -> tuple[Any, tuple[Any, ...]]:
    """f(W, b) = bce_with_logits(x @ W + b, y) with x and y constants, and its inputs."""
    import torch

    x, y = torch.from_numpy(case.x), torch.from_numpy(case.y)
    assert case.b is not None
    weight = torch.from_numpy(case.W.copy()).requires_grad_()
    bias = torch.from_numpy(case.b.copy()).requires_grad_()

    def f(w: Any, b: Any) -> Any:
        return torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y)

    return f, (weight, bias)


def torch_gradcheck(f: Any, inputs: tuple[Any, ...], fast_mode: bool) -> bool:
    import torch

    return bool(torch.autograd.gradcheck(f, inputs, fast_mode=fast_mode))
