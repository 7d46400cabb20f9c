"""paddle RAND-001: bce_with_logits(x0=0, x1=0) gives dL/dx0 = -0.5; the reference gives 0.5."""

import numpy as np
import paddle
import paddle.nn.functional as F

x0 = paddle.to_tensor(np.array(0.0), stop_gradient=False)
x1 = paddle.to_tensor(np.array(0.0), stop_gradient=False)
(g0,) = paddle.grad([F.binary_cross_entropy_with_logits(x0, x1)], [x0])
# PyTorch and the reference engine: sigmoid(0) - 0 = 0.5 (and dL/dx1 = -x0 = 0).
assert float(g0) == -0.5, "stale"
print(f"DIVERGENCE RAND-001: dL/dx0 = {float(g0)} at logit 0 (reference: 0.5)")
