"""The Tensor: a NumPy array plus the autograd bookkeeping PyTorch exposes.

Leaf tensors keep `_requires_grad` and (lazily) one cached AccumulateGrad node; op results
keep their `_grad_fn`. The math lives in ops.py, shape_ops.py and matmul.py; the methods
here only forward to it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import autograd
from .autograd import AccumulateGrad, Node
from .dtypes import CPU, Size, device, dtype, short_name, to_dtype
from .dtypes import dtype as DType

Scalar = int | float | bool

NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad"
    " attribute won't be populated during autograd.backward(). If you indeed want the .grad"
    " field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor."
    " If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor"
    " instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)
LEAF_FLAG_MSG = "you can only change requires_grad flags of leaf variables."
DETACH_HINT = (
    " If you want to use a computed variable in a subgraph that doesn't require"
    " differentiation use var_no_grad = var.detach()."
)


class Tensor:
    __slots__ = ("_data", "_requires_grad", "_grad_fn", "_grad", "_acc", "_retains_grad")

    def __init__(self, data: Any = ()) -> None:
        # torch.Tensor(list) is the legacy constructor: always the default float dtype
        self._data = np.array(data, dtype=np.float32)
        self._requires_grad = False
        self._grad_fn: Node | None = None
        self._grad: Tensor | None = None
        self._acc: AccumulateGrad | None = None
        self._retains_grad = False

    @classmethod
    def _wrap(cls, data: np.ndarray, requires_grad: bool = False) -> Tensor:
        """The fast path every op uses: adopt `data` without copying or checking."""
        t = object.__new__(cls)
        t._data = data
        t._requires_grad = requires_grad
        t._grad_fn = None
        t._grad = None
        t._acc = None
        t._retains_grad = False
        return t

    @classmethod
    def _result(cls, data: np.ndarray, node: Node) -> Tensor:
        t = object.__new__(cls)
        t._data = data
        t._requires_grad = True
        t._grad_fn = node
        t._grad = None
        t._acc = None
        t._retains_grad = False
        return t

    def _accumulator(self) -> AccumulateGrad:
        # one AccumulateGrad per leaf, shared by every use of it: this makes the graph a DAG
        acc = self._acc
        if acc is None:
            acc = self._acc = AccumulateGrad(self)
        return acc

    def _accumulate_grad(self, grad: np.ndarray) -> None:
        """First gradient: a private C-contiguous copy in our dtype; later ones add in place."""
        data = self._data
        if grad.shape != data.shape:
            grad = ops.sum_to(grad, data.shape)
        g = self._grad
        if g is None:
            self._grad = Tensor._wrap(np.array(grad, dtype=data.dtype, order="C"))
        else:
            np.add(g._data, grad, out=g._data, casting="unsafe")

    # --- autograd attributes -----------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if self._grad_fn is not None:
            raise RuntimeError(LEAF_FLAG_MSG + (DETACH_HINT if not flag else ""))
        if flag and not self._data.dtype.kind == "f":
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients"
            )
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self._grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(LEAF_FLAG_MSG + DETACH_HINT)
            return self
        if requires_grad and not self._data.dtype.kind == "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad_fn(self) -> Node | None:
        return self._grad_fn

    @property
    def grad(self) -> Tensor | None:
        if self._grad_fn is not None and not self._retains_grad:
            warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value._data.shape)}' to a"
                    f" tensor of size '{list(self._data.shape)}'. Please ensure that the"
                    " gradient and the tensor are the same size"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{_c_name(value._data.dtype)}'"
                    f" to a tensor with grad_dtype '{short_name(self._data.dtype)}'. The"
                    " gradient must match the tensor's grad_dtype (defaults to the tensor's"
                    " dtype)."
                )
        self._grad = value

    def retain_grad(self) -> None:
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is not None and not self._retains_grad:
            self._retains_grad = True
            self._grad_fn.retained = self

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Tensor | Sequence[Tensor] | None = None,
    ) -> None:
        autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        return Tensor._wrap(self._data)

    def detach_(self) -> Tensor:
        self._grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data

    # --- metadata ----------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        return Size(self._data.shape) if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    @property
    def dtype(self) -> dtype:
        return to_dtype(self._data.dtype)

    @property
    def device(self) -> device:
        return CPU

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def numpy(self) -> np.ndarray:
        if self._requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy()"
                " instead."
            )
        return self._data

    def item(self) -> Any:
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    __hash__ = object.__hash__  # tensors hash by identity, even though == is elementwise

    def __repr__(self) -> str:
        body = np.array2string(
            self._data, separator=", ", prefix="tensor(", precision=4, floatmode="maxprec_equal"
        )
        extras = []
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype!r}")
        if self._grad_fn is not None:
            extras.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # --- ops (forwarding to the op modules) --------------------------------------------------
    def __add__(self, other: Tensor | Scalar) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Scalar) -> Tensor:
        return ops.add(self, other)

    def __sub__(self, other: Tensor | Scalar) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: Scalar) -> Tensor:
        return ops.rsub(self, other)

    def __mul__(self, other: Tensor | Scalar) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: Scalar) -> Tensor:
        return ops.mul(self, other)

    def __truediv__(self, other: Tensor | Scalar) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: Scalar) -> Tensor:
        return ops.mul(ops.reciprocal(self), other)  # torch records 1/x as x.reciprocal() * 1

    def __pow__(self, exponent: Tensor | Scalar) -> Tensor:
        return ops.pow(self, exponent)

    def __rpow__(self, base: Scalar) -> Tensor:
        return ops.rpow(self, base)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __matmul__(self, other: Tensor) -> Tensor:
        return matmul.matmul(self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return matmul.matmul(other, self)

    def __gt__(self, other: Tensor | Scalar) -> Tensor:
        return ops.gt(self, other)

    def __lt__(self, other: Tensor | Scalar) -> Tensor:
        return ops.lt(self, other)

    def __ge__(self, other: Tensor | Scalar) -> Tensor:
        return ops.ge(self, other)

    def __le__(self, other: Tensor | Scalar) -> Tensor:
        return ops.le(self, other)

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return ops.eq(self, other)  # type: ignore[arg-type]

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return ops.ne(self, other)  # type: ignore[arg-type]

    def add(self, other: Tensor | Scalar) -> Tensor:
        return ops.add(self, other)

    def sub(self, other: Tensor | Scalar) -> Tensor:
        return ops.sub(self, other)

    def mul(self, other: Tensor | Scalar) -> Tensor:
        return ops.mul(self, other)

    def div(self, other: Tensor | Scalar) -> Tensor:
        return ops.div(self, other)

    def pow(self, exponent: Tensor | Scalar) -> Tensor:
        return ops.pow(self, exponent)

    def neg(self) -> Tensor:
        return ops.neg(self)

    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def sigmoid(self) -> Tensor:
        return ops.sigmoid(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def relu(self) -> Tensor:
        return ops.relu(self)

    def abs(self) -> Tensor:
        return ops.abs(self)

    def reciprocal(self) -> Tensor:
        return ops.reciprocal(self)

    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return ops.sum(self, dim, keepdim)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return ops.mean(self, dim, keepdim)

    def matmul(self, other: Tensor) -> Tensor:
        return matmul.matmul(self, other)

    def mm(self, other: Tensor) -> Tensor:
        return matmul.mm(self, other)

    def mv(self, other: Tensor) -> Tensor:
        return matmul.mv(self, other)

    def dot(self, other: Tensor) -> Tensor:
        return matmul.dot(self, other)

    @property
    def T(self) -> Tensor:  # noqa: N802
        return shape_ops.permute(self, tuple(range(self._data.ndim - 1, -1, -1)))

    def t(self) -> Tensor:
        return shape_ops.t(self)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return shape_ops.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        return shape_ops.permute(self, shape_ops.size_args(dims))

    def reshape(self, *shape: Any) -> Tensor:
        return shape_ops.reshape(self, shape_ops.size_args(shape))

    def view(self, *shape: Any) -> Tensor:
        return shape_ops.reshape(self, shape_ops.size_args(shape))

    def expand(self, *sizes: Any) -> Tensor:
        return shape_ops.expand(self, shape_ops.size_args(sizes))

    def unsqueeze(self, dim: int) -> Tensor:
        return shape_ops.unsqueeze(self, dim)

    def squeeze(self, dim: int) -> Tensor:
        return shape_ops.squeeze(self, dim)

    def __getitem__(self, index: Any) -> Tensor:
        return shape_ops.index(self, index)

    def __setitem__(self, index: Any, value: Tensor | Scalar) -> None:
        shape_ops.index_put_(self, index, value)

    # in-place ops: see ops.inplace for the leaf rule
    def add_(self, other: Tensor | Scalar) -> Tensor:
        return ops.inplace(self, ops.add, other)

    def sub_(self, other: Tensor | Scalar) -> Tensor:
        return ops.inplace(self, ops.sub, other)

    def mul_(self, other: Tensor | Scalar) -> Tensor:
        return ops.inplace(self, ops.mul, other)

    def div_(self, other: Tensor | Scalar) -> Tensor:
        return ops.inplace(self, ops.div, other)

    def zero_(self) -> Tensor:
        return ops.zero_(self)

    def __iadd__(self, other: Tensor | Scalar) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Tensor | Scalar) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Tensor | Scalar) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Tensor | Scalar) -> Tensor:
        return self.div_(other)

    def float(self) -> Tensor:
        return ops.to(self, np.dtype(np.float32))

    def double(self) -> Tensor:
        return ops.to(self, np.dtype(np.float64))

    def long(self) -> Tensor:
        return ops.to(self, np.dtype(np.int64))

    def to(self, target: DType | str) -> Tensor:
        if isinstance(target, DType):
            return ops.to(self, target.np)
        return self  # only 'cpu' exists here


def _c_name(arr_dtype: np.dtype) -> str:
    return {"float32": "float", "float64": "double", "int64": "long int"}.get(
        arr_dtype.name, arr_dtype.name
    )


from . import matmul, ops, shape_ops  # noqa: E402  (the op modules import Tensor from here)
