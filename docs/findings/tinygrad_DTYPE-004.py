"""tinygrad DTYPE-004: a 0-d float32 operand promotes a dimensioned float16 operand to float32."""

import numpy as np
from tinygrad import Tensor, dtypes

a = Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float16))
b = Tensor(np.array(2.0, dtype=np.float32))  # 0-d
y = a * b
assert y.dtype == dtypes.float32, f"tinygrad now gives {y.dtype} for float16 (3,) * float32 ()"
grad_a, grad_b = y.sum().gradient(a, b)
# The gradients keep their operands' dtypes, as in PyTorch:
assert grad_a.dtype == dtypes.float16 and grad_b.dtype == dtypes.float32
print(
    f"DIVERGENCE DTYPE-004: float16 (3,) * float32 () is {y.dtype} (PyTorch 2.13: float16, a "
    "dimensioned operand's dtype beats a 0-d operand's)"
)
