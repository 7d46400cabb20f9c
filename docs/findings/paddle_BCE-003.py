"""paddle BCE-003: vs the reference engine: no gradient for the target, and dL/dz wrong at z = 0."""

import numpy as np
import paddle
import paddle.nn.functional as F

z = paddle.to_tensor(np.array(1.5), stop_gradient=False)
y = paddle.to_tensor(np.array(0.25), stop_gradient=False)
grads = paddle.grad([F.binary_cross_entropy_with_logits(z, y)], [z, y], allow_unused=True)
# The reference engine (and PyTorch): dL/dz = sigmoid(1.5) - 0.25, dL/dy = -1.5.
assert grads[1] is None, "stale: paddle now differentiates the target"
# Second cause (BCE-005): at a logit of exactly 0 the reference gives sigmoid(0) - y = 0.5.
z0 = paddle.to_tensor(np.array(0.0), stop_gradient=False)
(g0,) = paddle.grad([F.binary_cross_entropy_with_logits(z0, paddle.to_tensor(np.array(0.0)))], [z0])
assert float(g0) == -0.5, "stale: the gradient at a zero logit is fixed"
print(
    "DIVERGENCE BCE-003: dL/dy is None (reference: -1.5); dL/dz at z = 0 is -0.5 (reference: 0.5)"
)
