"""paddle BCE-001: linear + BCE vs the closed form: no gradient for y, and db wrong at z = 0."""

import numpy as np
import paddle
import paddle.nn.functional as F

x = paddle.to_tensor(np.array([[0.5, -1.0]]))
W = paddle.to_tensor(np.array([[1.0, 2.0]]), stop_gradient=False)
b = paddle.to_tensor(np.array([0.25]), stop_gradient=False)
y = paddle.to_tensor(np.array([[0.3]]), stop_gradient=False)  # a soft target requiring grad
z = x @ W.T + b
F.binary_cross_entropy_with_logits(z, y).backward()
# Closed form (PyTorch): dL/dy = -z / N = [[1.25]].
assert W.grad is not None and b.grad is not None
assert y.grad is None, "stale: paddle now differentiates the target"
# Second cause (BCE-005): with z = x @ W.T + b exactly 0, db is -0.5 where the closed form
# (sigmoid(0) - y) / N gives +0.5.
b0 = paddle.to_tensor(np.array([0.0]), stop_gradient=False)
z0 = x @ paddle.to_tensor(np.array([[0.0, 0.0]])).T + b0
F.binary_cross_entropy_with_logits(z0, paddle.to_tensor(np.array([[0.0]]))).backward()
assert float(b0.grad[0]) == -0.5, "stale: the gradient at a zero logit is fixed"
print(f"DIVERGENCE BCE-001: y.grad is None (closed form -z/N = {-z.numpy()}); db at z=0 is -0.5")
