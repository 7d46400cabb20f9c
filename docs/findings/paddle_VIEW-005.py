"""paddle VIEW-005: an in-place op on a view of a leaf that requires grad is not refused."""

import numpy as np
import paddle

x = paddle.to_tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), stop_gradient=False)
v = paddle.narrow(x, 0, 0, 1)  # a view of x's first row
v.add_(paddle.ones([1, 2], dtype="float64"))  # PyTorch: RuntimeError: a view of a leaf ...
assert np.array_equal(x.numpy(), [[2.0, 3.0], [3.0, 4.0]]), "the write no longer reaches x"
x.transpose([1, 0]).add_(paddle.ones([2, 2], dtype="float64"))  # no refusal either
print(
    f"DIVERGENCE VIEW-005: in-place adds through narrow and transpose views of a leaf x gave "
    f"x = {x.numpy().tolist()} (PyTorch refuses: a view of a leaf Variable that requires grad "
    "is being used in an in-place operation)"
)
