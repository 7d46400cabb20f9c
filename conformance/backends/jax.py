"""JAX (functional): gradients through `jax.vjp`; no tape, so no tape requirements apply.

JAX arrays have no `requires_grad`, `grad_fn`, `.grad` or graph: a gradient is a function of a
function (`jax.vjp`, `jax.grad`). The adapter therefore implements only the functional level.
float64 needs `jax_enable_x64`, which this adapter switches on for the process (JAX keeps
float32 arrays float32 under it). `linear` and `bce_with_logits` are not in JAX's core: they are
written as JAX users write them, `x @ W.T + b` and the optax formulation on `jax.nn.log_sigmoid`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from conformance.backends.opmap import Custom, Spelling, resolve
from conformance.protocol import Capabilities, DeviceUnavailable, EngineMissing, Tensor
from conformance.spec.ops import expanded_shape, optional_operands, reduction_dims

_FUNCTIONAL = "JAX is functional: arrays carry no requires_grad, grad_fn or .grad; gradients "
NOTES = {
    "tape": _FUNCTIONAL + "are functions of functions (jax.vjp / jax.grad)",
    "graph": _FUNCTIONAL + "there is no backward graph to walk (jaxprs are traced, not recorded)",
    "retain_graph": _FUNCTIONAL + "a vjp pullback can be called any number of times",
    "retain_grad": _FUNCTIONAL + "there is no .grad to retain",
    "no_grad": _FUNCTIONAL + "nothing is recorded, so there is nothing to switch off "
    "(jax.lax.stop_gradient is per value, not a context)",
    "requires_grad_toggle": _FUNCTIONAL + "what is differentiated is chosen per jax.vjp call",
}


def _linear(jax: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
    out = jax.numpy.matmul(a[0], a[1].T)
    bias = optional_operands(a, p).get("bias")
    return out if bias is None else out + bias


def _bce_with_logits(jax: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
    # optax.sigmoid_binary_cross_entropy's formulation, -[y log s(z) + (1-y) log s(-z)], with
    # PyTorch's weight and pos_weight where they appear in its documented formula.
    z, y = a[0], a[1]
    extra = optional_operands(a, p)
    log_sigmoid = jax.nn.log_sigmoid
    positive = y * log_sigmoid(z)
    if "pos_weight" in extra:
        positive = extra["pos_weight"] * positive
    loss = -(positive + (1 - y) * log_sigmoid(-z))
    if "weight" in extra:
        loss = extra["weight"] * loss
    reduction = p.get("reduction", "mean")
    if reduction == "mean":
        return jax.numpy.mean(loss)
    if reduction == "sum":
        return jax.numpy.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(name: str) -> Custom:
    def run(jax: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
        return getattr(jax.numpy, name)(
            a[0], axis=reduction_dims(p), keepdims=bool(p.get("keepdim"))
        )

    return run


SPELLINGS: dict[str, Spelling] = {
    "sub": "subtract",
    "mul": "multiply",
    "div": "divide",
    "neg": "negative",
    "pow": "power",
    "gt": "greater",
    "transpose": "swapaxes",
    "sigmoid": lambda jax, a, p: jax.nn.sigmoid(a[0]),
    "relu": lambda jax, a, p: jax.nn.relu(a[0]),
    "sum": _reduce("sum"),
    "mean": _reduce("mean"),
    "expand": lambda jax, a, p: jax.numpy.broadcast_to(
        a[0], expanded_shape(a[0].shape, p["shape"])
    ),
    "index": lambda jax, a, p: a[0][jax.numpy.asarray(list(p["indices"]), dtype="int32")],
    "linear": _linear,
    "bce_with_logits": _bce_with_logits,
}
"""The ops JAX spells other than `jax.numpy.<name>(*operands, *params)`."""


class JaxAdapter:
    name: ClassVar[str] = "jax"
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    capabilities: Capabilities = Capabilities.functional_only(
        hvp=True,
        forward_mode=True,
        dtypes=frozenset({"float16", "bfloat16", "float32", "float64"}),
        notes=NOTES,
    )

    def __init__(self, device: str = "cpu") -> None:
        try:
            import jax
        except ImportError as exc:
            raise EngineMissing("jax", "jax") from exc
        # Process-wide, and needed before any float64 array exists; float32 stays float32.
        jax.config.update("jax_enable_x64", True)
        platform, _, index = device.partition(":")
        if platform not in self.devices:
            raise DeviceUnavailable(f"jax: unknown device {device!r}; use cpu, cuda or cuda:N")
        try:
            found = jax.devices(platform)
        except RuntimeError as exc:
            raise DeviceUnavailable(f"jax:{device}: {exc}") from exc
        if int(index or 0) >= len(found):
            raise DeviceUnavailable(f"jax:{device}: only {len(found)} {platform} device(s)")
        self.jax = jax
        self.device = device
        self._ops = resolve(jax.numpy, SPELLINGS, engine=jax)
        self.capabilities = replace(self.capabilities, ops=self.capabilities.ops & set(self._ops))
        self._device = found[int(index or 0)]

    # -- functional level -------------------------------------------------------------------
    def version(self) -> str:
        return str(self.jax.__version__)

    def environment(self) -> dict[str, Any]:
        import jaxlib

        return {
            "jax_version": self.jax.__version__,
            "jaxlib_version": jaxlib.__version__,
            "platform": self._device.platform,
            "device_kind": self._device.device_kind,
            "jax_enable_x64": bool(self.jax.config.jax_enable_x64),
            "default_matmul_precision": self.jax.config.jax_default_matmul_precision,
        }

    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> Tensor:
        # requires_grad has no meaning in JAX: what is differentiated is chosen per vjp call.
        return self.jax.device_put(np.asarray(array), self._device)

    def to_numpy(self, tensor: Tensor) -> np.ndarray:
        host = self.jax.device_get(tensor)
        # bfloat16 (ml_dtypes') reads back as float32, as the protocol says (exact).
        return np.array(host.astype(np.float32) if self.dtype(host) == "bfloat16" else host)

    def cast(self, tensor: Tensor, dtype: str) -> Tensor:
        return tensor.astype(getattr(self.jax.numpy, dtype))

    def dtype(self, tensor: Tensor) -> str:
        return str(tensor.dtype)

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        return self._ops[op](args, params)

    def vjp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        tensors = [self.tensor(p) for p in primals]
        wrt = [n for n, p in enumerate(primals) if np.asarray(p).dtype.kind == "f"]

        def of_differentiable(*values: Any) -> tuple[Any, ...]:
            return tuple(fn(_with_floats(tensors, wrt, values)))

        outputs, pullback = self.jax.vjp(of_differentiable, *[tensors[n] for n in wrt])
        values = [self.to_numpy(o) for o in outputs]
        # Integer and bool outputs take JAX's float0 cotangent: they carry no gradient.
        seeds = tuple(
            self.jax.device_put(np.asarray(c, dtype=o.dtype), self._device)
            if np.dtype(o.dtype).kind == "f"
            else np.zeros(o.shape, dtype=self.jax.dtypes.float0)
            for o, c in zip(outputs, cotangents, strict=True)
        )
        grads: list[np.ndarray | None] = [None] * len(primals)
        # JAX materialises zeros for an input no output depends on; it has no "unused" marker.
        for n, grad in zip(wrt, pullback(seeds), strict=True):
            grads[n] = self.to_numpy(grad)
        return values, grads

    def hvp(
        self,
        fn: Callable[[Sequence[Tensor]], Tensor],
        primals: Sequence[np.ndarray],
        vectors: Sequence[np.ndarray],
    ) -> list[np.ndarray | None]:
        # Forward over reverse, JAX's own recipe (jax.jvp of jax.grad; "The Autodiff Cookbook").
        tensors = [self.tensor(p) for p in primals]
        wrt = [n for n, p in enumerate(primals) if np.asarray(p).dtype.kind == "f"]
        result: list[np.ndarray | None] = [None] * len(primals)
        if not wrt:
            return result

        def scalar(*values: Any) -> Any:
            # one element; jax.grad wants shape ()
            return fn(_with_floats(tensors, wrt, values)).reshape(())

        tangents = tuple(
            self.tensor(np.asarray(vectors[n], dtype=np.asarray(primals[n]).dtype)) for n in wrt
        )
        grad = self.jax.grad(scalar, argnums=tuple(range(len(wrt))))
        _, products = self.jax.jvp(grad, tuple(tensors[n] for n in wrt), tangents)
        for n, product in zip(wrt, products, strict=True):
            result[n] = self.to_numpy(product)
        return result

    def jvp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        tangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        tensors = [self.tensor(p) for p in primals]
        wrt = [n for n, p in enumerate(primals) if np.asarray(p).dtype.kind == "f"]

        def of_differentiable(*values: Any) -> tuple[Any, ...]:
            return tuple(fn(_with_floats(tensors, wrt, values)))

        directions = tuple(
            self.tensor(np.asarray(tangents[n], dtype=np.asarray(primals[n]).dtype)) for n in wrt
        )
        outputs, pushed = self.jax.jvp(
            of_differentiable, tuple(tensors[n] for n in wrt), directions
        )
        # Integer and bool outputs get JAX's float0 tangent: they carry none.
        return [self.to_numpy(o) for o in outputs], [
            self.to_numpy(t) if np.dtype(o.dtype).kind == "f" else None
            for o, t in zip(outputs, pushed, strict=True)
        ]


def _with_floats(tensors: Sequence[Any], wrt: Sequence[int], values: Sequence[Any]) -> list[Any]:
    """The operands with the float ones (positions `wrt`) replaced by the values JAX traces:
    JAX differentiates a function of its arguments, so integer operands stay closed over."""
    inputs = list(tensors)
    for n, value in zip(wrt, values, strict=True):
        inputs[n] = value
    return inputs
