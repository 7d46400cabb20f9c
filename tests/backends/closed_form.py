"""The linear + BCE-with-logits example and its closed-form gradients, shared by the adapter tests.

Closed form (docs semantics §4): with z = x @ W.T + b and the mean of the per-element loss over
N elements, dL/dz = w * ((pw*y + 1 - y) * sigmoid(z) - pw*y) / N, which is (sigmoid(z) - y) / N
without weight and pos_weight; dW = dz.T @ x (W is (out, in), as in the op set) and db is dz
summed over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TOLERANCES = {
    # Closed form in float64 NumPy against the engine in float64: a handful of roundings.
    "float64": {"rtol": 1e-12, "atol": 1e-15},
    # float32 (eps 1.2e-7) through about ten ops on values of order one.
    "float32": {"rtol": 1e-5, "atol": 1e-6},
}


@dataclass(frozen=True)
class Example:
    x: np.ndarray
    W: np.ndarray
    b: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None = None
    pos_weight: np.ndarray | None = None
    reduction: str = "mean"

    def operands(self) -> tuple[list[np.ndarray], list[str]]:
        """The BCE op's extra operands and their names, as a program passes them."""
        extra = [(n, v) for n, v in (("weight", self.weight), ("pos_weight", self.pos_weight))]
        present = [(n, v) for n, v in extra if v is not None]
        return [v for _, v in present], [n for n, _ in present]


def example(
    dtype: str = "float64",
    batch: int = 4,
    features_in: int = 3,
    features_out: int = 2,
    seed: int = 0,
    weighted: bool = False,
    reduction: str = "mean",
) -> Example:
    rng = np.random.default_rng(seed)

    def draw(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
        return rng.uniform(low, high, size=shape).astype(dtype)

    return Example(
        x=draw(batch, features_in),
        W=draw(features_out, features_in),
        b=draw(features_out),
        y=draw(batch, features_out, low=0.0, high=1.0),  # soft targets
        weight=draw(features_out, low=0.5, high=2.0) if weighted else None,
        pos_weight=draw(features_out, low=0.5, high=3.0) if weighted else None,
        reduction=reduction,
    )


def closed_form(ex: Example) -> dict[str, np.ndarray]:
    """dL/dz, dL/dW and dL/db in float64."""
    x, W, b, y = (np.asarray(v, np.float64) for v in (ex.x, ex.W, ex.b, ex.y))
    z = x @ W.T + b
    pw = 1.0 if ex.pos_weight is None else np.asarray(ex.pos_weight, np.float64)
    w = 1.0 if ex.weight is None else np.asarray(ex.weight, np.float64)
    dz = w * ((pw * y + 1.0 - y) / (1.0 + np.exp(-z)) - pw * y)
    if ex.reduction == "mean":
        dz = dz / z.size
    return {"z": dz, "W": dz.T @ x, "b": dz.sum(axis=0)}


def forward(adapter: Any, ex: Example, tensors: list[Any]) -> Any:
    """The loss, from tensors for (x, W, b, y, *extra operands) on `adapter`."""
    extra_values, names = ex.operands()
    z = adapter.apply("linear", tensors[:3], {"optional": ["bias"]})
    return adapter.apply(
        "bce_with_logits",
        [z, tensors[3], *tensors[4 : 4 + len(extra_values)]],
        {"reduction": ex.reduction, "optional": names},
    )


def vjp_gradients(adapter: Any, ex: Example) -> dict[str, np.ndarray | None]:
    """dL/dW and dL/db through the adapter's functional VJP (cotangent: ones)."""
    extra, _ = ex.operands()
    primals = [ex.x, ex.W, ex.b, ex.y, *extra]
    loss_shape = ex.y.shape if ex.reduction == "none" else ()
    cotangent = np.ones(loss_shape, dtype=ex.x.dtype)
    _, grads = adapter.vjp(lambda ts: [forward(adapter, ex, list(ts))], primals, [cotangent])
    return {"x": grads[0], "W": grads[1], "b": grads[2]}


def present(array: np.ndarray | None) -> np.ndarray:
    """The array, asserting the engine gave one (None means no gradient reached the input)."""
    assert array is not None, "no gradient"
    return array


def assert_matches_closed_form(ex: Example, grads: dict[str, Any]) -> None:
    expected = closed_form(ex)
    tol = TOLERANCES[ex.x.dtype.name]
    for name in ("W", "b"):
        got = present(grads[name])
        assert got.shape == expected[name].shape
        np.testing.assert_allclose(
            got, expected[name], rtol=tol["rtol"], atol=tol["atol"], err_msg=f"d loss / d {name}"
        )
