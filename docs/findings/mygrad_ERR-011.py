"""mygrad ERR-011: backward after a saved tensor was changed in place uses the old values."""

import mygrad as mg
import numpy as np
from mygrad.nnet import sigmoid

x = mg.tensor([0.0, 1.0, 2.0])
y = sigmoid(x)  # PyTorch saves y for SigmoidBackward
before = y.data.copy()
y += mg.tensor([1.0, 1.0, 1.0], constant=True)  # y's version goes up in PyTorch
mg.sum(y).backward()  # PyTorch: RuntimeError: one of the variables needed ... inplace operation
# mygrad's in-place op gives y a new array and keeps the old one for the backward pass:
# the right gradient, computed from y's values before the add, without any error.
assert np.allclose(x.grad, before * (1 - before)), "mygrad's backward changed after y += 1"
u = mg.tensor([0.5, 1.0, 2.0])
h = u * 1.0
z = mg.sin(h)  # PyTorch saves h for SinBackward
h += 1.0
mg.sum(z).backward()  # no error either: cos of h's old values
assert np.allclose(u.grad, np.cos([0.5, 1.0, 2.0])), "mygrad's backward changed after h += 1"
print(
    f"DIVERGENCE ERR-011: backward after y = sigmoid(x); y += 1 gave x.grad = {x.grad}, the "
    "gradient from y's old values (PyTorch refuses: a saved tensor was modified in place)"
)
