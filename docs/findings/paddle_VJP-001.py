"""paddle VJP-001: paddle.grad gives no gradient for the BCE label (and .grad is left alone)."""

import numpy as np
import paddle
import paddle.nn.functional as F

logit = paddle.to_tensor(np.zeros((1, 2, 4)))
label = paddle.to_tensor(np.zeros((1, 2, 4)), stop_gradient=False)
pos_weight = paddle.to_tensor(np.array(0.5))
loss = F.binary_cross_entropy_with_logits(logit, label, pos_weight=pos_weight)
(grad,) = paddle.grad([loss], [label], allow_unused=True)
# PyTorch: torch.autograd.grad gives dL/dy = -(pw*log s(z) - log(1 - s(z)))/N = -0.0433... each.
assert grad is None, "stale: paddle.grad now differentiates the label"
assert label.grad is None  # the functional gradient leaves .grad alone, as required
print("DIVERGENCE VJP-001: paddle.grad(BCE, label) is None (PyTorch: -0.0433 per element)")
