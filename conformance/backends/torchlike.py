"""One adapter for every engine with PyTorch's Python API: PyTorch itself and the reference engine.

The mapping is the identity on concepts: leaves, `requires_grad_`, `grad_fn.next_functions`,
`AccumulateGrad.variable`, `backward`, `autograd.grad`. Only tensor creation and the device
differ, which is why `reference` and `torch` are two thin subclasses of this one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from conformance.protocol import Capabilities, Node, Tensor
from conformance.spec.ops import optional_operands, reduction_dims


def _apply_table(m: Any) -> dict[str, Callable[[Sequence[Any], Mapping[str, Any]], Any]]:
    functional = m.nn.functional

    def reduce(fn: Callable[..., Any]) -> Callable[[Sequence[Any], Mapping[str, Any]], Any]:
        def run(a: Sequence[Any], p: Mapping[str, Any]) -> Any:
            dims = reduction_dims(p)
            if dims is None:
                return fn(a[0])
            return fn(a[0], dim=dims, keepdim=bool(p.get("keepdim", False)))

        return run

    return {
        "add": lambda a, p: m.add(a[0], a[1]),
        "sub": lambda a, p: m.sub(a[0], a[1]),
        "mul": lambda a, p: m.mul(a[0], a[1]),
        "div": lambda a, p: m.div(a[0], a[1]),
        "neg": lambda a, p: m.neg(a[0]),
        "pow": lambda a, p: m.pow(a[0], p["exponent"]),
        "exp": lambda a, p: m.exp(a[0]),
        "log": lambda a, p: m.log(a[0]),
        "sigmoid": lambda a, p: m.sigmoid(a[0]),
        "tanh": lambda a, p: m.tanh(a[0]),
        "relu": lambda a, p: m.relu(a[0]),
        "abs": lambda a, p: m.abs(a[0]),
        "sum": reduce(m.sum),
        "mean": reduce(m.mean),
        "matmul": lambda a, p: m.matmul(a[0], a[1]),
        "transpose": lambda a, p: m.transpose(a[0], p["dim0"], p["dim1"]),
        "reshape": lambda a, p: m.reshape(a[0], tuple(p["shape"])),
        # One tuple argument: `expand(*())` is a TypeError in PyTorch, `expand(())` is 0-d.
        "expand": lambda a, p: a[0].expand(tuple(p["shape"])),
        "index": lambda a, p: a[0][m.tensor(list(p["indices"]), dtype=m.int64)],
        "gt": lambda a, p: m.gt(a[0], a[1]),
        "linear": lambda a, p: functional.linear(a[0], a[1], **optional_operands(a, p)),
        "bce_with_logits": lambda a, p: functional.binary_cross_entropy_with_logits(
            a[0], a[1], reduction=p.get("reduction", "mean"), **optional_operands(a, p)
        ),
    }


class TorchLikeAdapter:
    """Adapter for a module with PyTorch's API (`module.tensor`, `module.autograd.grad`, ...)."""

    name: ClassVar[str] = ""
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    capabilities: Capabilities = Capabilities(device_placement=True)

    def __init__(self, module: ModuleType, device: str = "cpu") -> None:
        self.m = module
        self.device = device
        self._ops = _apply_table(module)
        self._dtypes = {
            "float32": module.float32,
            "float64": module.float64,
            "int64": module.int64,
            "bool": module.bool,
        }

    # -- functional level -------------------------------------------------------------------
    def version(self) -> str:
        return str(self.m.__version__)

    def environment(self) -> dict[str, Any]:
        return {}

    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> Tensor:
        array = np.asarray(array)
        return self.m.tensor(
            array,
            dtype=self._dtypes[array.dtype.name],
            requires_grad=requires_grad,
            **self._device_kwargs(),
        )

    def _device_kwargs(self) -> dict[str, Any]:
        return {}

    def to_numpy(self, tensor: Tensor) -> np.ndarray:
        # A copy: engines accumulate .grad in place, and callers compare before with after.
        return np.array(tensor.detach().numpy(), copy=True)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        return self._ops[op](args, params)

    def vjp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        leaves = [self.tensor(p, requires_grad=p.dtype.kind == "f") for p in primals]
        outputs = list(fn(leaves))
        values = [self.to_numpy(o) for o in outputs]
        pairs = [(o, c) for o, c in zip(outputs, cotangents, strict=True) if o.requires_grad]
        wanted = [leaf for leaf in leaves if leaf.requires_grad]
        if not pairs or not wanted:
            return values, [None] * len(leaves)
        grads = self.m.autograd.grad(
            [o for o, _ in pairs],
            wanted,
            grad_outputs=[self.tensor(np.asarray(c, dtype=self.dtype(o))) for o, c in pairs],
            allow_unused=True,
        )
        by_leaf = iter(grads)
        return values, [
            None if not leaf.requires_grad else _maybe(self, next(by_leaf)) for leaf in leaves
        ]

    # -- tape level -------------------------------------------------------------------------
    def requires_grad(self, tensor: Tensor) -> bool:
        return bool(tensor.requires_grad)

    def set_requires_grad(self, tensor: Tensor, flag: bool) -> Tensor:
        return tensor.requires_grad_(flag)

    def is_leaf(self, tensor: Tensor) -> bool:
        return bool(tensor.is_leaf)

    def grad_fn(self, tensor: Tensor) -> Node | None:
        return tensor.grad_fn

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        seed = None if gradient is None else self.tensor(np.asarray(gradient))
        tensor.backward(
            seed, retain_graph=retain_graph, inputs=None if inputs is None else list(inputs)
        )

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        return _maybe(self, tensor.grad)

    def grad_dtype(self, tensor: Tensor) -> str | None:
        grad = tensor.grad
        return None if grad is None else self.dtype(grad)

    def clear_grad(self, tensor: Tensor) -> None:
        tensor.grad = None

    def zero_grad(self, tensor: Tensor) -> None:
        tensor.grad.zero_()

    def retain_grad(self, tensor: Tensor) -> None:
        tensor.retain_grad()

    def detach(self, tensor: Tensor) -> Tensor:
        return tensor.detach()

    def no_grad(self) -> AbstractContextManager[Any]:
        return self.m.no_grad()

    def enable_grad(self) -> AbstractContextManager[Any]:
        return self.m.enable_grad()

    def grad_of(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray] | None = None,
        *,
        retain_graph: bool = False,
        allow_unused: bool = False,
    ) -> list[np.ndarray | None]:
        seeds = None if grad_outputs is None else [self.tensor(np.asarray(g)) for g in grad_outputs]
        grads = self.m.autograd.grad(
            list(outputs),
            list(inputs),
            grad_outputs=seeds,
            retain_graph=retain_graph,
            allow_unused=allow_unused,
        )
        return [_maybe(self, g) for g in grads]

    def inplace_add(self, tensor: Tensor, other: Tensor) -> Tensor:
        return tensor.add_(other)

    def dtype(self, tensor: Tensor) -> str:
        return str(tensor.dtype).rsplit(".", 1)[-1]

    def device_of(self, tensor: Tensor) -> str:
        return str(tensor.device)

    def grad_device(self, tensor: Tensor) -> str | None:
        grad = tensor.grad
        return None if grad is None else str(grad.device)

    # -- graph level ------------------------------------------------------------------------
    def next_nodes(self, node: Node) -> list[Node | None]:
        return [nxt for nxt, _ in node.next_functions]

    def accumulated_tensor(self, node: Node) -> Tensor | None:
        return getattr(node, "variable", None)

    def node_name(self, node: Node) -> str:
        return type(node).__name__


def _maybe(adapter: TorchLikeAdapter, tensor: Tensor | None) -> np.ndarray | None:
    return None if tensor is None else adapter.to_numpy(tensor)
