"""paddle JVP-001: paddle.incubate.autograd.jvp of relu raises (relu_double_grad has no grad op)."""

import numpy as np
import paddle
import paddle.incubate.autograd as ia
import paddle.nn.functional as F

x = paddle.to_tensor(np.array([0.5, -1.0]), stop_gradient=False)
v = paddle.to_tensor(np.array([1.0, 1.0]))
try:
    _, tangent = ia.jvp(F.relu, x, v)
except RuntimeError as exc:
    message = str(exc)
else:
    raise AssertionError(f"the JVP now exists ({tangent.numpy()}): stale finding")
assert "relu_double_grad" in message, message
# PyTorch: torch.autograd.forward_ad (or torch.func.jvp) gives the tangent [1., 0.].
print(f"DIVERGENCE JVP-001: jvp of relu raises {message.splitlines()[0][:60]} (PyTorch: [1., 0.])")
