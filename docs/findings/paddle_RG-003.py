"""paddle RG-003: an int64 tensor can be created with stop_gradient=False."""

import numpy as np
import paddle

t = paddle.to_tensor(np.array([1, 2]), dtype="int64", stop_gradient=False)
# PyTorch: torch.tensor([1, 2], requires_grad=True) raises "Only Tensors of floating point ..."
assert t.stop_gradient is False
b = paddle.to_tensor(np.array([True]), stop_gradient=False)
assert b.stop_gradient is False
print("DIVERGENCE RG-003: int64/bool tensors are created with stop_gradient=False (PyTorch raises)")
