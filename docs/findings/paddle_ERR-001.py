"""paddle ERR-001: backward() without a gradient on a non-scalar output seeds it with ones."""

import numpy as np
import paddle

x = paddle.to_tensor(np.ones(3), stop_gradient=False)
y = x * 2  # shape [3]: no implicit gradient in PyTorch
y.backward()  # PyTorch: RuntimeError: grad can be implicitly created only for scalar outputs
assert x.grad is not None, "paddle now refuses an implicit gradient: the finding is stale"
np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
print(
    f"DIVERGENCE ERR-001: (x*2).backward() on shape [3] gives x.grad {x.grad.numpy()} "
    "(PyTorch raises)"
)
