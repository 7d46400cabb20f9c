"""paddle BCE-001: no gradient reaches the target y of linear + BCE-with-logits."""

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
print(f"DIVERGENCE BCE-001: y.grad is None; closed form dL/dy = -z/N = {-z.numpy()}")
