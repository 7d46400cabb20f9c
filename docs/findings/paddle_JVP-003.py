"""paddle JVP-003: paddle.incubate.autograd.jvp of a division raises (divide_double_grad)."""

import numpy as np
import paddle
import paddle.incubate.autograd as ia

x = paddle.to_tensor(np.array([0.5, -1.0]), stop_gradient=False)
v = paddle.to_tensor(np.array([1.0, 1.0]))
try:
    _, tangent = ia.jvp(lambda a: a / (a * a + 1.0), x, v)
except RuntimeError as exc:
    message = str(exc)
else:
    raise AssertionError(f"the JVP now exists ({tangent.numpy()}): stale finding")
assert "divide_double_grad" in message, message
# PyTorch: torch.autograd.forward_ad (or torch.func.jvp) gives the tangent [0.48, 0.].
print(
    f"DIVERGENCE JVP-003: jvp of x / (x * x + 1) raises "
    f"{message.splitlines()[0][:60]} (PyTorch: [0.48, 0.])"
)
