"""paddle DTYPE-003: float32 BCE-with-logits: wrong gradient at a logit of 0, none for the label."""

import numpy as np
import paddle
import paddle.nn.functional as F

z = paddle.to_tensor(np.array(0.0, np.float32), stop_gradient=False)
y = paddle.to_tensor(np.array(0.0, np.float32), stop_gradient=False)
loss = F.binary_cross_entropy_with_logits(z, y)
dz, dy = paddle.grad([loss], [z, y], allow_unused=True)
assert dz.dtype == paddle.float32, "the gradient's dtype itself is right"
# PyTorch 2.13: dL/dz = sigmoid(0) - y = 0.5 and dL/dy = -z = -0.0, both float32.
assert float(dz) == -0.5, "stale: the float32 gradient at a logit of 0 is fixed"
assert dy is None, "stale: the label now gets a gradient"
print("DIVERGENCE DTYPE-003: float32 dL/dz at z = y = 0 is -0.5 (PyTorch: 0.5); no dL/dy")
