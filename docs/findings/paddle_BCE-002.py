"""paddle BCE-002: linear + BCE with a logit of exactly 0: db disagrees with finite differences."""

import numpy as np
import paddle
import paddle.nn.functional as F

x = np.array([[1.0, 2.0]])
W = np.array([[0.0, 0.0]])  # (out, in): z = x @ W.T + b = 0 exactly
b = np.array([0.0])
y = np.array([[0.0]])


def loss(bias: np.ndarray) -> float:
    z = paddle.to_tensor(x) @ paddle.to_tensor(W).T + paddle.to_tensor(bias)
    return float(F.binary_cross_entropy_with_logits(z, paddle.to_tensor(y)))


bt = paddle.to_tensor(b, stop_gradient=False)
z = paddle.to_tensor(x) @ paddle.to_tensor(W).T + bt
F.binary_cross_entropy_with_logits(z, paddle.to_tensor(y)).backward()
eps = 1e-6
numeric = (loss(b + eps) - loss(b - eps)) / (2 * eps)  # sigmoid(0) - y = 0.5
assert abs(numeric - 0.5) < 1e-8
assert abs(float(bt.grad[0]) + 0.5) < 1e-12, "stale: the analytic gradient at z=0 is fixed"
print(f"DIVERGENCE BCE-002: db = {float(bt.grad[0])}, central differences give {numeric:.10f}")
