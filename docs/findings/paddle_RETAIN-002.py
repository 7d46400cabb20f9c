"""paddle RETAIN-002: retain_grads() on a same-shape reshape retains the leaf's own gradient."""

import numpy as np
import paddle

x = paddle.to_tensor(np.array(0.5), stop_gradient=False)
v0 = x**2
v1 = paddle.reshape(x, [])  # the same tensor object as x (see LEAF-002)
v1.retain_grads()
v0.backward()
# PyTorch: v1 is a separate view that v0 does not depend on, so v1.grad stays None.
assert v1 is x and v1.grad is not None, "the finding is stale"
print(f"DIVERGENCE RETAIN-002: v1 = reshape(x, []) gets .grad {float(v1.grad)} v0 does not use")
