"""mygrad DTYPE-004: a 0-d float32 operand promotes a dimensioned float16 operand to float32."""

import mygrad as mg
import numpy as np

a = mg.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float16))
b = mg.tensor(np.array(2.0, dtype=np.float32))  # 0-d
y = a * b
y.backward(np.ones(3, dtype=y.dtype))
assert y.dtype == np.float32, f"mygrad now gives {y.dtype} for float16 (3,) * float32 ()"
# The gradients keep their operands' dtypes, as in PyTorch:
assert a.grad.dtype == np.float16 and b.grad.dtype == np.float32
print(
    f"DIVERGENCE DTYPE-004: float16 (3,) * float32 () is {y.dtype} (PyTorch 2.13: float16, a "
    "dimensioned operand's dtype beats a 0-d operand's; mygrad follows NumPy 2, where 0-d "
    "arrays take part in promotion like any array)"
)
