"""paddle BCE-003: the target's gradient is missing where the reference engine gives -z/N."""

import numpy as np
import paddle
import paddle.nn.functional as F

z = paddle.to_tensor(np.array(1.5), stop_gradient=False)
y = paddle.to_tensor(np.array(0.25), stop_gradient=False)
grads = paddle.grad([F.binary_cross_entropy_with_logits(z, y)], [z, y], allow_unused=True)
# The reference engine (and PyTorch): dL/dz = sigmoid(1.5) - 0.25, dL/dy = -1.5.
assert grads[1] is None, "stale: paddle now differentiates the target"
print(f"DIVERGENCE BCE-003: dL/dy is None (reference: -1.5); dL/dz = {float(grads[0]):.6f}")
