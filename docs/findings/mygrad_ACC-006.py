"""mygrad ACC-006: backward writes .grad on intermediate (non-leaf) tensors too."""

import mygrad as mg

x = mg.tensor([1.0, 2.0])
y = x + x  # a non-leaf: it has a creator
loss = mg.sum(y * y)
loss.backward()
# PyTorch: y.grad is None (with a warning) unless y.retain_grad() was called.
assert y.grad is not None, "mygrad no longer keeps intermediate gradients: stale"
print(
    f"DIVERGENCE ACC-006: intermediate y = x + x has .grad {y.grad} after backward (PyTorch: None)"
)
