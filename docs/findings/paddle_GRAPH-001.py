"""paddle GRAPH-001: the backward graph of BCE-with-logits has no edge to its label."""

import numpy as np
import paddle
import paddle.nn.functional as F

logit = paddle.to_tensor(np.array([0.5, -1.0]), stop_gradient=False)
label = paddle.to_tensor(np.array([0.2, 1.0]), stop_gradient=False)
loss = F.binary_cross_entropy_with_logits(logit, label)
bce = loss.grad_fn.next_functions[0]
assert bce.name() == "SigmoidCrossEntropyWithLogitsGradNode"
edges = [n.name() if n is not None else None for n in bce.next_functions]
loss.backward()
# PyTorch: the BCE node's next_functions reach both leaves, and label.grad == -logit / N.
assert label.grad is None, "paddle now differentiates the label: the finding is stale"
assert logit.grad is not None
print(f"DIVERGENCE GRAPH-001: BCE node edges {edges}; label.grad is None (torch: -z/N)")
