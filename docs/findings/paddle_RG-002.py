"""paddle RG-002: setting stop_gradient=True on a non-leaf does not raise."""

import numpy as np
import paddle

x = paddle.to_tensor(np.ones(2), stop_gradient=False)
y = x + x
assert not y.is_leaf
y.stop_gradient = True  # PyTorch: y.requires_grad_(False) raises RuntimeError for a non-leaf
assert y.stop_gradient is True
print("DIVERGENCE RG-002: non-leaf.stop_gradient = True is accepted (PyTorch raises RuntimeError)")
