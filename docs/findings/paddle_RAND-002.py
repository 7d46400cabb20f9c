"""paddle RAND-002: the BCE target's gradient is zero where finite differences give -z."""

import numpy as np
import paddle
import paddle.nn.functional as F

z = paddle.to_tensor(np.array(2.0))


def loss(target: float) -> float:
    return float(F.binary_cross_entropy_with_logits(z, paddle.to_tensor(np.array(target))))


y = paddle.to_tensor(np.array(0.0), stop_gradient=False)
out = F.binary_cross_entropy_with_logits(z, y)
eps = 1e-6
numeric = (loss(eps) - loss(-eps)) / (2 * eps)  # -z = -2
assert abs(numeric + 2.0) < 1e-6
assert out.stop_gradient, "stale: the loss now depends differentiably on the target"
print(f"DIVERGENCE RAND-002: no gradient for y; finite differences give {numeric:.6f}")
