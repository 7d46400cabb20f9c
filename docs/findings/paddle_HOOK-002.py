"""paddle HOOK-002: a hook on the label of BCE-with-logits never runs; its .grad stays None."""

import numpy as np
import paddle
import paddle.nn.functional as F

logit = paddle.to_tensor(np.array([0.5, -1.0]))  # does not require grad
label = paddle.to_tensor(np.array([0.2, 1.0]), stop_gradient=False)
seen = []
label.register_hook(lambda g: seen.append(g) or None)  # returns None: the gradient is kept
loss = F.binary_cross_entropy_with_logits(logit, label)
loss.backward()
# PyTorch: the hook runs once and label.grad = -logit / 2 = [-0.25, 0.5].
assert label.grad is None and not seen, "the label is differentiated now: the finding is stale"
print("DIVERGENCE HOOK-002: a hook on the BCE label never runs and label.grad stays None")
