"""The Tensor's operators and methods (`x + y`, `x.sum()`, `x.T`), bound to the op functions.

tensor.py defines the data type and the op modules define the functions on it; this module,
above both, binds the one to the other in one place, as HIPS autograd binds ArrayBox's
methods, so that tensor.py imports none of the modules built on it. The package's __init__
imports it. Where a method's arguments are the function's own, the method is the function;
the others are one-line adapters that keep PyTorch's parameter names (`x.add(other=y)`).
"""

from __future__ import annotations

from types import FunctionType
from typing import Any

import numpy as np

from . import inplace_ops, matmul, ops, shape_ops
from .dtypes import dtype
from .tensor import Tensor

METHODS: dict[str, Any] = {
    # arithmetic; 2 - x arrives as x.__rsub__(2), the tensor first, as torch records it
    "__add__": ops.add,
    "__radd__": ops.add,
    "__sub__": ops.sub,
    "__rsub__": ops.rsub,
    "__mul__": ops.mul,
    "__rmul__": ops.mul,
    "__truediv__": ops.div,
    # 2 / x is recorded as x.reciprocal() * 2, as torch records it
    "__rtruediv__": lambda self, other: ops.mul(ops.reciprocal(self), other),
    "__pow__": ops.pow,
    "__rpow__": ops.rpow,
    "__neg__": ops.neg,
    "__matmul__": matmul.matmul,
    "__rmatmul__": lambda self, other: matmul.matmul(other, self),
    "add": lambda self, other: ops.add(self, other),
    "sub": lambda self, other: ops.sub(self, other),
    "mul": lambda self, other: ops.mul(self, other),
    "div": lambda self, other: ops.div(self, other),
    "pow": lambda self, exponent: ops.pow(self, exponent),
    # comparisons: bool tensors, elementwise (so Tensor keeps object.__hash__ explicitly)
    "__gt__": ops.gt,
    "__lt__": ops.lt,
    "__ge__": ops.ge,
    "__le__": ops.le,
    "__eq__": ops.eq,
    "__ne__": ops.ne,
    # unary functions and reductions
    "neg": ops.neg,
    "exp": ops.exp,
    "log": ops.log,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "relu": ops.relu,
    "abs": ops.abs,
    "reciprocal": ops.reciprocal,
    "sum": ops.sum,
    "mean": ops.mean,
    # products
    "matmul": lambda self, other: matmul.matmul(self, other),
    "mm": lambda self, other: matmul.mm(self, other),
    "mv": lambda self, other: matmul.mv(self, other),
    "dot": lambda self, other: matmul.dot(self, other),
    # views and indexing; sizes come as f(2, 3) or f((2, 3))
    "T": property(lambda self: shape_ops.permute(self, tuple(range(self._data.ndim - 1, -1, -1)))),
    "t": shape_ops.t,
    "transpose": shape_ops.transpose,
    "permute": lambda self, *dims: shape_ops.permute(self, shape_ops.size_args(dims)),
    "reshape": lambda self, *shape: shape_ops.reshape(self, shape_ops.size_args(shape)),
    "view": lambda self, *shape: shape_ops.reshape(self, shape_ops.size_args(shape)),
    "expand": lambda self, *sizes: shape_ops.expand(self, shape_ops.size_args(sizes)),
    # the broadcasting rule in reverse, ops.sum_to; shape_ops' expand backward calls it
    "sum_to_size": lambda self, *size: ops.sum_to(self, shape_ops.size_args(size)),
    "unsqueeze": shape_ops.unsqueeze,
    "squeeze": lambda self, dim: shape_ops.squeeze(self, dim),
    "narrow": shape_ops.narrow,
    "__getitem__": shape_ops.index,
    "__setitem__": inplace_ops.index_put_,
    # in-place, on a tensor or through a view (see inplace_ops.inplace); x += y is x.add_(y)
    "add_": lambda self, other: inplace_ops.inplace(self, ops.add, other),
    "sub_": lambda self, other: inplace_ops.inplace(self, ops.sub, other),
    "mul_": lambda self, other: inplace_ops.inplace(self, ops.mul, other),
    "div_": lambda self, other: inplace_ops.inplace(self, ops.div, other),
    "zero_": inplace_ops.zero_,
    "__iadd__": lambda self, other: self.add_(other),
    "__isub__": lambda self, other: self.sub_(other),
    "__imul__": lambda self, other: self.mul_(other),
    "__itruediv__": lambda self, other: self.div_(other),
    # dtype conversions; the only device, 'cpu', converts nothing
    "float": lambda self: ops.to(self, np.dtype(np.float32)),
    "double": lambda self: ops.to(self, np.dtype(np.float64)),
    "long": lambda self: ops.to(self, np.dtype(np.int64)),
    "to": lambda self, target: ops.to(self, target.np) if isinstance(target, dtype) else self,
    # and the pointwise functions of ops.py's defpointwise table: x.sin() is sin(x)
    **ops.POINTWISE,
}

for name, method in METHODS.items():
    # A function only: since Python 3.13 a property built on a lambda is named "<lambda>" too.
    if isinstance(method, FunctionType) and method.__name__ == "<lambda>":
        method.__name__, method.__qualname__ = name, f"Tensor.{name}"  # for messages, tracebacks
    setattr(Tensor, name, method)
