"""paddle RG-001: after toggling stop_gradient, a leaf still has a grad_fn (see LEAF-001)."""

import numpy as np
import paddle

x = paddle.to_tensor(np.ones(2), stop_gradient=False)
x.stop_gradient = True  # PyTorch: x.requires_grad_(False)
assert x.is_leaf and x.stop_gradient
assert x.grad_fn is not None, "the finding is stale"
print(f"DIVERGENCE RG-001: leaf toggled off has grad_fn {x.grad_fn.name()} (PyTorch: None)")
