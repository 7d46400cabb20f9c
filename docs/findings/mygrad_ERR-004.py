"""mygrad ERR-004: backward(grad) accepts a gradient that only broadcasts to the output."""

import mygrad as mg
import numpy as np

x = mg.tensor([1.0])
(x * 2).backward(np.array(3.0))  # shape () for a (1,) output
assert (x.grad == [6.0]).all(), "mygrad now refuses a () gradient for a (1,) output"
w = mg.tensor([1.0, 2.0, 3.0])
(w * 2).backward(np.array([3.0]))  # shape (1,) for a (3,) output
assert (w.grad == [6.0, 6.0, 6.0]).all(), "mygrad now refuses a (1,) gradient for (3,)"
# Shapes that do not broadcast are refused, as in PyTorch (with ValueError):
try:
    (mg.tensor([1.0, 2.0, 3.0]) * 2).backward(np.ones(4))
except ValueError:
    pass
else:
    raise AssertionError("mygrad accepted a (4,) gradient for a (3,) output")
print(
    f"DIVERGENCE ERR-004: a () gradient for a (1,) output gave x.grad = {x.grad}, a (1,) one "
    f"for (3,) gave {w.grad} (PyTorch: RuntimeError: Mismatch in shape)"
)
