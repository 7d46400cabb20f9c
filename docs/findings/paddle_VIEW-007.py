"""paddle VIEW-007: a leaf written in place under no_grad has a grad_fn (as every Paddle leaf)."""

import numpy as np
import paddle

x = paddle.to_tensor(np.array([1.0, 2.0, 3.0]), stop_gradient=False)
with paddle.no_grad():
    x.multiply_(paddle.to_tensor(np.array([2.0, 2.0, 2.0])))
assert x.is_leaf and not x.stop_gradient
(x * x).sum().backward()
assert np.array_equal(x.grad.numpy(), [4.0, 8.0, 12.0])  # the new values, as PyTorch
# PyTorch: x.grad_fn is None for a leaf; Paddle returns its GradNodeAccumulation (see LEAF-001).
assert x.grad_fn is not None, "Paddle's leaf now has no grad_fn"
print(
    f"DIVERGENCE VIEW-007: after x.multiply_(2) under no_grad, the leaf x has grad_fn "
    f"{x.grad_fn.name()} (PyTorch: None; the gradient itself, 2 x at the new values, agrees)"
)
