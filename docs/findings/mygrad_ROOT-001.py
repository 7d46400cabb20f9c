"""mygrad ROOT-001: a root computed from constants has a creator although it is constant."""

import mygrad as mg

x = mg.tensor([0.5, -1.0], constant=True)
loss = mg.sum(x * x)
# PyTorch: a root that does not require grad has grad_fn None.
assert loss.constant is True and loss.creator is not None, "the finding is stale"
print(f"DIVERGENCE ROOT-001: a constant root has creator {type(loss.creator).__name__}")
