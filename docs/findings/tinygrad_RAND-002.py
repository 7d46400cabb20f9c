"""tinygrad RAND-002: for scalars x0 = x1 = 1.0, d(x1 + x0)/dx0 is 2; finite differences give 1."""

import numpy as np
from tinygrad import Tensor


def forward(a: float, b: float) -> float:
    return (Tensor(np.array(b)) + Tensor(np.array(a))).item()


x0, x1 = Tensor(np.array(1.0)), Tensor(np.array(1.0))
(g0,) = (x1 + x0).gradient(x0)
eps = 1e-6
numeric = (forward(1.0 + eps, 1.0) - forward(1.0 - eps, 1.0)) / (2 * eps)
assert abs(numeric - 1.0) < 1e-8
# Equal scalars are one CONST UOp (see tinygrad_RAND-001.py), so x1 counts as a second x0.
assert g0.item() == 2.0, "stale: the analytic gradient is 1 now"
print(f"DIVERGENCE RAND-002: d(x1 + x0)/dx0 = {g0.item()}, central differences {numeric:.6f}")
