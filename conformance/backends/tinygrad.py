"""tinygrad 0.14.0 (lazy UOp graphs): gradients through `Tensor.gradient`, the functional level.

tinygrad 0.14 has no `requires_grad`, no leaves and no `grad_fn`: `Tensor.backward()` fills `.grad`
on every floating tensor whose UOp lies in the loss's graph, and `loss.gradient(*targets,
gradient=)` returns gradients without touching `.grad`. Without a requires_grad flag the tape
requirements cannot be stated in tinygrad's terms, so the adapter implements the functional level
with `Tensor.gradient`, tinygrad's own `autograd.grad`.

Devices: `cpu` is tinygrad's CPU device, which compiles each kernel with clang (`CC`, default
`clang`; install it, e.g. `apt-get install clang`); `python` is tinygrad's pure-Python emulator of
the same kernels (no compiler, slow); `cuda` is its CUDA device. tinygrad caches compiled kernels
in an SQLite file under ~/.cache; the adapter points `CACHEDB` at a temporary directory of its
own unless the user has set it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from conformance.backends.opmap import Spelling, resolve
from conformance.protocol import Capabilities, DeviceUnavailable, EngineMissing, Tensor
from conformance.spec.ops import optional_operands

VERSION = "0.14.0"
"""The tinygrad release this adapter maps (the `tinygrad` extra admits its patch releases)."""
DEVICES = {"cpu": "CPU", "python": "PYTHON", "cuda": "CUDA"}

_NO_FLAG = "tinygrad 0.14 has no requires_grad, leaves or grad_fn: backward() fills .grad on "
_NO_FLAG += "every floating tensor of the graph, and Tensor.gradient is its functional API"
NOTES = {
    "tape": _NO_FLAG,
    "graph": "tinygrad's graph is of UOps shared by value, with no per-tensor backward nodes",
    "retain_graph": "tinygrad frees nothing after backward: gradients are new lazy UOp graphs",
    "retain_grad": _NO_FLAG,
    "no_grad": "tinygrad 0.14 has no no-grad context (nothing is recorded per tensor)",
    "requires_grad_toggle": _NO_FLAG,
    "forward_mode": "tinygrad 0.14 has reverse mode only (Tensor.backward, Tensor.gradient): no "
    "jvp or other forward-mode API",
}


def _linear(tg: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
    # tinygrad's Tensor.linear takes an (in, out) weight; tinygrad.nn.Linear stores (out, in), as
    # the op set does, and calls x.linear(weight.transpose(), bias). So does the adapter.
    weight = a[1].transpose() if a[1].ndim == 2 else a[1]
    return a[0].linear(weight, optional_operands(a, p).get("bias"))


def _bce_with_logits(tg: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
    extra = optional_operands(a, p)
    reduction = p.get("reduction", "mean")
    if "weight" not in extra:
        return a[0].binary_crossentropy_logits(a[1], reduction, pos_weight=extra.get("pos_weight"))
    # tinygrad's op has no `weight`; its users weight the unreduced loss, as PyTorch does.
    loss = a[0].binary_crossentropy_logits(a[1], "none", pos_weight=extra.get("pos_weight"))
    loss = loss * extra["weight"]
    if reduction == "none":
        return loss
    if reduction in ("mean", "sum"):
        return getattr(loss, reduction)()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _index(tg: Any, a: Sequence[Any], p: Mapping[str, Any]) -> Any:
    indices = tg.Tensor(np.asarray(list(p["indices"]), dtype=np.int32), device=a[0].device)
    return a[0][indices]


SPELLINGS: dict[str, Spelling] = {
    "index": _index,
    "gt": lambda tg, a, p: a[0] > a[1],
    "linear": _linear,
    "bce_with_logits": _bce_with_logits,
}
"""The ops tinygrad spells other than `Tensor.<name>(*operands, *params)`."""


def _own_cache_path() -> str | None:
    """A kernel-cache path in a temporary directory, or None when the user has chosen one."""
    if "CACHEDB" in os.environ and not os.environ.get("AUTOGRAD_CONFORMANCE_CACHEDB"):
        return None
    if not os.environ.get("AUTOGRAD_CONFORMANCE_CACHEDB"):
        directory = Path(tempfile.mkdtemp(prefix="autograd-conformance-tinygrad-"))
        os.environ["AUTOGRAD_CONFORMANCE_CACHEDB"] = str(directory / "cache.db")
    return os.environ["AUTOGRAD_CONFORMANCE_CACHEDB"]


def _point_cache_at(helpers: Any, path: str) -> None:
    # tinygrad reads CACHEDB once, at import; if it was imported before the adapter existed, its
    # module-level setting is redirected too (and a connection to the old file dropped).
    if path != helpers.CACHEDB:
        helpers.CACHEDB = path
        helpers._db_connection = None


class TinygradAdapter:
    name: ClassVar[str] = "tinygrad"
    devices: ClassVar[tuple[str, ...]] = tuple(DEVICES)
    capabilities: Capabilities = Capabilities.functional_only(
        hvp=True, dtypes=frozenset({"float16", "bfloat16", "float32", "float64"}), notes=NOTES
    )

    def __init__(self, device: str = "cpu") -> None:
        cache = _own_cache_path()
        if cache is not None:
            os.environ["CACHEDB"] = cache  # read by tinygrad when it is first imported
        try:
            import tinygrad
            import tinygrad.helpers
        except ImportError as exc:
            raise EngineMissing("tinygrad", "tinygrad") from exc
        if cache is not None:
            _point_cache_at(tinygrad.helpers, cache)
        if device not in DEVICES:
            raise DeviceUnavailable(
                f"tinygrad: unknown device {device!r}; use {', '.join(DEVICES)}"
            )
        self.tg = tinygrad
        self.device = device
        self._ops = resolve(tinygrad.Tensor, SPELLINGS, engine=tinygrad)
        self.capabilities = replace(self.capabilities, ops=self.capabilities.ops & set(self._ops))
        self._device = DEVICES[device]
        try:  # opening a device compiles its runtime helpers: this is where clang is needed
            (tinygrad.Tensor(np.ones(2, np.float32), device=self._device) * 2).numpy()
        except Exception as exc:  # noqa: BLE001 - any failure to open the device means unavailable
            hint = " (it compiles kernels with clang: install clang or use tinygrad:python)"
            raise DeviceUnavailable(
                f"tinygrad:{device}: {type(exc).__name__}: {exc}"
                + (hint if device == "cpu" else "")
            ) from exc

    # -- functional level -------------------------------------------------------------------
    def version(self) -> str:
        from importlib.metadata import version

        return version("tinygrad")

    def environment(self) -> dict[str, Any]:
        return {
            "tinygrad_version": self.version(),
            "tinygrad_device": self._device,
            # Where the kernel cache lives, not its path: a report is published, and a temporary
            # directory's name says nothing to its reader.
            "kernel_cache": "CACHEDB, as set by the user"
            if os.environ.get("CACHEDB") != os.environ.get("AUTOGRAD_CONFORMANCE_CACHEDB")
            else "a temporary directory of this run",
            "cc": os.environ.get("CC", "clang") if self.device == "cpu" else None,
        }

    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> Tensor:
        # requires_grad has no tinygrad counterpart in 0.14: every float tensor can get a gradient.
        array = np.asarray(array)
        return self.tg.Tensor(array, device=self._device)

    def to_numpy(self, tensor: Tensor) -> np.ndarray:
        if tensor.dtype == self.tg.dtypes.bfloat16:  # NumPy has none: read back as float32
            tensor = tensor.cast(self.tg.dtypes.float32)
        return np.array(tensor.numpy(), copy=True)

    def cast(self, tensor: Tensor, dtype: str) -> Tensor:
        return tensor.cast(getattr(self.tg.dtypes, dtype))

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        return self._ops[op](args, params)

    def dtype(self, tensor: Tensor) -> str:
        from tinygrad.dtype import _to_np_dtype

        if tensor.dtype == self.tg.dtypes.bfloat16:
            return "bfloat16"
        return np.dtype(_to_np_dtype(tensor.dtype)).name

    def vjp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        leaves = [self.tensor(p) for p in primals]
        outputs = list(fn(leaves))
        wrt = [n for n, leaf in enumerate(leaves) if leaf.is_floating_point()]
        totals: list[Any] = [None] * len(wrt)
        for out, cot in zip(outputs, cotangents, strict=True):
            if not out.is_floating_point():
                continue  # tinygrad: "only float Tensors have gradient"
            seed = self.tensor(np.asarray(cot, dtype=self.dtype(out)))
            # Tensor.gradient gives zeros for a target the output does not depend on.
            grads = out.gradient(*[leaves[n] for n in wrt], gradient=seed)
            totals = [g if t is None else t + g for t, g in zip(totals, grads, strict=True)]
        # One schedule for values and gradients: tinygrad compiles each kernel once, not twice.
        lazy = [*outputs, *(t for t in totals if t is not None)]
        if lazy:
            lazy[0].realize(*lazy[1:])
        values = [self.to_numpy(o) for o in outputs]
        result: list[np.ndarray | None] = [None] * len(leaves)
        for n, total in zip(wrt, totals, strict=True):
            result[n] = None if total is None else self.to_numpy(total)
        return values, result

    def hvp(
        self,
        fn: Callable[[Sequence[Tensor]], Tensor],
        primals: Sequence[np.ndarray],
        vectors: Sequence[np.ndarray],
    ) -> list[np.ndarray | None]:
        # Reverse over reverse: Tensor.gradient returns lazy UOp graphs that can be
        # differentiated again like any other tensor.
        leaves = [self.tensor(p) for p in primals]
        wrt = [n for n, leaf in enumerate(leaves) if leaf.is_floating_point()]
        result: list[np.ndarray | None] = [None] * len(leaves)
        if not wrt:
            return result
        out = fn(leaves)
        firsts = out.gradient(*[leaves[n] for n in wrt])
        terms = [
            (g * self.tensor(np.asarray(vectors[n], dtype=np.asarray(primals[n]).dtype))).sum()
            for n, g in zip(wrt, firsts, strict=True)
        ]
        seconds = sum(terms[1:], terms[0]).gradient(*[leaves[n] for n in wrt])
        for n, h in zip(wrt, seconds, strict=True):
            result[n] = self.to_numpy(h)
        return result
