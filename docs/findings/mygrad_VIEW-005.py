"""mygrad VIEW-005: an in-place op on a view of a leaf is recorded, not refused."""

import mygrad as mg

x = mg.tensor([[1.0, 2.0], [3.0, 4.0]])  # a leaf that requires grad (not a constant)
v = x[:, :1]  # a view of x (v.base is x)
assert v.base is x
v += mg.tensor([[1.0], [1.0]], constant=True)  # PyTorch: RuntimeError: a view of a leaf ...
# mygrad writes x through the view and records the write in x's history.
assert (x.data == [[2.0, 2.0], [4.0, 4.0]]).all(), "mygrad no longer writes x through the view"
print(
    f"DIVERGENCE VIEW-005: v = x[:, :1]; v += 1 on a leaf x gave x = {x.data.tolist()} "
    "(PyTorch refuses: a view of a leaf Variable that requires grad is being used in an "
    "in-place operation)"
)
