"""paddle LEAF-001: a user-created leaf has a grad_fn (its GradNodeAccumulation), not None."""

import numpy as np
import paddle

for stop_gradient in (True, False):
    x = paddle.to_tensor(np.ones(3), stop_gradient=stop_gradient)
    assert x.is_leaf
    # PyTorch: torch.ones(3, requires_grad=...).grad_fn is None for every leaf.
    assert x.grad_fn is not None, "paddle now gives leaves no grad_fn: the finding is stale"
    assert x.grad_fn.name() == "GradNodeAccumulation"
print("DIVERGENCE LEAF-001: paddle leaves have grad_fn = GradNodeAccumulation (PyTorch: None)")
