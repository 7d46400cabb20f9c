"""paddle HIGHER-003: no gradient of a gradient through BCE-with-logits (reduction "mean")."""

import numpy as np
import paddle
import paddle.nn.functional as F

z = paddle.to_tensor(np.array([0.5, -1.0]), stop_gradient=False)
y = paddle.to_tensor(np.array([1.0, 0.0]))
loss = F.binary_cross_entropy_with_logits(z, y, reduction="mean")
try:
    paddle.grad([loss], [z], create_graph=True)
except RuntimeError as exc:  # raised by the first call already: "The Op mean_all_grad ..."
    message = str(exc)
else:
    raise AssertionError("create_graph=True through BCE (mean) now works: the finding is stale")
assert "doesn't have any grad op" in message, message
# PyTorch: the second-order gradient of the mean loss is sigmoid(z) (1 - sigmoid(z)) / 2,
# [0.1175, 0.0983], as the reference engine computes it.
print(f"DIVERGENCE HIGHER-003: {message.splitlines()[0][:110]} (PyTorch: [0.1175, 0.0983])")
