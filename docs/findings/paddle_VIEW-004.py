"""paddle VIEW-004: an in-place op on a view of a non-leaf is missing from the base's gradient."""

import numpy as np
import paddle

x = paddle.to_tensor(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), stop_gradient=False)
b = x * 1
v = paddle.narrow(b, 1, 0, 2)  # a view of b's first two columns
w = paddle.to_tensor(np.array([[10.0, 20.0], [30.0, 40.0]]), stop_gradient=False)
v.multiply_(w)
assert np.array_equal(b.numpy(), [[10.0, 40.0, 3.0], [120.0, 200.0, 6.0]])  # b was written
b.sum().backward()
# PyTorch (b.grad_fn is CopySlices): x.grad = [[10, 20, 1], [30, 40, 1]], w.grad = [[1, 2], [4, 5]].
assert np.array_equal(x.grad.numpy(), np.ones((2, 3))), "x.grad now sees the write"
assert w.grad is None, "w now gets a gradient"
print(
    f"DIVERGENCE VIEW-004: after v = narrow(b, 1, 0, 2); v.multiply_(w), b.sum().backward() gave "
    f"x.grad = {x.grad.numpy().tolist()} and w.grad = None (PyTorch: [[10, 20, 1], [30, 40, 1]] "
    "and [[1, 2], [4, 5]])"
)
