"""paddle RG-005: BCE-with-logits of a label that requires grad does not require grad."""

import numpy as np
import paddle

logits = paddle.to_tensor(np.array(0.0))  # stop_gradient=True: a constant
label = paddle.to_tensor(np.array(0.0), stop_gradient=False)  # PyTorch: requires_grad=True
loss = paddle.nn.functional.binary_cross_entropy_with_logits(logits, label)
# PyTorch: loss.requires_grad is True (the target is differentiable; dL/dy = -z / N).
assert loss.stop_gradient, "the finding is stale"
print(
    "DIVERGENCE RG-005: BCE-with-logits of a label with stop_gradient=False has "
    "stop_gradient=True (PyTorch: the result requires grad)"
)
