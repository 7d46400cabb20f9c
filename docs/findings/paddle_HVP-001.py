"""paddle HVP-001: no Hessian-vector product of a BCE-with-logits loss (reverse over reverse)."""

import numpy as np
import paddle
import paddle.nn.functional as F

z = paddle.to_tensor(np.array([0.5, -1.0]), stop_gradient=False)
y = paddle.to_tensor(np.array([1.0, 0.0]))
v = paddle.to_tensor(np.array([1.0, 1.0]))
try:
    loss = F.binary_cross_entropy_with_logits(z, y, reduction="mean")
    (g,) = paddle.grad([loss], [z], create_graph=True)
    (hv,) = paddle.grad([(g * v).sum()], [z])
except RuntimeError as exc:
    message = str(exc)
else:
    raise AssertionError(f"the Hessian-vector product now exists ({hv.numpy()}): stale finding")
assert "doesn't have any grad op" in message, message
# PyTorch: torch.autograd.functional.hvp gives sigmoid(z) (1 - sigmoid(z)) / 2 * v.
print(f"DIVERGENCE HVP-001: {message.splitlines()[0][:110]} (PyTorch: [0.1175, 0.0983])")
