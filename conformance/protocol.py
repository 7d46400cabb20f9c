"""The adapter protocol: what an engine must offer for the suites to judge it.

Documented for engine authors in docs/adapters.md. An adapter *translates*; the suites *judge*.
An adapter must never emulate a rule its engine does not have: if the engine has no `.grad`
accumulation, the adapter declares `tape=False` and the accumulation requirements are reported
"not applicable", rather than faked.

Two levels, declared in `Capabilities`:

- functional gradients (every adapter): make tensors from NumPy arrays, apply ops of the op set
  (`conformance.spec.ops`), read values back, and compute vector-Jacobian products (`vjp`);
- tape semantics (`tape=True`): leaves, `requires_grad`, `grad_fn`, `backward`, `.grad`
  accumulation, `retain_graph`, no-grad blocks, and (`graph=True`) a walk of the backward graph.

Engines signal refusal by raising: the suites expect an exception where PyTorch raises one, and
the adapter lets the engine's own exception through untranslated. It declares, in `refusals`,
the exception classes its engine raises for each kind of refusal (REFUSAL_KINDS), and the suites
accept only those, raised by the very call PyTorch refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from conformance.spec.ops import ALL_OPS

Tensor = Any
"""An engine's own tensor type; the harness treats it as opaque."""

Node = Any
"""An engine's own backward-graph node (PyTorch's `grad_fn` objects); opaque to the harness."""


@dataclass(frozen=True)
class Capabilities:
    """What an engine has. Requirements needing a capability it lacks are "not applicable"."""

    tape: bool = True
    """Leaves, requires_grad, grad_fn, backward() into .grad with accumulation."""
    graph: bool = True
    """A walkable backward graph: nodes with next functions and per-leaf accumulate nodes."""
    retain_graph: bool = True
    """Saved values are freed after backward unless retained."""
    retain_grad: bool = True
    """Non-leaf tensors can opt in to receiving .grad."""
    no_grad: bool = True
    """A context in which ops record nothing."""
    enable_grad: bool = True
    """A context that turns recording back on inside a no-grad block."""
    grad_modes: bool = True
    """`set_grad_enabled(flag)` (a plain call that switches grad mode at once, and a block),
    `is_grad_enabled()`, and every grad-mode block usable as a function decorator."""
    inference_mode: bool = True
    """An inference-mode block (PyTorch's `inference_mode`) whose results are inference tensors;
    its adapter methods include those of `grad_modes`."""
    grad_of: bool = True
    """`autograd.grad` on a recorded graph: gradients returned, `.grad` untouched."""
    materialize_grads: bool = True
    """`autograd.grad(..., materialize_grads=True)`: zeros, not None, for an unreached input."""
    requires_grad_toggle: bool = True
    """requires_grad can be switched on and off on leaves after creation."""
    integer_tensors: bool = True
    """Integer and bool tensors exist (and must refuse requires_grad)."""
    hooks: bool = True
    """Tensor hooks (`register_hook`): functions that a leaf's or non-leaf's gradient passes
    through during backward and that may replace it, removable by their handle."""
    post_accumulate_grad_hooks: bool = True
    """Hooks on a leaf that run after backward has updated its .grad."""
    inplace_ops: bool = True
    """In-place `add_` and `mul_` (`inplace`) on tensors other than leaves that require grad,
    recorded in the graph: the tensor's history is rebased onto the in-place op's node."""
    views: bool = True
    """Slicing views (`narrow`) and the op set's views that share their base's storage and
    version counter; an in-place op through a view of a non-leaf rebases the base's history."""
    tensor_seed: bool = True
    """backward() takes the engine's own tensor as its gradient (`backward_tensor`), so a suite
    can change that tensor in place afterwards and see whether .grad shares its memory."""
    create_graph: bool = True
    """`autograd.grad(..., create_graph=True)` (`grad_graph`): gradients returned as the engine's
    own tensors, recorded in the graph, so they can be differentiated again."""
    backward_create_graph: bool = True
    """`backward(create_graph=True)` (`backward_graph`): .grad recorded in the graph, readable as
    the engine's own tensor (`grad_tensor`), so a later backward from it accumulates into .grad."""
    backward_inputs: bool = True
    """`backward(inputs=[...])`: only the listed tensors' .grad is filled."""
    hvp: bool = False
    """Functional level: Hessian-vector products of a scalar function (`hvp`) by the engine's own
    nested differentiation (reverse over reverse, or forward over reverse). Declared, not
    assumed: an adapter written before it existed has no `hvp` method."""
    forward_mode: bool = False
    """Functional level: Jacobian-vector products (`jvp`) by the engine's own forward-mode AD
    (PyTorch's forward_ad dual tensors, jax.jvp). Declared, not assumed: an adapter written
    before it existed has no `jvp` method."""
    device_placement: bool = False
    """`device_of` and `grad_device` report where a tensor and its .grad live (parity suite)."""
    dtypes: frozenset[str] = frozenset({"float32", "float64"})
    """The float dtypes the engine computes in, of "float16", "bfloat16", "float32", "float64"
    (`has("dtype:float16")`). Those NumPy has travel as host arrays of that dtype; "bfloat16"
    needs `cast` and `dtype` (CAST_METHODS) and reads back as float32."""
    complex_grads: bool = False
    """Complex tensors (`tensor` of a complex64 or complex128 array) whose gradients follow
    PyTorch's convention: for a real loss L of z = x + iy, z.grad = dL/dx + i dL/dy. Off unless
    an engine opts in (issue 14)."""
    ops: frozenset[str] = ALL_OPS
    """The ops of the op table the adapter maps. Derived, not written: the shipped adapters
    narrow it to what `conformance.backends.opmap.resolve` bound for their engine (the same name
    on the engine's namespace, or a per-engine line); `opmap.ops_supported` gives it for a class
    attribute."""
    notes: Mapping[str, str] = field(default_factory=dict)
    """Why a capability is absent, keyed by capability name; shown in reports."""

    @classmethod
    def functional_only(cls, **kwargs: Any) -> Capabilities:
        """An engine with gradients but no tape (JAX, tinygrad): every tape concept absent."""
        absent = dict.fromkeys(
            ("tape", "graph", "retain_graph", "retain_grad", "no_grad", "enable_grad", "grad_of",
             "requires_grad_toggle", "device_placement", "tensor_seed", "hooks",
             "post_accumulate_grad_hooks", "materialize_grads", "grad_modes", "inference_mode",
             "inplace_ops", "views",
             "create_graph", "backward_create_graph", "backward_inputs"),
            False,
        )  # fmt: skip
        return cls(**{**absent, **kwargs})

    def has(self, capability: str) -> bool:
        if capability.startswith("dtype:"):
            return capability.removeprefix("dtype:") in self.dtypes
        if capability.startswith("op:"):
            return capability.removeprefix("op:") in self.ops
        return bool(getattr(self, capability))


@runtime_checkable
class Adapter(Protocol):
    """The functional level: every adapter implements these."""

    name: ClassVar[str]
    """Backend name as used in specifiers, e.g. "torch" in "torch:cuda". Reports label a backend
    by how it was named (conformance.backends.registry.backend_label): an adapter given by import
    path is labelled by that path, whatever its `name`."""
    devices: ClassVar[tuple[str, ...]]
    """Device names the backend knows, default first (e.g. ("cpu", "cuda"))."""
    device: str
    capabilities: Capabilities

    def version(self) -> str:
        """The engine's version string."""

    def environment(self) -> dict[str, Any]:
        """Facts about the engine and device worth recording (GPU name, TF32 state, ...)."""

    def tensor(self, array: np.ndarray, *, requires_grad: bool = False) -> Tensor:
        """A new tensor on this adapter's device with the array's dtype, shape and values.

        Functional engines ignore `requires_grad`; tape engines create a leaf.
        """

    def to_numpy(self, tensor: Tensor) -> np.ndarray:
        """The tensor's values, on the host, without recording anything."""

    def apply(self, op: str, args: Sequence[Tensor], params: Mapping[str, Any]) -> Tensor:
        """Apply op-set operation `op` (see conformance.spec.ops) to operands `args`."""

    def vjp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        cotangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """Outputs of `fn(primals)` and the vector-Jacobian product with `cotangents`.

        Never touches `.grad`. A gradient is None where an input does not reach any output.
        """


@runtime_checkable
class TapeAdapter(Adapter, Protocol):
    """The tape level, for engines with `Capabilities.tape` (PyTorch-style semantics)."""

    refusals: ClassVar[Mapping[str, tuple[type[Exception], ...]]]
    """For each kind of refusal (keys of REFUSAL_KINDS) the engine has, the exception classes it
    raises for it, each narrower than Exception; (RuntimeError,) throughout in PyTorch. A kind
    left out fails the requirements that check it, as does a refusal of another class."""

    def requires_grad(self, tensor: Tensor) -> bool: ...

    def set_requires_grad(self, tensor: Tensor, flag: bool) -> Tensor:
        """PyTorch's `tensor.requires_grad_(flag)`; returns what the engine returns."""

    def is_leaf(self, tensor: Tensor) -> bool: ...

    def grad_fn(self, tensor: Tensor) -> Node | None: ...

    def backward(
        self,
        tensor: Tensor,
        gradient: np.ndarray | None = None,
        *,
        retain_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None: ...

    def grad(self, tensor: Tensor) -> np.ndarray | None:
        """The tensor's `.grad` as a host array, or None. Must not warn for leaves."""

    def grad_dtype(self, tensor: Tensor) -> str | None:
        """The dtype name of `.grad` ("float32", ...) as the engine stores it, or None."""

    def clear_grad(self, tensor: Tensor) -> None:
        """`tensor.grad = None`."""

    def zero_grad(self, tensor: Tensor) -> None:
        """`tensor.grad.zero_()` (in place)."""

    def retain_grad(self, tensor: Tensor) -> None: ...

    def detach(self, tensor: Tensor) -> Tensor: ...

    def no_grad(self) -> AbstractContextManager[Any]: ...

    def enable_grad(self) -> AbstractContextManager[Any]: ...

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
        """`torch.autograd.grad`: gradients returned, `.grad` untouched. `materialize_grads` is
        passed on only when True, and only by suites for engines with that capability."""

    def inplace_add(self, tensor: Tensor, other: Tensor) -> Tensor:
        """`tensor.add_(other)`."""

    def dtype(self, tensor: Tensor) -> str: ...


@runtime_checkable
class PlacementAdapter(TapeAdapter, Protocol):
    """Where tensors live, for engines with `Capabilities.device_placement`."""

    def device_of(self, tensor: Tensor) -> str:
        """The device the engine reports for the tensor, e.g. "cuda:0"."""

    def grad_device(self, tensor: Tensor) -> str | None:
        """The device of the tensor's `.grad`, or None when it has none."""


@runtime_checkable
class SeedAdapter(TapeAdapter, Protocol):
    """A gradient the caller keeps, for engines with `Capabilities.tensor_seed`."""

    def backward_tensor(self, tensor: Tensor, gradient: Tensor) -> None:
        """`tensor.backward(gradient)` with `gradient` an engine tensor, passed as it is (no
        copy made by the adapter): the caller changes it in place afterwards."""


@runtime_checkable
class HookAdapter(TapeAdapter, Protocol):
    """Gradient hooks, for engines with `Capabilities.hooks` / `post_accumulate_grad_hooks`."""

    def register_hook(self, tensor: Tensor, hook: Callable[[np.ndarray], np.ndarray | None]) -> Any:
        """`tensor.register_hook(...)`, returning its handle. `hook` takes the gradient as a host
        array and returns None or a replacement array of the same shape and dtype; the adapter
        converts to and from the engine's tensors."""

    def remove_hook(self, handle: Any) -> None:
        """`handle.remove()`, for a handle either register method returned."""

    def register_post_accumulate_grad_hook(
        self, tensor: Tensor, hook: Callable[[Tensor], None]
    ) -> Any:
        """`tensor.register_post_accumulate_grad_hook(...)`, returning its handle; `hook`
        receives what the engine passes, the leaf itself in PyTorch."""


@runtime_checkable
class GradModeAdapter(TapeAdapter, Protocol):
    """The grad modes, for engines with `Capabilities.grad_modes` / `inference_mode`."""

    def grad_mode(self, name: str, *args: Any) -> Any:
        """What the engine's `torch.<name>(*args)` returns, for name "no_grad", "enable_grad",
        "set_grad_enabled" or "inference_mode": its own object, which the suites use both in a
        `with` statement and as a function decorator. For "set_grad_enabled" the call itself
        switches grad mode, as in PyTorch."""

    def is_grad_enabled(self) -> bool: ...

    def is_inference(self, tensor: Tensor) -> bool:
        """`tensor.is_inference()`."""


@runtime_checkable
class ViewAdapter(TapeAdapter, Protocol):
    """In-place ops and views, for engines with `Capabilities.inplace_ops` / `views`."""

    def inplace(self, op: str, tensor: Tensor, other: Tensor) -> Tensor:
        """PyTorch's `tensor.<op>_(other)` for op "add" or "mul"; returns what the engine
        returns (the tensor itself in PyTorch)."""

    def narrow(self, tensor: Tensor, dim: int, start: int, length: int) -> Tensor:
        """`tensor.narrow(dim, start, length)`: a view sharing the tensor's storage."""


@runtime_checkable
class HigherOrderAdapter(TapeAdapter, Protocol):
    """Gradients of gradients, for engines with `Capabilities.create_graph` /
    `backward_create_graph`."""

    def grad_graph(
        self,
        outputs: Sequence[Tensor],
        inputs: Sequence[Tensor],
        grad_outputs: Sequence[np.ndarray],
        *,
        create_graph: bool = True,
    ) -> list[Tensor | None]:
        """`autograd.grad(outputs, inputs, grad_outputs, create_graph=create_graph,
        allow_unused=True)`, the gradients as the engine's own tensors (None for an input no
        output reaches), so a suite can apply ops to them and differentiate again."""

    def backward_graph(self, tensor: Tensor, gradient: np.ndarray | None = None) -> None:
        """`tensor.backward(gradient, create_graph=True)`."""

    def grad_tensor(self, tensor: Tensor) -> Tensor | None:
        """The tensor's `.grad` as the engine's own tensor (no copy), or None."""


@runtime_checkable
class HVPAdapter(Adapter, Protocol):
    """Nested differentiation at the functional level, for engines with `Capabilities.hvp`."""

    def hvp(
        self,
        fn: Callable[[Sequence[Tensor]], Tensor],
        primals: Sequence[np.ndarray],
        vectors: Sequence[np.ndarray],
    ) -> list[np.ndarray | None]:
        """The Hessian-vector product H v of the one-element `fn` at `primals`, w.r.t. its float
        inputs, by the engine's own nested differentiation: one array per primal, None for an
        integer one or one the gradient does not depend on (taken as zeros)."""


@runtime_checkable
class ForwardModeAdapter(Adapter, Protocol):
    """Forward-mode AD at the functional level, for engines with `Capabilities.forward_mode`."""

    def jvp(
        self,
        fn: Callable[[Sequence[Tensor]], Sequence[Tensor]],
        primals: Sequence[np.ndarray],
        tangents: Sequence[np.ndarray],
    ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """Outputs of `fn(primals)` and their tangents J v for input tangents `tangents` (one per
        primal, in its dtype; those of integer primals are ignored), by the engine's forward
        mode. An output tangent is None where the engine gives that output none (an integer or
        bool output, or one no tangent reaches)."""


@runtime_checkable
class CastAdapter(Adapter, Protocol):
    """Dtypes NumPy lacks, for engines declaring "bfloat16" in `Capabilities.dtypes`."""

    def cast(self, tensor: Tensor, dtype: str) -> Tensor:
        """PyTorch's `tensor.to(dtype)` for a dtype name of `Capabilities.dtypes`: a new tensor,
        recorded (differentiable) where the tensor requires grad. A bfloat16 tensor is made as
        `cast(tensor(float32 array), "bfloat16")`, and `to_numpy` reads it back as float32."""

    def dtype(self, tensor: Tensor) -> str: ...


@runtime_checkable
class GraphAdapter(TapeAdapter, Protocol):
    """A walkable backward graph, for engines with `Capabilities.graph`."""

    def next_nodes(self, node: Node) -> list[Node | None]:
        """The nodes a node sends gradients to, in input order; None for inputs without grad."""

    def accumulated_tensor(self, node: Node) -> Tensor | None:
        """The leaf an accumulate node writes to (`AccumulateGrad.variable`), else None."""

    def node_name(self, node: Node) -> str: ...


REFUSAL_KINDS: Mapping[str, str] = {
    "integer_requires_grad": "an integer or bool tensor made to require grad, at creation or by "
    "requires_grad_(True)",
    "implicit_gradient": "backward() without a gradient on an output of other than one element",
    "root_without_grad": "backward() on a tensor that does not require grad (no grad_fn)",
    "gradient_shape": "backward() with a gradient whose shape is not the output's",
    "unused_input": "autograd.grad for an input the outputs do not reach, without allow_unused",
    "input_without_grad": "autograd.grad for an input that does not require grad",
    "leaf_inplace": "an in-place op on a leaf that requires grad, with grad mode on",
    "modified_saved": "backward through a node whose saved tensor was modified in place since",
    "freed_graph": "a second backward through saved values the first one freed (no retain_graph)",
    "inference_saved": "an op outside inference mode whose backward needs an inference tensor",
    "hook_without_grad": "register_hook or register_post_accumulate_grad_hook on a tensor that "
    "does not require grad",
    "post_hook_non_leaf": "register_post_accumulate_grad_hook on a non-leaf",
}
"""The kinds of refusal the suites check, each with the situation PyTorch refuses. An adapter's
`refusals` maps these names to its engine's exception classes."""

FUNCTIONAL_METHODS = ("version", "environment", "tensor", "to_numpy", "apply", "vjp")
TAPE_METHODS = (
    "requires_grad",
    "set_requires_grad",
    "is_leaf",
    "grad_fn",
    "backward",
    "grad",
    "grad_dtype",
    "clear_grad",
    "zero_grad",
    "retain_grad",
    "detach",
    "no_grad",
    "enable_grad",
    "grad_of",
    "inplace_add",
    "dtype",
)
GRAPH_METHODS = ("next_nodes", "accumulated_tensor", "node_name")
PLACEMENT_METHODS = ("device_of", "grad_device")
HOOK_METHODS = ("register_hook", "remove_hook")
POST_ACCUMULATE_HOOK_METHODS = ("register_post_accumulate_grad_hook", "remove_hook")
SEED_METHODS = ("backward_tensor",)
GRAD_MODE_METHODS = ("grad_mode", "is_grad_enabled")
INFERENCE_METHODS = ("is_inference",)
HIGHER_ORDER_METHODS = ("grad_graph",)
BACKWARD_GRAPH_METHODS = ("backward_graph", "grad_tensor")
HVP_METHODS = ("hvp",)
JVP_METHODS = ("jvp",)
INPLACE_METHODS = ("inplace",)
VIEW_METHODS = ("narrow", "inplace")
CAST_METHODS = ("cast", "dtype")


def missing_members(adapter_class: type) -> list[str]:
    """Names the class lacks for the capabilities it declares; empty when it conforms."""
    needed = ["name", "devices", *FUNCTIONAL_METHODS]
    caps = getattr(adapter_class, "capabilities", None)
    if isinstance(caps, Capabilities):
        if caps.tape:
            needed += TAPE_METHODS
        if caps.graph:
            needed += GRAPH_METHODS
        if caps.device_placement:
            needed += PLACEMENT_METHODS
        if caps.tape and caps.hooks:
            needed += HOOK_METHODS
        if caps.tape and caps.post_accumulate_grad_hooks:
            needed += POST_ACCUMULATE_HOOK_METHODS
        if caps.tape and caps.tensor_seed:
            needed += SEED_METHODS
        if caps.tape and (caps.grad_modes or caps.inference_mode):
            needed += GRAD_MODE_METHODS
        if caps.tape and caps.inference_mode:
            needed += INFERENCE_METHODS
        if caps.tape and caps.create_graph:
            needed += HIGHER_ORDER_METHODS
        if caps.tape and caps.backward_create_graph:
            needed += BACKWARD_GRAPH_METHODS
        if caps.hvp:
            needed += HVP_METHODS
        if caps.forward_mode:
            needed += JVP_METHODS
        if caps.tape and caps.inplace_ops:
            needed += INPLACE_METHODS
        if caps.tape and caps.views:
            needed += VIEW_METHODS
        if "bfloat16" in caps.dtypes:
            needed += CAST_METHODS
    else:
        needed.append("capabilities")
    return [member for member in needed if not hasattr(adapter_class, member)]


class DeviceUnavailable(RuntimeError):
    """The requested device does not exist on this machine (never fall back silently)."""


class EngineMissing(ImportError):
    """The adapter's engine is not installed. The message says how to install it: `install`, a
    command of the adapter's own (`pip install mygpuengine`), or else `extra`, an extra of this
    package (the shipped adapters' way: `pip install 'autograd-conformance[jax]'`)."""

    def __init__(self, backend: str, extra: str | None = None, *, install: str | None = None):
        if install is None:
            if extra is None:
                raise TypeError("EngineMissing needs the engine's install command or extra")
            install = f"pip install 'autograd-conformance[{extra}]'"
        super().__init__(f"backend {backend!r} needs its engine: {install}")
        self.extra = extra
        self.install = install
