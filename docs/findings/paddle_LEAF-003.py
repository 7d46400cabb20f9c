"""paddle LEAF-003 (as flagged): the BCE loss whose label requires grad is a leaf without grad.

The suite's LEAF-003 test compares the detached tensor's own flags with what the program implies;
the underlying divergence is ROOT-001/GRAPH-001 (no gradient edge to the label).
"""

import numpy as np
import paddle
import paddle.nn.functional as F

logit = paddle.to_tensor(np.array(0.0))
label = paddle.to_tensor(np.array(0.0), stop_gradient=False)
loss = F.binary_cross_entropy_with_logits(logit, label)
before = (loss.is_leaf, loss.stop_gradient)
detached = loss.detach()
assert detached.is_leaf and detached.stop_gradient
# PyTorch: loss requires grad (is_leaf False) before and after loss.detach().
assert before == (True, True) == (loss.is_leaf, loss.stop_gradient), "the finding is stale"
print("DIVERGENCE LEAF-003: loss = BCE(z, y requiring grad) is a stop_gradient leaf")
