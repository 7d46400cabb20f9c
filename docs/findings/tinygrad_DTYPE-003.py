"""tinygrad DTYPE-003: float16 scalars with equal values share one UOp, so their gradients mix."""

import numpy as np
from tinygrad import Tensor, dtypes

x = Tensor(np.array(0.0, dtype=np.float16))
y = Tensor(np.array(0.0, dtype=np.float16))  # independent, the same value
dx, dy = (x + y).gradient(x, y)
assert x.uop is y.uop, "stale: float16 scalar tensors no longer share a UOp"
assert dx.dtype == dtypes.float16, "the gradient's dtype itself is right"
# PyTorch (and the reference engine): d(x+y)/dx = d(x+y)/dy = 1, in float16.
assert float(dx.numpy()) == 2.0 and float(dy.numpy()) == 2.0, "stale: no longer conflated"
print("DIVERGENCE DTYPE-003: d(x+y)/dx = 2 for float16 scalars x = y = 0 (PyTorch: 1)")
