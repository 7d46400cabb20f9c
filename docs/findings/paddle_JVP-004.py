"""paddle JVP-004: no forward-mode run of a BCE-with-logits mean (mean_all_grad), so no primals."""

import numpy as np
import paddle
import paddle.incubate.autograd as ia
import paddle.nn.functional as F

x = paddle.to_tensor(np.array([0.5, -1.0]), stop_gradient=False)
v = paddle.to_tensor(np.array([1.0, 1.0]))
try:
    _, tangent = ia.jvp(
        lambda a: F.binary_cross_entropy_with_logits(a, paddle.to_tensor(np.array([1.0, 0.0]))),
        x,
        v,
    )
except RuntimeError as exc:
    message = str(exc)
else:
    raise AssertionError(f"the JVP now exists ({tangent.numpy()}): stale finding")
assert "mean_all_grad" in message, message
# PyTorch: torch.autograd.forward_ad (or torch.func.jvp) gives the tangent -0.0543.
print(
    f"DIVERGENCE JVP-004: jvp of a BCE-with-logits mean raises "
    f"{message.splitlines()[0][:60]} (PyTorch: -0.0543)"
)
