"""paddle ALIAS-004: a leaf's .grad shares memory with the retained .grad of its reshape."""

import numpy as np
import paddle

x = paddle.to_tensor(np.ones((2, 3)), stop_gradient=False)
v = paddle.reshape(x, [3, 2])  # a new non-leaf (x.reshape(3, 2) is a view in PyTorch too)
v.retain_grads()
v.backward(paddle.ones([3, 2], dtype="float64"))
np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
assert v.grad.data_ptr() == x.grad.data_ptr(), "the gradients have their own memory now"
v.clear_gradient()  # zeroes v.grad in place
# PyTorch: v.grad.zero_() leaves a.grad all ones (retain_grad stores a clone).
assert (x.grad.numpy() == 0).all(), "zeroing v.grad leaves x.grad alone now: the finding is stale"
print("DIVERGENCE ALIAS-004: zeroing the retained reshape's .grad zeroes the leaf's .grad too")
