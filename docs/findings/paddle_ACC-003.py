"""paddle ACC-003: two backward calls through BCE never give the target a gradient to add."""

import numpy as np
import paddle
import paddle.nn.functional as F

z = paddle.to_tensor(np.array(0.5))
y = paddle.to_tensor(np.array(0.0), stop_gradient=False)
for _ in range(2):
    loss = F.binary_cross_entropy_with_logits(z, y)
    if not loss.stop_gradient:
        loss.backward()
# PyTorch: y.grad = 2 * (-z) = -1.0 after the two backward calls.
assert y.grad is None, "stale"
print("DIVERGENCE ACC-003: after two BCE losses y.grad is None (PyTorch: -1.0)")
