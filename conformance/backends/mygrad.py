"""mygrad (NumPy-backed, tape-based): `constant` is the inverse of `requires_grad`.

The mapping, concept by concept (docs/engines.md has the long form):

- `requires_grad` is `not tensor.constant`; `constant` is fixed at creation (no setter), so
  `requires_grad_toggle` is not declared.
- `grad_fn` is `tensor.creator` (the `Operation` that produced it); a leaf is a tensor without a
  creator. mygrad has no per-leaf accumulate nodes, so `graph` is not declared.
- `backward(grad)` writes `.grad` on every non-constant tensor of the graph (intermediates too)
  and then clears the graph; there is no `retain_graph` and no `retain_grad` opt-in.
- `mygrad.no_autodiff` is the no-grad context; mygrad has no `enable_grad` counterpart.
- mygrad has no `autograd.grad`; the functional VJP is what a mygrad user writes: fresh tensors,
  `output.backward(cotangent)`, read `.grad`.
- comparisons (`mygrad.greater`) return NumPy arrays, not Tensors: outside any graph, so the
  adapter reads them as constant leaves without a creator;
- `linear` and `bce_with_logits` are not mygrad ops; they are written as a mygrad user writes
  them (`x @ W.T + b`; PyTorch's documented BCE formula with mygrad's stable `logaddexp`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import numpy as np

from conformance.protocol import Capabilities, DeviceUnavailable, EngineMissing, Node, Tensor
from conformance.spec.ops import expanded_shape, optional_operands, reduction_dims

NOTES = {
    "graph": "mygrad records each result's creator Operation but has no per-leaf accumulate "
    "nodes, so there is no AccumulateGrad-style graph to walk",
    "retain_graph": "mygrad.Tensor.backward always clears the graph after back-propagating; "
    "it has no retain_graph option",
    "retain_grad": "mygrad has no retain_grad opt-in: backward writes .grad on every "
    "non-constant tensor of the graph, intermediates included",
    "requires_grad_toggle": "mygrad.Tensor.constant is fixed at creation (read-only property)",
    "enable_grad": "mygrad has no context that re-enables graph tracking inside no_autodiff",
    "grad_of": "mygrad has no autograd.grad: its only gradient API is backward() into .grad",
}

OpFn = Callable[[Any, Sequence[Any], Mapping[str, Any]], Any]


def _linear(mg: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
    out = mg.matmul(a[0], a[1].T)
    bias = optional_operands(a, p).get("bias")
    return out if bias is None else mg.add(out, bias)


def _bce_with_logits(mg: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
    # PyTorch's documented formula, -w [pw y log s(z) + (1 - y) log(1 - s(z))], with
    # -log s(z) = logaddexp(0, -z). Constants carry z's dtype: mygrad promotes Python scalars to
    # float64 arrays, and the composition must not change the dtype the program asked for.
    z, y = a[0], a[1]
    extra = optional_operands(a, p)
    zero, one = np.zeros((), z.dtype), np.ones((), z.dtype)
    positive = mg.multiply(y, mg.logaddexp(zero, mg.negative(z)))
    if "pos_weight" in extra:
        positive = mg.multiply(extra["pos_weight"], positive)
    loss = mg.add(positive, mg.multiply(mg.subtract(one, y), mg.logaddexp(zero, z)))
    if "weight" in extra:
        loss = mg.multiply(extra["weight"], loss)
    reduction = p.get("reduction", "mean")
    if reduction == "mean":
        return mg.mean(loss)
    if reduction == "sum":
        return mg.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


OPS: dict[str, OpFn] = {
    "add": lambda mg, a, p: mg.add(a[0], a[1]),
    "sub": lambda mg, a, p: mg.subtract(a[0], a[1]),
    "mul": lambda mg, a, p: mg.multiply(a[0], a[1]),
    "div": lambda mg, a, p: mg.divide(a[0], a[1]),
    "neg": lambda mg, a, p: mg.negative(a[0]),
    "pow": lambda mg, a, p: mg.power(a[0], p["exponent"]),
    "exp": lambda mg, a, p: mg.exp(a[0]),
    "log": lambda mg, a, p: mg.log(a[0]),
    "sigmoid": lambda mg, a, p: mg.nnet.sigmoid(a[0]),
    "tanh": lambda mg, a, p: mg.tanh(a[0]),
    "relu": lambda mg, a, p: mg.nnet.relu(a[0]),
    "abs": lambda mg, a, p: mg.abs(a[0]),
    "sum": lambda mg, a, p: mg.sum(a[0], axis=reduction_dims(p), keepdims=bool(p.get("keepdim"))),
    "mean": lambda mg, a, p: mg.mean(a[0], axis=reduction_dims(p), keepdims=bool(p.get("keepdim"))),
    "matmul": lambda mg, a, p: mg.matmul(a[0], a[1]),
    "transpose": lambda mg, a, p: mg.swapaxes(a[0], p["dim0"], p["dim1"]),
    "reshape": lambda mg, a, p: mg.reshape(a[0], tuple(p["shape"])),
    "expand": lambda mg, a, p: mg.broadcast_to(a[0], expanded_shape(a[0].shape, p["shape"])),
    "index": lambda mg, a, p: a[0][np.asarray(list(p["indices"]), dtype=np.int64)],
    "gt": lambda mg, a, p: mg.greater(a[0], a[1]),
    "linear": _linear,
    "bce_with_logits": _bce_with_logits,
}


class MygradAdapter:
    name: ClassVar[str] = "mygrad"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    capabilities: Capabilities = Capabilities(
        graph=False,
        retain_graph=False,
        retain_grad=False,
        requires_grad_toggle=False,
        enable_grad=False,
        grad_of=False,
        notes=NOTES,
    )

    def __init__(self, device: str = "cpu") -> None:
        try:
            import mygrad
        except ImportError as exc:
            raise EngineMissing("mygrad", "mygrad") from exc
        if device != "cpu":
            raise DeviceUnavailable(f"mygrad: unknown device {device!r}; mygrad runs on cpu only")
        self.mg = mygrad
        self.device = device

    # -- functional level -------------------------------------------------------------------
    def version(self) -> str:
        return str(self.mg.__version__)

    def environment(self) -> dict[str, Any]:
        return {"mygrad_version": self.mg.__version__, "numpy_version": np.__version__}

    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> Tensor:
        array = np.asarray(array)
        # Integer tensors cannot be non-constant; mygrad raises, as PyTorch does.
        return self.mg.tensor(array, dtype=array.dtype, constant=not requires_grad)

    def to_numpy(self, tensor: Tensor) -> np.ndarray:
        return np.array(_data(tensor), copy=True)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        return OPS[op](self.mg, args, params)

    def vjp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        leaves = [self.tensor(p, requires_grad=p.dtype.kind == "f") for p in primals]
        outputs = list(fn(leaves))
        values = [self.to_numpy(o) for o in outputs]
        seeded = [(o, c) for o, c in zip(outputs, cotangents, strict=True) if self.requires_grad(o)]
        if not seeded:
            return values, [None] * len(leaves)
        if len(seeded) == 1:
            root, seed = seeded[0][0], np.asarray(seeded[0][1], dtype=seeded[0][0].dtype)
        else:
            # One backward from a scalar that sums <output, cotangent> over all outputs: mygrad
            # back-propagates from one tensor and does not accumulate across backward calls.
            terms = [self.mg.sum(self.mg.multiply(o, np.asarray(c, o.dtype))) for o, c in seeded]
            root, seed = self.mg.add_sequence(*terms) if len(terms) > 1 else terms[0], None
        root.backward(seed)
        return values, [self.grad(leaf) for leaf in leaves]

    # -- tape level -------------------------------------------------------------------------
    def requires_grad(self, tensor: Tensor) -> bool:
        return not getattr(tensor, "constant", True)

    def set_requires_grad(self, tensor: Tensor, flag: bool) -> Tensor:
        tensor.constant = not flag  # raises AttributeError: mygrad's `constant` has no setter
        return tensor

    def is_leaf(self, tensor: Tensor) -> bool:
        return getattr(tensor, "creator", None) is None

    def grad_fn(self, tensor: Tensor) -> Node | None:
        return getattr(tensor, "creator", None)

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        if retain_graph or inputs is not None:
            raise TypeError("mygrad.Tensor.backward has no retain_graph or inputs argument")
        tensor.backward(None if gradient is None else np.asarray(gradient))

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        grad = getattr(tensor, "grad", None)
        return None if grad is None else np.array(grad, copy=True)

    def grad_dtype(self, tensor: Tensor) -> str | None:
        grad = getattr(tensor, "grad", None)
        return None if grad is None else str(grad.dtype)

    def clear_grad(self, tensor: Tensor) -> None:
        tensor.null_grad()

    def zero_grad(self, tensor: Tensor) -> None:
        tensor.grad[...] = 0  # .grad is a plain NumPy array; zero it in place

    def retain_grad(self, tensor: Tensor) -> None:
        raise NotImplementedError(NOTES["retain_grad"])

    def detach(self, tensor: Tensor) -> Tensor:
        # mygrad has no detach(); a constant tensor made from the data is how its users cut a graph.
        return self.mg.tensor(tensor.data, constant=True)

    def no_grad(self) -> AbstractContextManager[Any]:
        return self.mg.no_autodiff

    def enable_grad(self) -> AbstractContextManager[Any]:
        raise NotImplementedError("mygrad has no context that re-enables graph tracking")

    def grad_of(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray] | None = None,
        *,
        retain_graph: bool = False,
        allow_unused: bool = False,
    ) -> list[np.ndarray | None]:
        raise NotImplementedError(
            "mygrad has no autograd.grad: its only gradient API is backward() into .grad"
        )

    def inplace_add(self, tensor: Tensor, other: Tensor) -> Tensor:
        result = tensor
        result += other  # mygrad's in-place add, recorded in the graph
        return result

    def dtype(self, tensor: Tensor) -> str:
        return str(np.asarray(_data(tensor)).dtype)


def _data(tensor: Any) -> np.ndarray:
    """A Tensor's array; mygrad's comparisons (`mg.greater`) return plain NumPy values, which
    take no part in a graph: no creator, no gradient, nothing to differentiate."""
    return tensor.data if hasattr(tensor, "creator") else np.asarray(tensor)
