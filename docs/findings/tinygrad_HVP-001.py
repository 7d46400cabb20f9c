"""tinygrad HVP-001: scalar tensors of equal value share one UOp, so Hessian-vector products mix."""

import numpy as np
from tinygrad import Tensor

# f(x, y) = x * y at x = y = 3.0: H = [[0, 1], [1, 0]], so H (1, 0) = (0, 1).
x = Tensor(np.array(3.0))
y = Tensor(np.array(3.0))  # an independent tensor that happens to hold the same value
gx, gy = (x * y).gradient(x, y)
vx, vy = Tensor(np.array(1.0)), Tensor(np.array(0.0))
hx, hy = (gx * vx + gy * vy).gradient(x, y)
got = [hx.item(), hy.item()]
assert x.uop is y.uop, "stale: scalar tensors no longer share a UOp"
assert got != [0.0, 1.0], "stale: the Hessian-vector product is now PyTorch's"
# The same values in 1-element arrays are separate buffers and give PyTorch's (0, 1).
a, b = Tensor(np.array([3.0])), Tensor(np.array([3.0]))
ga, gb = (a * b).sum().gradient(a, b)
ha, hb = (ga * Tensor(np.array([1.0])) + gb * Tensor(np.array([0.0]))).sum().gradient(a, b)
assert [ha.item(), hb.item()] == [0.0, 1.0]
print(f"DIVERGENCE HVP-001: H v of x*y at scalars x = y = 3, v = (1, 0) is {got} (PyTorch: [0, 1])")
