"""mygrad ERR-003: backward() on a constant does nothing instead of refusing."""

import mygrad as mg

c = mg.tensor([1.0, 2.0, 3.0], constant=True)  # requires_grad=False in PyTorch's terms
s = mg.sum(c)
s.backward()  # PyTorch: RuntimeError: element 0 of tensors does not require grad ...
leaf = mg.tensor(1.0, constant=True)
leaf.backward()  # the same on a constant leaf
assert s.grad is None and c.grad is None and leaf.grad is None, "mygrad now writes a gradient"
print("DIVERGENCE ERR-003: backward() on a constant returned silently (PyTorch raises)")
