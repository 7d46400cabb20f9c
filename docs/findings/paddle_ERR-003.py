"""paddle ERR-003: backward() from a tensor that stops gradient does nothing instead of raising."""

import numpy as np
import paddle

a = paddle.to_tensor(np.ones(3))  # stop_gradient=True
s = a.sum()
assert s.stop_gradient and s.grad_fn is None
s.backward()  # PyTorch: RuntimeError: element 0 of tensors does not require grad ...
leaf = paddle.to_tensor(np.array(1.0))
leaf.backward()  # the same for a leaf
assert a.grad is None and leaf.grad is None
print("DIVERGENCE ERR-003: backward() on a stop_gradient tensor returns silently (PyTorch raises)")
