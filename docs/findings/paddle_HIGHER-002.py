"""paddle HIGHER-002: BCE-with-logits has no double grad: create_graph=True through it raises."""

import numpy as np
import paddle
import paddle.nn.functional as F

z = paddle.to_tensor(np.array([0.5, -1.0]), stop_gradient=False)
y = paddle.to_tensor(np.array([1.0, 0.0]))
loss = F.binary_cross_entropy_with_logits(z, y, reduction="sum")
try:
    (g,) = paddle.grad([loss], [z], create_graph=True)
    (second,) = paddle.grad([g.sum()], [z])
except RuntimeError as exc:  # "The Op sigmoid_cross_entropy_with_logits_grad doesn't have ..."
    message = str(exc)
else:
    raise AssertionError(f"a second-order gradient now exists ({second.numpy()}): stale finding")
assert "doesn't have any grad op" in message, message
# PyTorch: torch.autograd.grad(g.sum(), z) gives sigmoid(z) * (1 - sigmoid(z)) = [0.235, 0.197].
print(f"DIVERGENCE HIGHER-002: {message.splitlines()[0][:110]} (PyTorch: [0.235, 0.197])")
