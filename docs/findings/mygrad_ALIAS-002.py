"""mygrad ALIAS-002: a leaf's backward(g) stores g's own array as the leaf's .grad."""

import mygrad as mg
import numpy as np

x = mg.tensor([1.0, 2.0, 3.0])
g = np.ones(3)
x.backward(g)
assert x.grad is g, "mygrad now copies the seed of a leaf's own backward"
g += 1  # PyTorch: x.grad has its own storage and stays [1, 1, 1]
assert (x.grad == [2.0, 2.0, 2.0]).all()
x.grad[...] = 0  # PyTorch: zeroing x.grad leaves g alone
assert (g == 0).all()

# With a mygrad tensor as the seed, x.grad is the seed's array; mygrad's in-place add gives the
# seed a new array and makes the old one (x.grad) read-only, so zeroing x.grad in place fails.
v = mg.tensor([1.0, 2.0, 3.0])
seed = mg.tensor([1.0, 1.0, 1.0], constant=True)
v.backward(seed)
shared = np.shares_memory(v.grad, seed.data)
seed += 1
try:
    v.grad[...] = 0
except ValueError:
    read_only = True
else:
    read_only = False
assert shared and read_only, "mygrad's leaf .grad no longer aliases a tensor seed"
print(
    "DIVERGENCE ALIAS-002: after x.backward(g) on a leaf, x.grad is g itself: g += 1 changed "
    "x.grad and zeroing x.grad zeroed g; with a mygrad seed, zeroing .grad raised ValueError "
    "(read-only) after the seed's in-place add (PyTorch copies the seed)"
)
