"""One adapter for every engine with PyTorch's Python API: PyTorch itself and the reference engine.

The mapping is the identity on concepts: leaves, `requires_grad_`, `grad_fn.next_functions`,
`AccumulateGrad.variable`, `backward`, `autograd.grad`. Only tensor creation and the device
differ, which is why `reference` and `torch` are two thin subclasses of this one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from conformance.backends.opmap import Custom, Spelling, resolve
from conformance.backends.tape import TapeVJP, TensorHooks
from conformance.protocol import REFUSAL_KINDS, Capabilities, Node, Tensor
from conformance.spec.ops import optional_operands, reduction_dims


def _reduction(name: str) -> Custom:
    # dim=None calls the all-dims overload (SumBackward0), not the dim overload (SumBackward1).
    def run(m: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
        dims = reduction_dims(p)
        fn = getattr(m, name)
        return fn(a[0]) if dims is None else fn(a[0], dim=dims, keepdim=bool(p.get("keepdim")))

    return run


SPELLINGS: dict[str, Spelling] = {
    "sum": _reduction("sum"),
    "mean": _reduction("mean"),
    # One tuple argument: `expand(*())` is a TypeError in PyTorch, `expand(())` is 0-d.
    "expand": lambda m, a, p: a[0].expand(tuple(p["shape"])),
    "index": lambda m, a, p: a[0][m.tensor(list(p["indices"]), dtype=m.int64)],
    "linear": lambda m, a, p: m.nn.functional.linear(a[0], a[1], **optional_operands(a, p)),
    "bce_with_logits": lambda m, a, p: m.nn.functional.binary_cross_entropy_with_logits(
        a[0], a[1], reduction=p.get("reduction", "mean"), **optional_operands(a, p)
    ),
}
"""The ops PyTorch's namespace spells other than `torch.<name>(*operands, *params)`."""


class TorchLikeAdapter(TensorHooks, TapeVJP):
    """Adapter for a module with PyTorch's API (`module.tensor`, `module.autograd.grad`, ...)."""

    name: ClassVar[str] = ""
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    capabilities: Capabilities = Capabilities(device_placement=True, hvp=True, forward_mode=True)
    refusals: ClassVar[Mapping[str, tuple[type[Exception], ...]]] = dict.fromkeys(
        REFUSAL_KINDS, (RuntimeError,)
    )  # every one checked by hand on torch 2.13 (tests/reference_engine/test_refengine_errors.py)

    def __init__(self, module: ModuleType, device: str = "cpu") -> None:
        self.m = module
        self.device = device
        self._ops = resolve(module, SPELLINGS)
        self.capabilities = replace(self.capabilities, ops=self.capabilities.ops & set(self._ops))
        self._dtypes = {
            "float16": module.float16,
            "float32": module.float32,
            "float64": module.float64,
            "int64": module.int64,
            "bool": module.bool,
        }
        if hasattr(module, "bfloat16"):  # PyTorch; the reference engine has NumPy's dtypes only
            self._dtypes["bfloat16"] = module.bfloat16
        if hasattr(module, "complex128"):  # PyTorch only, as bfloat16
            self._dtypes.update(complex64=module.complex64, complex128=module.complex128)

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

    def _tracks(self, tensor: Tensor) -> bool:
        return bool(tensor.requires_grad)

    def _pull_back(
        self, outputs: Sequence[Tensor], leaves: Sequence[Tensor], seeds: Sequence[np.ndarray]
    ) -> list[np.ndarray | None]:
        grads = self.m.autograd.grad(
            list(outputs),
            list(leaves),
            grad_outputs=[self.tensor(s) for s in seeds],
            allow_unused=True,
        )
        return [_maybe(self, g) for g in grads]

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

    def backward_tensor(self, tensor: Tensor, gradient: Tensor) -> None:
        tensor.backward(gradient)

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

    def grad_mode(self, name: str, *args: Any) -> Any:
        return getattr(self.m, name)(*args)

    def is_grad_enabled(self) -> bool:
        return bool(self.m.is_grad_enabled())

    def is_inference(self, tensor: Tensor) -> bool:
        return bool(tensor.is_inference())

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
        seeds = None if grad_outputs is None else [self.tensor(np.asarray(g)) for g in grad_outputs]
        # torch refuses materialize_grads with an explicit allow_unused=False: "not passed" is None
        unused = {"materialize_grads": True, "allow_unused": allow_unused or None}
        grads = self.m.autograd.grad(
            list(outputs),
            list(inputs),
            grad_outputs=seeds,
            retain_graph=retain_graph,
            **(unused if materialize_grads else {"allow_unused": allow_unused}),
        )
        return [_maybe(self, g) for g in grads]

    def inplace_add(self, tensor: Tensor, other: Tensor) -> Tensor:
        return tensor.add_(other)

    # -- higher order -------------------------------------------------------------------------
    def grad_graph(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray],
        *,
        create_graph: bool = True,
    ) -> list[Tensor | None]:
        seeds = [self.tensor(np.asarray(g)) for g in grad_outputs]
        return list(
            self.m.autograd.grad(
                list(outputs),
                list(inputs),
                grad_outputs=seeds,
                create_graph=create_graph,
                allow_unused=True,
            )
        )

    def backward_graph(self, tensor: Tensor, gradient: np.ndarray | None = None) -> None:
        seed = None if gradient is None else self.tensor(np.asarray(gradient))
        with warnings.catch_warnings():
            # PyTorch warns that .grad now references its own leaf (a reference cycle): the
            # point of the call, and the suites clear .grad afterwards.
            warnings.filterwarnings("ignore", "Using backward\\(\\) with create_graph=True")
            tensor.backward(seed, create_graph=True)

    def grad_tensor(self, tensor: Tensor) -> Tensor | None:
        return tensor.grad

    def hvp(
        self,
        fn: Callable[[Sequence[Tensor]], Tensor],
        primals: Sequence[np.ndarray],
        vectors: Sequence[np.ndarray],
    ) -> list[np.ndarray | None]:
        # Reverse over reverse, as torch.autograd.functional.hvp does: the gradient recorded in
        # the graph, its inner product with the vector, and that product's gradient.
        leaves = [self.tensor(p, requires_grad=p.dtype.kind == "f") for p in primals]
        wanted = [n for n, leaf in enumerate(leaves) if leaf.requires_grad]
        result: list[np.ndarray | None] = [None] * len(leaves)
        out = fn(leaves)
        if not wanted or not out.requires_grad:
            return result
        firsts = self.m.autograd.grad(
            [out], [leaves[n] for n in wanted], create_graph=True, allow_unused=True
        )
        terms = [
            (g * self.tensor(np.asarray(vectors[n], dtype=np.asarray(primals[n]).dtype))).sum()
            for n, g in zip(wanted, firsts, strict=True)
            if g is not None and g.requires_grad
        ]
        if not terms:
            return result  # the gradient does not depend on the inputs: H is zero
        seconds = self.m.autograd.grad(
            [sum(terms[1:], terms[0])], [leaves[n] for n in wanted], allow_unused=True
        )
        for n, h in zip(wanted, seconds, strict=True):
            result[n] = _maybe(self, h)
        return result

    # -- forward mode --------------------------------------------------------------------------
    def jvp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        tangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        # torch.autograd.forward_ad: float inputs made dual in one dual level, outputs unpacked
        # before it closes (leaving it drops every tangent).
        fwd = self.m.autograd.forward_ad
        with fwd.dual_level():
            inputs = [
                fwd.make_dual(self.tensor(p), self.tensor(np.asarray(t, dtype=p.dtype)))
                if p.dtype.kind == "f"
                else self.tensor(p)
                for p, t in zip(primals, tangents, strict=True)
            ]
            unpacked = [fwd.unpack_dual(o) for o in fn(inputs)]
            return (
                [self.to_numpy(o.primal) for o in unpacked],
                [_maybe(self, o.tangent) for o in unpacked],
            )

    # -- in-place ops and views ---------------------------------------------------------------
    def inplace(self, op: str, tensor: Tensor, other: Tensor) -> Tensor:
        if op not in ("add", "mul"):
            raise ValueError(f"no in-place {op!r} in the protocol (add, mul)")
        return getattr(tensor, f"{op}_")(other)

    def narrow(self, tensor: Tensor, dim: int, start: int, length: int) -> Tensor:
        return tensor.narrow(dim, start, length)

    # -- hooks --------------------------------------------------------------------------------
    def register_post_accumulate_grad_hook(
        self, tensor: Tensor, hook: Callable[[Tensor], None]
    ) -> Any:
        return tensor.register_post_accumulate_grad_hook(hook)

    def dtype(self, tensor: Tensor) -> str:
        return str(tensor.dtype).rsplit(".", 1)[-1]

    def cast(self, tensor: Tensor, dtype: str) -> Tensor:
        return tensor.to(self._dtypes[dtype])

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
