"""mygrad RG-005: under no_autodiff results are not constant, and tracking cannot be re-enabled."""

import mygrad as mg
from mygrad._utils import graph_tracking

w = mg.tensor([1.0, 2.0])
with mg.no_autodiff:
    y = mg.sum(w)
# PyTorch: inside no_grad, results do not require grad; torch.enable_grad() re-enables inside.
assert y.constant is False, "stale: results under no_autodiff are constant now"
assert graph_tracking.__all__ == ["no_autodiff"], "stale: mygrad has a re-enabling context now"
print("DIVERGENCE RG-005: sum(w) under no_autodiff has constant=False; no enable_grad counterpart")
