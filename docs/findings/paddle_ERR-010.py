"""paddle ERR-010: the refused in-place op on a leaf that requires grad has already changed it."""

import numpy as np
import paddle

x = paddle.to_tensor(np.zeros(3, dtype="float32"), stop_gradient=False)
c = paddle.to_tensor(np.ones(3, dtype="float32"))
try:
    x.add_(c)
except ValueError as refusal:  # "(InvalidArgument) Leaf Var ... can't use inplace strategy."
    assert "inplace" in str(refusal)
else:
    raise AssertionError("paddle no longer refuses add_ on a leaf that requires grad")
# PyTorch: RuntimeError: a leaf Variable that requires grad is being used in an in-place
# operation, raised before the op, x still [0, 0, 0].
assert (x.numpy() == [1.0, 1.0, 1.0]).all(), "x is left unchanged now: the finding is stale"
print(f"DIVERGENCE ERR-010: the refused x.add_(c) left x = {x.numpy()} (PyTorch: [0. 0. 0.])")
