"""mygrad VIEW-008: a saved view whose base is then written in place is not refused."""

import mygrad as mg
import numpy as np

x = mg.tensor([0.5, 1.0, 2.0])
b = x * 1
v = b[:2]  # a view of b
y = mg.sin(v)  # PyTorch saves v for SinBackward
b += 1.0  # PyTorch: v's version (shared with b) goes up
mg.sum(y).backward()  # PyTorch: RuntimeError: one of the variables needed ... inplace operation
# mygrad's in-place op gives b a new array and keeps the old one: cos of v's old values.
assert np.allclose(x.grad, [np.cos(0.5), np.cos(1.0), 0.0]), "mygrad's backward changed"
print(
    f"DIVERGENCE VIEW-008: backward of sin(b[:2]) after b += 1 gave x.grad = {x.grad} from the "
    "old values (PyTorch refuses: the saved view was modified through its base)"
)
