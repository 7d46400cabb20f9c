"""paddle RG-007: a leaf switched off after use still receives a gradient from backward."""

import numpy as np
import paddle

w = paddle.to_tensor(np.array([1.0, 2.0]), stop_gradient=False)
out = (w * w).sum()
w.stop_gradient = True  # PyTorch: w.requires_grad_(False) after use -> w.grad stays None
out.backward()
assert w.grad is not None, "the finding is stale"
print(f"DIVERGENCE RG-007: w switched off after use gets grad {w.grad.numpy()} (PyTorch: None)")
