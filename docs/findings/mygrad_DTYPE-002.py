"""mygrad DTYPE-002: a Python float promotes a float16 tensor to float64 (pow, mul)."""

import mygrad as mg
import numpy as np

x = mg.tensor(np.array([1.5, 2.0], dtype=np.float16))
powered = x**1.5
scaled = x * 2.5
assert powered.dtype == np.float64, f"mygrad now keeps x**1.5 in {powered.dtype}"
assert scaled.dtype == np.float64, f"mygrad now keeps x*2.5 in {scaled.dtype}"
# NumPy itself keeps float16 here (Python scalars are weakly typed, NEP 50), as PyTorch does:
assert (np.array([1.5, 2.0], dtype=np.float16) ** 1.5).dtype == np.float16
print(
    f"DIVERGENCE DTYPE-002: float16 x**1.5 is {powered.dtype} and x*2.5 is {scaled.dtype} "
    "(PyTorch 2.13: float16 for both)"
)
