"""paddle RETAIN-002: retain_grads() does not give the expected non-leaf .grad.

Two causes: a same-shape reshape is its input (LEAF-002), and a BCE loss whose only
differentiable input is the label stops gradient (ROOT-001).
"""

import numpy as np
import paddle
import paddle.nn.functional as F

x = paddle.to_tensor(np.array(0.5), stop_gradient=False)
v0 = x**2
v1 = paddle.reshape(x, [])  # the same tensor object as x (see LEAF-002)
v1.retain_grads()
v0.backward()
# PyTorch: v1 is a separate view that v0 does not depend on, so v1.grad stays None.
assert v1 is x and v1.grad is not None, "the finding is stale"
loss = F.binary_cross_entropy_with_logits(
    paddle.to_tensor(np.array(0.0)), paddle.to_tensor(np.array(0.0), stop_gradient=False)
)
loss.retain_grads()
loss.backward()
# PyTorch: the root's retained .grad is 1.0.
assert loss.grad is None, "stale: the BCE loss of a label requiring grad is differentiable now"
print("DIVERGENCE RETAIN-002: reshape alias v1 gets x's .grad; the BCE-of-label root has no .grad")
