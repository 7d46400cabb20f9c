"""paddle VIEW-001: backward through narrow -> reshape -> narrow views never returns (it hangs)."""

import subprocess
import sys

CHAIN = """
import numpy as np
import paddle
x = paddle.to_tensor(np.ones((2, 4)), stop_gradient=False)
v = paddle.narrow(x, 1, 3, 1)          # (2, 1): the last column, a strided view
v = paddle.reshape(v, [1, 2])          # (1, 2)
v = paddle.narrow(v, 1, 0, 2)          # (1, 2): all of it
(v * paddle.ones([1, 2], dtype=v.dtype)).sum().backward()
print(x.grad.numpy().tolist())
"""
# PyTorch: x.grad is [[0, 0, 0, 1], [0, 0, 0, 1]] at once (the same chain with Tensor.narrow).
try:
    done = subprocess.run([sys.executable, "-c", CHAIN], capture_output=True, text=True, timeout=60)
except subprocess.TimeoutExpired:
    print(
        "DIVERGENCE VIEW-001: backward through narrow -> reshape -> narrow still runs after 60 s"
        " (PyTorch: x.grad [[0, 0, 0, 1], [0, 0, 0, 1]] at once)"
    )
else:
    raise AssertionError(f"backward returned: the finding is stale ({done.stdout or done.stderr})")
