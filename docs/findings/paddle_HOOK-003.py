"""paddle HOOK-003: a hook cannot be registered on a BCE loss whose only input needing grad is
its label, because that loss stops gradient."""

import numpy as np
import paddle
import paddle.nn.functional as F

logit = paddle.to_tensor(np.array([0.5, -1.0]))  # does not require grad
label = paddle.to_tensor(np.array([0.2, 1.0]), stop_gradient=False)
loss = F.binary_cross_entropy_with_logits(logit, label)
try:
    loss.register_hook(lambda g: g * 2)
except RuntimeError as refusal:  # "Cannot register hook on a tensor that stop gradient."
    message = str(refusal)
else:
    raise AssertionError("the hook was accepted: the finding is stale")
# PyTorch: the loss requires grad, the hook is accepted, and backward gives label.grad =
# 2 * (-logit / 2) = [-0.5, 1.0].
print(f"DIVERGENCE HOOK-003: register_hook on the BCE loss of a label raises: {message.strip()}")
