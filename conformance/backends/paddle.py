"""PaddlePaddle (dynamic graph, "eager" mode): `stop_gradient` is the inverse of `requires_grad`.

The mapping, concept by concept (docs/engines.md has the long form):

- `requires_grad` is `not tensor.stop_gradient`, toggled by assigning `stop_gradient`;
- `is_leaf`, `grad_fn`, `backward(grad_tensor, retain_graph)`, `.grad`, `retain_grads()`,
  `detach()`, `paddle.no_grad`, `paddle.enable_grad`, `paddle.grad` are Paddle's own;
- the backward graph is Paddle's `GradNodeBase` objects: `next_functions` and `name()`; a leaf's
  `GradNodeAccumulation` does not expose its tensor, so `accumulated_tensor` finds the leaf (among
  tensors made through this adapter) whose own `grad_fn` is that node, by `node_ptr()`;
- `.grad = None` is `clear_gradient(False)` and zeroing in place is `clear_gradient()`;
- `linear`: Paddle's `F.linear` takes an (in, out) weight (`paddle.nn.Linear` stores it so), so the
  op set's (out, in) weight is transposed first.

`import paddle` creates ~/.cache/paddle/dataset; the adapter imports it with HOME pointed at a
temporary directory of its own.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from conformance.backends.opmap import Custom, Spelling, resolve
from conformance.backends.tape import TapeVJP, TensorHooks
from conformance.protocol import Capabilities, DeviceUnavailable, EngineMissing, Node, Tensor
from conformance.spec.ops import optional_operands, reduction_dims


def import_paddle() -> Any:
    """`import paddle` with HOME at a temporary directory: Paddle makes its cache dir at import."""
    import sys

    if "paddle" in sys.modules and sys.modules["paddle"] is not None:
        return sys.modules["paddle"]
    home = os.environ.get("HOME")
    os.environ["HOME"] = tempfile.mkdtemp(prefix="autograd-conformance-paddle-")
    try:
        import paddle
    except ImportError as exc:
        raise EngineMissing("paddle", "paddle") from exc
    finally:
        if home is None:
            del os.environ["HOME"]
        else:
            os.environ["HOME"] = home
    return paddle


def _linear(pd: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
    weight = pd.t(a[1]) if a[1].ndim == 2 else a[1]
    return pd.nn.functional.linear(a[0], weight, optional_operands(a, p).get("bias"))


def _reduce(name: str) -> Custom:
    def run(pd: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
        return getattr(pd, name)(a[0], axis=reduction_dims(p), keepdim=bool(p.get("keepdim")))

    return run


SPELLINGS: dict[str, Spelling] = {
    "sub": "subtract",
    "mul": "multiply",
    "div": "divide",
    "sigmoid": "nn.functional.sigmoid",
    "relu": "nn.functional.relu",
    "transpose": "swapaxes",
    "gt": "greater_than",
    "sum": _reduce("sum"),
    "mean": _reduce("mean"),
    # Paddle's shape arguments are lists.
    "reshape": lambda pd, a, p: pd.reshape(a[0], list(p["shape"])),
    "expand": lambda pd, a, p: pd.expand(a[0], list(p["shape"])),
    "index": lambda pd, a, p: a[0][
        pd.to_tensor(list(p["indices"]), dtype="int64", place=a[0].place)
    ],
    "linear": _linear,
    "bce_with_logits": lambda pd, a, p: pd.nn.functional.binary_cross_entropy_with_logits(
        a[0], a[1], reduction=p.get("reduction", "mean"), **optional_operands(a, p)
    ),
}
"""The ops Paddle spells other than `paddle.<name>(*operands, *params)`."""


class PaddleAdapter(TensorHooks, TapeVJP):
    name: ClassVar[str] = "paddle"
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    capabilities: Capabilities = Capabilities(
        materialize_grads=False,
        post_accumulate_grad_hooks=False,
        inference_mode=False,
        backward_create_graph=False,
        backward_inputs=False,
        hvp=True,
        forward_mode=True,
        notes={
            "dtype:float16": "Paddle 3.3 registers no float16 CPU kernel for add (nor most ops); "
            "CUDA kernels exist but are not declared here",
            "dtype:bfloat16": "Paddle 3.3's CPU kernels of add, exp, tanh, matmul, pow and most "
            "ops are not registered for bfloat16; CUDA kernels exist but are not declared here",
            "backward_create_graph": "paddle.Tensor.backward has no create_graph argument (only "
            "paddle.grad has one)",
            "backward_inputs": "paddle.Tensor.backward has no inputs argument",
            "inference_mode": "Paddle 3.3 has no inference mode and no inference tensors "
            "(paddle.inference is the deployment predictor, not a grad mode)",
            "materialize_grads": "paddle.grad has no materialize_grads: an unreached input gives "
            "None with allow_unused=True, never zeros",
            "post_accumulate_grad_hooks": "Paddle has only the private "
            "Tensor._register_backward_hook: its hook takes no argument and it returns no handle "
            "to remove it",
        },
    )
    # Tried on Paddle 3.3.1 (CPU). It does not refuse an integer tensor with stop_gradient=False,
    # backward() on a non-scalar (it seeds ones) nor on a tensor that stops gradient (it does
    # nothing): those kinds are left out, and their requirements fail.
    refusals: ClassVar[Mapping[str, tuple[type[Exception], ...]]] = {
        "gradient_shape": (AssertionError,),  # "Tensor shape not match, Tensor of grad_tensor ..."
        "unused_input": (ValueError,),  # "(InvalidArgument) The 1-th input does not appear ..."
        # the same ValueError; but with allow_unused=True Paddle returns None instead
        "input_without_grad": (ValueError,),
        "leaf_inplace": (ValueError,),  # "(InvalidArgument) Leaf Var ... can't use inplace ..."
        "modified_saved": (RuntimeError,),  # "(PermissionDenied) Tensor '' used in gradient ..."
        "freed_graph": (SystemError,),  # "(Fatal) The TensorWrappers of SumGradNode do not exist"
        "hook_without_grad": (RuntimeError,),  # "Cannot register hook on a tensor that stop ..."
    }

    def __init__(self, device: str = "cpu") -> None:
        paddle = import_paddle()
        kind, _, index = device.partition(":")
        if kind == "cpu" and not index:
            place = paddle.CPUPlace()
        elif kind == "cuda":
            count = paddle.device.cuda.device_count() if paddle.is_compiled_with_cuda() else 0
            if int(index or 0) >= count:
                raise DeviceUnavailable(
                    f"paddle:{device}: this paddlepaddle {paddle.__version__} build sees "
                    f"{count} GPU(s) (compiled with CUDA: {paddle.is_compiled_with_cuda()})"
                )
            place = paddle.CUDAPlace(int(index or 0))
        else:
            raise DeviceUnavailable(f"paddle: unknown device {device!r}; use cpu, cuda or cuda:N")
        self.pd = paddle
        self.device = device
        self._ops = resolve(paddle, SPELLINGS)
        self.capabilities = replace(self.capabilities, ops=self.capabilities.ops & set(self._ops))
        self._place = place
        self._leaves: list[weakref.ref[Any]] = []

    # -- functional level -------------------------------------------------------------------
    def version(self) -> str:
        return str(self.pd.__version__)

    def environment(self) -> dict[str, Any]:
        return {
            "paddle_version": self.pd.__version__,
            "paddle_commit": getattr(self.pd.version, "commit", None),
            "compiled_with_cuda": self.pd.is_compiled_with_cuda(),
            "place": str(self._place),
        }

    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> Tensor:
        array = np.asarray(array)
        t = self.pd.to_tensor(
            array, dtype=array.dtype.name, place=self._place, stop_gradient=not requires_grad
        )
        self._remember(t)
        return t

    def to_numpy(self, tensor: Tensor) -> np.ndarray:
        return np.array(tensor.detach().numpy(), copy=True)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        return self._ops[op](args, params)

    def _tracks(self, tensor: Tensor) -> bool:
        return not tensor.stop_gradient

    def _pull_back(
        self, outputs: Sequence[Tensor], leaves: Sequence[Tensor], seeds: Sequence[np.ndarray]
    ) -> list[np.ndarray | None]:
        grads = self.pd.grad(
            list(outputs),
            list(leaves),
            grad_outputs=[self.tensor(s) for s in seeds],
            allow_unused=True,
        )
        return [self._host(g) for g in grads]

    # -- tape level -------------------------------------------------------------------------
    def requires_grad(self, tensor: Tensor) -> bool:
        return not tensor.stop_gradient

    def set_requires_grad(self, tensor: Tensor, flag: bool) -> Tensor:
        tensor.stop_gradient = not flag
        self._remember(tensor)
        return tensor

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
        if inputs is not None:
            raise TypeError("paddle.Tensor.backward has no inputs argument")
        seed = None if gradient is None else self.tensor(np.asarray(gradient))
        tensor.backward(seed, retain_graph=retain_graph)

    def backward_tensor(self, tensor: Tensor, gradient: Tensor) -> None:
        tensor.backward(gradient)

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        return self._host(tensor.grad)

    def grad_dtype(self, tensor: Tensor) -> str | None:
        return None if tensor.grad is None else self.dtype(tensor.grad)

    def clear_grad(self, tensor: Tensor) -> None:
        tensor.clear_gradient(False)  # set_to_zero=False releases the gradient: .grad is None

    def zero_grad(self, tensor: Tensor) -> None:
        tensor.clear_gradient()  # set_to_zero=True: zeroes .grad in place

    def retain_grad(self, tensor: Tensor) -> None:
        tensor.retain_grads()

    def detach(self, tensor: Tensor) -> Tensor:
        detached = tensor.detach()
        self._remember(detached)
        return detached

    def no_grad(self) -> AbstractContextManager[Any]:
        return self.pd.no_grad()

    def enable_grad(self) -> AbstractContextManager[Any]:
        return self.pd.enable_grad()

    def grad_mode(self, name: str, *args: Any) -> Any:
        # paddle.no_grad, paddle.enable_grad, paddle.set_grad_enabled: PyTorch's names
        return getattr(self.pd, name)(*args)

    def is_grad_enabled(self) -> bool:
        return bool(self.pd.is_grad_enabled())

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
        if materialize_grads:
            raise NotImplementedError("paddle.grad has no materialize_grads")
        seeds = None if grad_outputs is None else [self.tensor(np.asarray(g)) for g in grad_outputs]
        grads = self.pd.grad(
            list(outputs),
            list(inputs),
            grad_outputs=seeds,
            retain_graph=retain_graph,
            allow_unused=allow_unused,
        )
        return [self._host(g) for g in grads]

    def inplace_add(self, tensor: Tensor, other: Tensor) -> Tensor:
        return tensor.add_(other)

    def inplace(self, op: str, tensor: Tensor, other: Tensor) -> Tensor:
        if op not in ("add", "mul"):
            raise ValueError(f"no in-place {op!r} in the protocol (add, mul)")
        return tensor.add_(other) if op == "add" else tensor.multiply_(other)

    def narrow(self, tensor: Tensor, dim: int, start: int, length: int) -> Tensor:
        return self.pd.narrow(tensor, dim, start, length)  # a strided view of the tensor

    # -- higher order: paddle.grad(create_graph=True) ---------------------------------------
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
            self.pd.grad(
                list(outputs),
                list(inputs),
                grad_outputs=seeds,
                create_graph=create_graph,
                allow_unused=True,
            )
        )

    def hvp(
        self,
        fn: Callable[[Sequence[Tensor]], Tensor],
        primals: Sequence[np.ndarray],
        vectors: Sequence[np.ndarray],
    ) -> list[np.ndarray | None]:
        # Reverse over reverse with paddle.grad(create_graph=True).
        leaves = [self.tensor(p, requires_grad=p.dtype.kind == "f") for p in primals]
        wanted = [n for n, leaf in enumerate(leaves) if not leaf.stop_gradient]
        result: list[np.ndarray | None] = [None] * len(leaves)
        out = fn(leaves)
        if not wanted or out.stop_gradient:
            return result
        firsts = self.pd.grad(
            [out], [leaves[n] for n in wanted], create_graph=True, allow_unused=True
        )
        terms = [
            (g * self.tensor(np.asarray(vectors[n], dtype=np.asarray(primals[n]).dtype))).sum()
            for n, g in zip(wanted, firsts, strict=True)
            if g is not None and not g.stop_gradient
        ]
        if not terms:
            return result  # the gradient does not depend on the inputs: H is zero
        seconds = self.pd.grad(
            [sum(terms[1:], terms[0])], [leaves[n] for n in wanted], allow_unused=True
        )
        for n, h in zip(wanted, seconds, strict=True):
            result[n] = self._host(h)
        return result

    def jvp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        tangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        # Paddle's own JVP, paddle.incubate.autograd.jvp (in dynamic mode it pushes the tangents
        # through a double backward, "_double_backward_trick"), w.r.t. the float inputs and of
        # the float outputs: Paddle fails on a bool output (SystemError "Null autograd_meta"),
        # which has no tangent in any engine, so those are read from the same run instead.
        tensors = [self.tensor(p) for p in primals]
        wrt = [n for n, p in enumerate(primals) if np.asarray(p).dtype.kind == "f"]
        if not wrt:
            return [self.to_numpy(o) for o in fn(tensors)], [None] * len(primals)
        everything: list[Any] = []

        def of_float_outputs(*values: Any) -> list[Any]:
            inputs = list(tensors)
            for n, value in zip(wrt, values, strict=True):
                inputs[n] = value
            everything[:] = fn(inputs)
            floats = [o for o in everything if self.dtype(o).startswith(("float", "bfloat"))]
            # Paddle refuses a function without outputs: an input stands in, its tangent unread
            return floats or [values[0]]

        xs = [self.tensor(primals[n], requires_grad=True) for n in wrt]
        directions = [
            self.tensor(np.asarray(tangents[n], dtype=np.asarray(primals[n]).dtype)) for n in wrt
        ]
        _, pushed = self.pd.incubate.autograd.jvp(of_float_outputs, xs, directions)
        floats = iter(pushed)
        return [self.to_numpy(o) for o in everything], [
            self._host(next(floats)) if self.dtype(o).startswith(("float", "bfloat")) else None
            for o in everything
        ]

    def dtype(self, tensor: Tensor) -> str:
        return str(tensor.dtype).rsplit(".", 1)[-1]

    # -- graph level ------------------------------------------------------------------------
    def next_nodes(self, node: Node) -> list[Node | None]:
        return list(node.next_functions)

    def accumulated_tensor(self, node: Node) -> Tensor | None:
        if node.name() != "GradNodeAccumulation":
            return None
        self._leaves = [ref for ref in self._leaves if ref() is not None]
        for ref in self._leaves:
            leaf = ref()
            own = None if leaf is None else leaf.grad_fn
            if own is not None and own.node_ptr() == node.node_ptr():
                return leaf
        return None

    def node_name(self, node: Node) -> str:
        return str(node.name())

    def _remember(self, tensor: Tensor) -> None:
        """Weakly keep a tensor that is or may become a leaf (see accumulated_tensor)."""
        if len(self._leaves) > 4096:
            self._leaves = [ref for ref in self._leaves if ref() is not None]
        self._leaves.append(weakref.ref(tensor))

    def _host(self, tensor: Tensor | None) -> np.ndarray | None:
        return None if tensor is None else self.to_numpy(tensor)
