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

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from conformance.backends.opmap import Spelling, resolve
from conformance.backends.tape import TapeVJP
from conformance.protocol import Capabilities, DeviceUnavailable, EngineMissing, Node, Tensor
from conformance.spec.ops import expanded_shape, optional_operands

NOTES = {
    "dtype:bfloat16": "mygrad computes with NumPy, which has no bfloat16",
    "graph": "mygrad records each result's creator Operation but has no per-leaf accumulate "
    "nodes, so there is no AccumulateGrad-style graph to walk",
    "retain_graph": "mygrad.Tensor.backward always clears the graph after back-propagating; "
    "it has no retain_graph option",
    "retain_grad": "mygrad has no retain_grad opt-in: backward writes .grad on every "
    "non-constant tensor of the graph, intermediates included",
    "requires_grad_toggle": "mygrad.Tensor.constant is fixed at creation (read-only property)",
    "enable_grad": "mygrad has no context that re-enables graph tracking inside no_autodiff",
    "grad_modes": "mygrad has no set_grad_enabled and no is_grad_enabled: no_autodiff (a block and "
    "a decorator) is its only grad mode",
    "inference_mode": "mygrad has no inference mode and no inference tensors",
    "grad_of": "mygrad has no autograd.grad: its only gradient API is backward() into .grad",
    "materialize_grads": "mygrad has no autograd.grad, so no materialize_grads either",
    "hooks": "mygrad.Tensor has no register_hook nor any other gradient hook",
    "post_accumulate_grad_hooks": "mygrad.Tensor has no hook run after .grad is written",
    "create_graph": "mygrad has no autograd.grad, and its .grad is a plain NumPy array: "
    "gradients are never recorded, so there are no higher-order gradients",
    "backward_create_graph": "mygrad.Tensor.backward has no create_graph: .grad is a plain NumPy "
    "array outside any graph",
    "backward_inputs": "mygrad.Tensor.backward takes only the gradient: no inputs argument",
    "hvp": "mygrad has no higher-order gradients (.grad is a plain NumPy array), so no "
    "Hessian-vector product by nested differentiation",
    "forward_mode": "mygrad 2.5 has reverse mode only: no jvp, dual tensors or other forward-mode "
    "API",
}


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


SPELLINGS: dict[str, Spelling] = {
    "sub": "subtract",
    "mul": "multiply",
    "div": "divide",
    "neg": "negative",
    "pow": "power",
    "sigmoid": "nnet.sigmoid",
    "relu": "nnet.relu",
    "transpose": "swapaxes",
    "gt": "greater",
    "expand": lambda mg, a, p: mg.broadcast_to(a[0], expanded_shape(a[0].shape, p["shape"])),
    "index": lambda mg, a, p: a[0][np.asarray(list(p["indices"]), dtype=np.int64)],
    "linear": _linear,
    "bce_with_logits": _bce_with_logits,
}
"""The ops mygrad spells other than `mygrad.<name>(*operands, *params)`."""


class MygradAdapter(TapeVJP):
    name: ClassVar[str] = "mygrad"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    capabilities: Capabilities = Capabilities(
        graph=False,
        retain_graph=False,
        retain_grad=False,
        requires_grad_toggle=False,
        enable_grad=False,
        grad_modes=False,
        inference_mode=False,
        grad_of=False,
        materialize_grads=False,
        hooks=False,
        post_accumulate_grad_hooks=False,
        create_graph=False,
        backward_create_graph=False,
        backward_inputs=False,
        dtypes=frozenset({"float16", "float32", "float64"}),  # NumPy's: no bfloat16
        notes=NOTES,
    )
    # Tried on mygrad 2.5: it refuses these two with ValueError. It does not refuse backward() on
    # a non-scalar (it seeds ones), on a constant (it does nothing), an in-place op on a leaf (it
    # records it), nor backward after a saved tensor was changed in place (its in-place ops keep
    # the old values for backward): those kinds are left out, and their requirements fail.
    refusals: ClassVar[Mapping[str, tuple[type[Exception], ...]]] = {
        "integer_requires_grad": (ValueError,),  # "Integer-valued tensors must be ... constants"
        "gradient_shape": (ValueError,),  # "... was passed a gradient with an incompatible shape"
    }

    def __init__(self, device: str = "cpu") -> None:
        try:
            import mygrad
        except ImportError as exc:
            raise EngineMissing("mygrad", "mygrad") from exc
        if device != "cpu":
            raise DeviceUnavailable(f"mygrad: unknown device {device!r}; mygrad runs on cpu only")
        self.mg = mygrad
        self.device = device
        self._ops = resolve(mygrad, SPELLINGS)
        self.capabilities = replace(self.capabilities, ops=self.capabilities.ops & set(self._ops))

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
        return self._ops[op](args, params)

    def _tracks(self, tensor: Tensor) -> bool:
        return self.requires_grad(tensor)

    def _pull_back(
        self, outputs: Sequence[Tensor], leaves: Sequence[Tensor], seeds: Sequence[np.ndarray]
    ) -> list[np.ndarray | None]:
        # mygrad has no autograd.grad: one backward, then .grad is read (a fresh graph per call).
        if len(outputs) == 1:
            root, seed = outputs[0], seeds[0]
        else:
            # From a scalar that sums <output, cotangent> over all outputs: mygrad
            # back-propagates from one tensor and does not accumulate across backward calls.
            terms = [
                self.mg.sum(self.mg.multiply(o, c)) for o, c in zip(outputs, seeds, strict=True)
            ]
            root, seed = self.mg.add_sequence(*terms), None
        root.backward(seed)
        return [self.grad(leaf) for leaf in leaves]

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

    def backward_tensor(self, tensor: Tensor, gradient: Tensor) -> None:
        tensor.backward(gradient)

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
        materialize_grads: bool = False,
    ) -> list[np.ndarray | None]:
        raise NotImplementedError(
            "mygrad has no autograd.grad: its only gradient API is backward() into .grad"
        )

    def inplace_add(self, tensor: Tensor, other: Tensor) -> Tensor:
        result = tensor
        result += other  # mygrad's in-place add, recorded in the graph
        return result

    def inplace(self, op: str, tensor: Tensor, other: Tensor) -> Tensor:
        result = tensor
        if op == "add":
            result += other
        elif op == "mul":
            result *= other  # mygrad's in-place ops, recorded in the graph (views included)
        else:
            raise ValueError(f"no in-place {op!r} in the protocol (add, mul)")
        return result

    def narrow(self, tensor: Tensor, dim: int, start: int, length: int) -> Tensor:
        # basic slicing gives a view in mygrad (Tensor.base is the viewed tensor)
        return tensor[(slice(None),) * dim + (slice(start, start + length),)]

    def dtype(self, tensor: Tensor) -> str:
        return str(np.asarray(_data(tensor)).dtype)


def _data(tensor: Any) -> np.ndarray:
    """A Tensor's array; mygrad's comparisons (`mg.greater`) return plain NumPy values, which
    take no part in a graph: no creator, no gradient, nothing to differentiate."""
    return tensor.data if hasattr(tensor, "creator") else np.asarray(tensor)
