"""paddle TAPE-001: backward() leaves the BCE target's .grad None."""

import numpy as np
import paddle
import paddle.nn.functional as F

z = paddle.to_tensor(np.array(0.0))
y = paddle.to_tensor(np.array(0.0), stop_gradient=False)
loss = F.binary_cross_entropy_with_logits(z + 1.0, y)
# PyTorch: loss.backward() fills y.grad = -(z + 1) = -1.
loss.backward()  # accepted although the loss has stop_gradient=True
assert y.grad is None, "stale"
print("DIVERGENCE TAPE-001: y.grad is None after backward (PyTorch: -1.0)")
