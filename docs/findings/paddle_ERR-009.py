"""paddle ERR-009: paddle.grad(allow_unused=True) returns None for an input that stops gradient."""

import numpy as np
import paddle

a = paddle.to_tensor(np.ones(3), stop_gradient=False)
c = paddle.to_tensor(np.ones(3))  # stop_gradient=True: not differentiable
grads = paddle.grad([(a * 2).sum()], [a, c], allow_unused=True)
# PyTorch: RuntimeError: One of the differentiated Tensors does not require grad
# (with or without allow_unused=True).
np.testing.assert_array_equal(grads[0].numpy(), [2.0, 2.0, 2.0])
assert grads[1] is None, "paddle now refuses the input: the finding is stale"
print("DIVERGENCE ERR-009: paddle.grad(allow_unused=True) gives None for a stop_gradient input")
