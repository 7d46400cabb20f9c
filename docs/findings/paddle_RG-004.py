"""paddle RG-004: stop_gradient=False can be set on an existing int64 tensor."""

import numpy as np
import paddle

t = paddle.to_tensor(np.array(3), dtype="int64")
t.stop_gradient = False  # PyTorch: t.requires_grad_(True) raises RuntimeError for integer dtypes
assert t.stop_gradient is False
print("DIVERGENCE RG-004: int64 tensor accepts stop_gradient=False (PyTorch raises)")
