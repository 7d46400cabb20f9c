"""paddle HOOK-006: retain_grads() called before a hook records the gradient before that hook."""

import numpy as np
import paddle

x = paddle.to_tensor(np.ones(2), stop_gradient=False)
y = x * 1
y.retain_grads()
y.register_hook(lambda g: g * 10)  # registered after retain_grads()
y.sum().backward()
np.testing.assert_array_equal(x.grad.numpy(), [10.0, 10.0])  # the hook did run
# PyTorch: y.grad is [10, 10] in either order (retain_grad's hook always runs last).
assert (y.grad.numpy() == [1.0, 1.0]).all(), "y.grad now sees the hook: the finding is stale"
print(f"DIVERGENCE HOOK-006: y.grad is {y.grad.numpy()} before the x10 hook (PyTorch: [10. 10.])")
