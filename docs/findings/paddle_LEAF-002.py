"""paddle LEAF-002: reshape to the tensor's own shape returns the input tensor itself."""

import numpy as np
import paddle

x = paddle.to_tensor(np.ones((2, 3)), stop_gradient=False)
y = paddle.reshape(x, [2, 3])
# PyTorch: x.reshape(2, 3) is a new non-leaf view (ViewBackward0) of a leaf requiring grad.
assert y is x, "paddle.reshape now returns a new tensor: the finding is stale"
assert y.is_leaf
scalar = paddle.to_tensor(np.array(0.0), stop_gradient=False)
assert paddle.reshape(scalar, []) is scalar
print("DIVERGENCE LEAF-002: paddle.reshape(x, x.shape) returns x itself, a leaf")
