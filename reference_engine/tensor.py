"""The Tensor: a NumPy array plus the autograd bookkeeping PyTorch exposes.

Leaf tensors keep `_requires_grad` and (lazily) one cached AccumulateGrad node; op results
keep their `_grad_fn`. The math lives in ops.py, shape_ops.py, matmul.py and inplace_ops.py,
which build on this module; methods.py binds the operators and methods that call it (`x + y`,
`x.sum()`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import autograd, hooks, versions
from .autograd import AccumulateGrad, CloneBackward0, CopyBackwards, Node, edge
from .dtypes import CPU, Size, device, dtype, short_name, to_dtype
from .grad_mode import GradMode, InferenceArray, mark_if_inference, refuse_saved_inference

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
    # _version_counter: made on first need (versions.py), shared by detach() and views;
    # _view: a view's base and index map (views.py), set only on views
    __slots__ = (
        "_data", "_requires_grad", "_grad_fn", "_grad", "_acc", "_retains_grad", "_version_counter",
        "_view",
    )  # fmt: skip

    # Bound by methods.py, as every op method; declared here because backward formulas call
    # them: a backward that needs an op of another op module calls it as a method, bound late,
    # so that the op modules need not import each other (ops.py's sum backward, g.expand).
    expand: Callable[..., Tensor]
    unsqueeze: Callable[[int], Tensor]
    sum_to_size: Callable[..., Tensor]

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
        t._data = mark_if_inference(data) if GradMode.inference else data  # no call: hot path
        t._requires_grad = requires_grad
        t._grad_fn = None
        t._grad = None
        t._acc = None
        t._retains_grad = False
        return t

    @classmethod
    def _result(cls, data: np.ndarray, node: Node) -> Tensor:
        if node.saved:
            refuse_saved_inference(node.saved)
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

    def _accumulate_grad(self, grad: Tensor) -> None:
        """torch's AccumulateGrad. Outside grad mode (a plain backward): the first gradient is
        a private C-contiguous copy in our dtype, later ones add into it in place. In grad mode
        (create_graph=True) .grad must stay differentiable: the first is a copy recorded as
        CopyBackwards (when the gradient requires grad), later ones make a new .grad, old + new."""
        data = self._data
        g = self._grad
        if GradMode.enabled:
            if grad._data.dtype != data.dtype:
                grad = grad.to(self.dtype)  # type: ignore[attr-defined]
            if g is not None:
                self._grad = g + grad  # type: ignore[operator]
                return
            copy = np.array(grad._data, order="C")
            if grad._requires_grad:
                self._grad = Tensor._result(copy, CopyBackwards((edge(grad),)))
            else:
                self._grad = Tensor._wrap(copy)
        elif g is None:
            self._grad = Tensor._wrap(np.array(grad._data, dtype=data.dtype, order="C"))
        else:
            np.add(g._data, grad._data, out=g._data, casting="unsafe")

    def _retain_grad(self, grad: Tensor) -> None:
        """torch's retain_grad hook: the first gradient is a clone (recorded as CloneBackward0
        in grad mode, when the gradient requires grad), later ones make a new .grad, old + new,
        always out of place (so a plain backward, or an autograd.grad passing through, leaves a
        .grad without history)."""
        g = self._grad
        if g is not None:
            self._grad = g + grad  # type: ignore[operator]
        elif GradMode.enabled and grad._requires_grad:
            copy = np.array(grad._data, order="C")
            self._grad = Tensor._result(copy, CloneBackward0((edge(grad),)))
        else:
            self._grad = Tensor._wrap(np.array(grad._data, order="C"))

    def _grad_tensor(self, grad: Tensor, create_graph: bool) -> Tensor:
        """What autograd.grad returns for us: with create_graph the gradient itself, part of the
        graph (as torch, which may hand back the seed tensor); else a new tensor in our dtype."""
        if create_graph:
            return grad if grad._data.dtype == self._data.dtype else grad.to(self.dtype)  # type: ignore[attr-defined]
        return Tensor._wrap(np.array(grad._data, dtype=self._data.dtype))

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

    def register_hook(self, hook: Any) -> hooks.RemovableHandle:
        if not self._requires_grad:
            raise RuntimeError(hooks.NO_GRAD_MSG)
        node = self._grad_fn if self._grad_fn is not None else self._accumulator()
        if node.hooks is None:
            node.hooks = {}
        return hooks.add(node.hooks, hooks.tensor_hook(hook))

    def register_post_accumulate_grad_hook(self, hook: Any) -> hooks.RemovableHandle:
        if not self._requires_grad:
            raise RuntimeError(hooks.NO_GRAD_MSG)
        if self._grad_fn is not None:
            raise RuntimeError(hooks.NON_LEAF_POST_MSG)
        acc = self._accumulator()
        if acc.post_hooks is None:
            acc.post_hooks = {}
        return hooks.add(acc.post_hooks, hook)

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Tensor | Sequence[Tensor] | None = None,
    ) -> None:
        autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        return versions.share(Tensor._wrap(self._data), self)  # one storage, one version count

    @property
    def _version(self) -> int:
        return versions.counter(self).value

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

    def is_inference(self) -> bool:
        return isinstance(self._data, InferenceArray)

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

    __hash__ = object.__hash__  # tensors hash by identity, though == (methods.py) is elementwise

    def __repr__(self) -> str:
        body = np.array2string(
            self._data, separator=", ", prefix="tensor(", precision=4, floatmode="maxprec_equal"
        )
        extras = []
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype!r}")
        if self._grad_fn is not None:
            extras.append(f"grad_fn=<{type(self._grad_fn).__name__}>")  # CopySlices, as torch
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"


Grads = tuple[Tensor | None, ...]
"""What a backward (Node.apply) returns: one gradient per input, None for an input that gets
none."""


def _c_name(arr_dtype: np.dtype) -> str:
    return {"float32": "float", "float64": "double", "int64": "long int"}.get(
        arr_dtype.name, arr_dtype.name
    )
