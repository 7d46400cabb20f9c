"""paddle BCE-005: BCE-with-logits' gradient at a logit of exactly 0 is sigmoid(0) - y - 1."""

import numpy as np
import paddle
import paddle.nn.functional as F

for dtype in ("float64", "float32"):
    z = paddle.to_tensor(np.zeros(3, dtype), stop_gradient=False)
    y = paddle.to_tensor(np.array([0.0, 1.0, 0.3], dtype))
    F.binary_cross_entropy_with_logits(z, y, reduction="sum").backward()
    expected = 0.5 - y.numpy()  # sigmoid(0) - y, as PyTorch gives
    assert np.allclose(z.grad.numpy(), expected - 1.0), "stale: the gradient at 0 is fixed"
    # Just off zero the gradient is right: the kernel's subgradient of |z| at 0 is the culprit.
    z = paddle.to_tensor(np.array([1e-30, -1e-30], dtype), stop_gradient=False)
    F.binary_cross_entropy_with_logits(z, paddle.zeros([2], dtype), reduction="sum").backward()
    assert np.allclose(z.grad.numpy(), [0.5, 0.5])
print("DIVERGENCE BCE-005: dL/dz at z=0 is 0.5 - y - 1 = [-0.5, -1.5, -0.8] (PyTorch: 0.5 - y)")
