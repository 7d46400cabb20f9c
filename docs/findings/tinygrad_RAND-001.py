"""tinygrad RAND-001: two scalar tensors with equal values share one UOp, so their gradients mix."""

import numpy as np
from tinygrad import Tensor

x = Tensor(np.array(3.0))
y = Tensor(np.array(3.0))  # an independent tensor that happens to hold the same value
dx, dy = (x * y).gradient(x, y)
# PyTorch (and the reference engine): d(xy)/dx = y = 3, d(xy)/dy = x = 3.
assert x.uop is y.uop, "stale: scalar tensors no longer share a UOp"
assert dx.item() == 6.0 and dy.item() == 6.0, "stale: gradients are no longer conflated"
(dy_unused,) = (x * x).gradient(y)
assert dy_unused.item() == 6.0  # y is not used at all, yet gets d(x*x)/dx
# The same values in 1-element arrays are separate buffers and behave.
a, b = Tensor(np.array([3.0])), Tensor(np.array([3.0]))
da, db = (a * b).sum().gradient(a, b)
assert da.item() == 3.0 and db.item() == 3.0
print("DIVERGENCE RAND-001: d(x*y)/dx = 6 for scalars x = y = 3.0 (PyTorch: 3); unused y gets 6")
