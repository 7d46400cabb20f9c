"""paddle JVP-002: paddle.incubate.autograd.jvp of x ** 2 raises (pow's double grad)."""

import numpy as np
import paddle
import paddle.incubate.autograd as ia

x = paddle.to_tensor(np.array([0.5, -1.0]), stop_gradient=False)
v = paddle.to_tensor(np.array([1.0, 1.0]))
try:
    _, tangent = ia.jvp(lambda a: paddle.pow(a, 2.0), x, v)
except RuntimeError as exc:
    message = str(exc)
else:
    raise AssertionError(f"the JVP now exists ({tangent.numpy()}): stale finding")
assert "DX can not be nullptr" in message, message
# PyTorch: torch.autograd.forward_ad (or torch.func.jvp) gives the tangent [1., -2.].
print(
    f"DIVERGENCE JVP-002: jvp of x ** 2 raises {message.splitlines()[0][:60]} (PyTorch: [1., -2.])"
)
