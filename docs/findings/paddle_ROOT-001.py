"""paddle ROOT-001: BCE-with-logits does not differentiate its label (target)."""

import numpy as np
import paddle
import paddle.nn.functional as F

logit = paddle.to_tensor(np.array([0.5, -1.0]))  # does not require grad
label = paddle.to_tensor(np.array([0.2, 1.0]), stop_gradient=False)  # requires grad
loss = F.binary_cross_entropy_with_logits(logit, label)
# PyTorch: the loss requires grad (BinaryCrossEntropyWithLogitsBackward0); dL/dy = -z/N.
assert loss.stop_gradient is True, "paddle's BCE now propagates stop_gradient=False from the label"
assert loss.grad_fn is None
print("DIVERGENCE ROOT-001: BCE-with-logits of a label requiring grad stops gradient")
