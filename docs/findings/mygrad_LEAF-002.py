"""mygrad LEAF-002: an op on constant tensors records a creator, so its result is no leaf."""

import mygrad as mg

x = mg.tensor([1.0, 2.0], constant=True)  # PyTorch: torch.tensor([1., 2.]) (requires_grad=False)
y = mg.exp(x)
# PyTorch: torch.exp(x) is a leaf with grad_fn None when no input requires grad.
assert y.constant is True
assert y.creator is not None, "mygrad no longer records ops on constants: the finding is stale"
print(f"DIVERGENCE LEAF-002: mg.exp(constant) has creator {type(y.creator).__name__}")
