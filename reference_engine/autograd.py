"""The backward graph (Node, AccumulateGrad) and the engine that runs it (grad mode: grad_mode.py).

A Node is the backward of one op: `apply(grad_of_output)` returns one gradient (or None)
per entry of `next_functions`. `saved` holds the tensors the backward needs (the op's inputs
or result themselves, as torch's SavedVariable); the engine sets it to None after a backward
without retain_graph, and a later backward through that node raises, exactly when PyTorch
would (nodes that saved nothing can be re-run).

Gradients are Tensors and every node computes its input gradients with the engine's own
differentiable ops. The engine runs the backward in grad mode `create_graph`: without it the
ops record nothing (the fast path), with it the gradients get a grad_fn of their own and can
be differentiated again, to any order.

This is the bottom layer (with grad_mode.py below it): it knows a tensor only as a `Variable`,
the few members it uses, so tensor.py (the Tensor) can build on it without a circle.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from .dtypes import Size, to_dtype
from .grad_mode import GradMode as GradMode
from .grad_mode import enable_grad as enable_grad
from .grad_mode import inference_mode as inference_mode
from .grad_mode import is_grad_enabled as is_grad_enabled
from .grad_mode import is_inference_mode_enabled as is_inference_mode_enabled
from .grad_mode import no_grad as no_grad
from .grad_mode import set_grad_enabled as set_grad_enabled
from .hooks import run_post_accumulate_hooks, run_tensor_hooks
from .versions import check as check_saved_versions

Edge = tuple["Node | None", int]
Grad = Any
"""A gradient: a Tensor (tensor.py). Typed Any here, below tensor.py; the engine uses only the
operators methods.py binds to it (`+`, `.to`)."""

FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after"
    " they have already been freed). Saved intermediate values of the graph are freed when you"
    " call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward"
    " through the graph a second time or if you need to access saved tensors after calling"
    " backward."
)


class Variable(Protocol):
    """What the graph and the engine use of a tensor; tensor.py's Tensor is the one there is."""

    _data: np.ndarray
    _requires_grad: bool
    _grad_fn: Node | None

    @property
    def requires_grad(self) -> bool: ...

    @classmethod
    def _wrap(cls, data: np.ndarray) -> Variable:
        """A new tensor holding `data`, outside any graph."""
        ...

    def _accumulator(self) -> AccumulateGrad:
        """The leaf's one AccumulateGrad node."""
        ...

    def _accumulate_grad(self, grad: Grad) -> None:
        """Add `grad` into the leaf's .grad."""
        ...

    def _retain_grad(self, grad: Grad) -> None:
        """Add `grad` into the .grad of this non-leaf that called retain_grad()."""
        ...

    def _grad_tensor(self, grad: Grad, create_graph: bool) -> Variable:
        """What autograd.grad returns for this input, given the gradient that reached it."""
        ...


# --- grad mode -------------------------------------------------------------------------------
# Per-thread grad and inference modes live in grad_mode.py; the names above are re-exported
# because the op modules read `GradMode.enabled` from here.


# --- graph nodes -----------------------------------------------------------------------------
class Node:
    # versions: the counts of the tensors it saved (versions.py), set only by nodes that save
    __slots__ = ("next_functions", "saved", "retained", "hooks", "versions")

    def __init__(self, next_functions: tuple[Edge, ...], saved: tuple[Any, ...] = ()) -> None:
        self.next_functions = next_functions
        self.saved: tuple[Any, ...] | None = saved
        self.versions: tuple[Any, ...] = ()  # set by versions.record for the tensors it saved
        self.retained: Variable | None = None  # the non-leaf output that called retain_grad()
        self.hooks: dict[int, Any] | None = None  # its tensor's hooks (hooks.py), by handle id

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    def apply(self, grad: Grad) -> Sequence[Grad | None]:
        raise NotImplementedError

    def needs(self, i: int) -> bool:
        """Whether input i wants a gradient; nodes skip work (and saving) for the others."""
        return self.next_functions[i][0] is not None


class AccumulateGrad(Node):
    __slots__ = ("variable", "post_hooks")

    def __init__(self, variable: Variable) -> None:
        super().__init__(())
        self.variable = variable
        self.post_hooks: dict[int, Any] | None = None

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def apply(self, grad: Grad) -> Sequence[Grad | None]:
        # a leaf whose requires_grad was switched off after use is skipped, as in torch
        if self.variable._requires_grad:
            self.variable._accumulate_grad(grad)
        run_post_accumulate_hooks(self.post_hooks, self.variable)  # even when skipped, as torch
        return ()


def edge(t: Variable) -> Edge:
    fn = t._grad_fn
    if fn is not None:
        return (fn, 0)
    if t._requires_grad:
        return (t._accumulator(), 0)
    return (None, 0)


class CopyBackwards(Node):
    """What a leaf's first .grad records when it is made in grad mode (backward with
    create_graph=True): torch stores a copy of the incoming gradient, made by copy_."""

    __slots__ = ()

    def apply(self, grad: Grad) -> Sequence[Grad | None]:
        return (grad,)


class CloneBackward0(CopyBackwards):
    """What a retained non-leaf .grad records when it is made in grad mode: torch clones."""

    __slots__ = ()


# --- the engine ------------------------------------------------------------------------------
def _execute(
    roots: list[tuple[Node, Grad]],
    keep_graph: bool,
    targets: set[Node] | None = None,
    create_graph: bool = False,
    ran: set[Node] | None = None,
) -> dict[Node, Grad]:
    """Run the graph once in topological order (Kahn's algorithm): a node runs when all its
    consumers have run, so it sees the sum of the gradients from every path, exactly once.

    Without `targets` every node runs, AccumulateGrad included (backward). With `targets`,
    only nodes with a target below them run, and the gradients arriving at the targets are
    returned instead of accumulated (autograd.grad, backward(inputs=...)); `ran`, if given,
    collects the targets that ran themselves.

    The nodes run in grad mode `create_graph`, so their ops record a graph of the gradients
    exactly when asked to. NumPy's warnings are silenced: torch's kernels give inf and nan
    without a word, and the forward ops already do the same.
    """
    with set_grad_enabled(create_graph), np.errstate(all="ignore"):
        return _run(roots, keep_graph, targets, ran)


def _run(
    roots: list[tuple[Node, Grad]],
    keep_graph: bool,
    targets: set[Node] | None,
    ran: set[Node] | None,
) -> dict[Node, Grad]:
    # pass 1: count each node's consumers; refuse freed nodes before any .grad is touched
    deps: dict[Node, int] = {}
    consumers: dict[Node, list[Node]] = {}  # reverse edges, kept only to find `runs` below
    root_nodes = list(dict.fromkeys(n for n, _ in roots))
    seen = set(root_nodes)
    stack = list(root_nodes)
    while stack:
        node = stack.pop()
        if node.saved is None and targets is None:
            raise RuntimeError(FREED_MSG)
        for nxt, _ in node.next_functions:
            if nxt is None:
                continue
            deps[nxt] = deps.get(nxt, 0) + 1
            if targets is not None:
                consumers.setdefault(nxt, []).append(node)
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    runs = None
    if targets is not None:
        runs = _above(targets, consumers)
        if any(node.saved is None for node in runs):
            raise RuntimeError(FREED_MSG)

    # pass 2: run nodes whose consumers are all done, summing gradients per node
    buffers: dict[Node, Grad] = {}
    for node, root_grad in roots:
        buffers[node] = buffers[node] + root_grad if node in buffers else root_grad
    captured: dict[Node, Grad] = {}
    ready = [n for n in root_nodes if n not in deps]
    while ready:
        node = ready.pop()
        grad = buffers.pop(node, None)
        grads: Sequence[Grad | None] | None = None
        if grad is not None:
            runs_here = runs is None or node in runs
            if runs is not None and node in targets:  # type: ignore[operator]
                # torch passes a capture through the hooks only when the node itself won't run
                captured[node] = grad if runs_here else run_tensor_hooks(node.hooks, grad)
                if runs_here and ran is not None:
                    ran.add(node)
            if runs_here:
                grad = run_tensor_hooks(node.hooks, grad)  # then retain_grad sees their result
                if node.retained is not None:
                    node.retained._retain_grad(grad)
                if node.versions:  # a saved tensor written in place since: refuse
                    check_saved_versions(node)
                grads = node.apply(grad)
            if not keep_graph and node.saved and grads is not None:
                node.saved = None
        for i, (nxt, _) in enumerate(node.next_functions):
            if nxt is None:
                continue
            g = None if grads is None else grads[i]
            if g is not None:
                prev = buffers.get(nxt)
                buffers[nxt] = g if prev is None else prev + g
            left = deps[nxt] - 1
            deps[nxt] = left
            if not left:
                ready.append(nxt)
    return captured


def _above(targets: set[Node], consumers: dict[Node, list[Node]]) -> set[Node]:
    """The nodes with a target somewhere below them: the only ones worth running. Found by
    walking the reverse edges up from the targets, each edge once."""
    above: set[Node] = set()
    stack = [t for t in targets if t in consumers]
    while stack:
        for consumer in consumers.get(stack.pop(), ()):
            if consumer not in above:
                above.add(consumer)
                stack.append(consumer)
    return above


def _roots(
    outputs: Sequence[Variable], grad_outputs: Sequence[Variable | None]
) -> list[tuple[Node, Grad]]:
    """Each output's node and its seed: the gradient given (itself, so a seed that requires
    grad is part of a graph built with create_graph), or ones for a one-element output."""
    roots = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs, strict=True)):
        if not out.requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        data = out._data
        wrap = type(out)._wrap
        seed: Grad
        if g is None:
            if data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            seed = wrap(np.ones(data.shape, data.dtype))
        else:
            seed = g if hasattr(g, "_data") else wrap(np.asarray(g))
            shape = seed._data.shape
            if shape != data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {Size(shape)!r}"
                    f" and output[{i}] has a shape of {Size(data.shape)!r}."
                )
            if seed._data.dtype != data.dtype:
                seed = seed.to(to_dtype(data.dtype))
        node = out._grad_fn if out._grad_fn is not None else out._accumulator()
        roots.append((node, seed))
    return roots


def _as_seq(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, list | tuple) else [x]


def backward(
    tensors: Variable | Sequence[Variable],
    grad_tensors: Variable | Sequence[Variable | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Variable | Sequence[Variable] | None = None,
) -> None:
    outs = _as_seq(tensors)
    grads = _as_seq(grad_tensors) or [None] * len(outs)
    roots = _roots(outs, grads)
    targets = None
    if inputs is not None:
        ins = _as_seq(inputs)
        if not ins:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
        targets = set()
        for t in ins:
            if not t.requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            targets.add(t._grad_fn if t._grad_fn is not None else t._accumulator())
    if create_graph:
        _warn_cycle_once()
    keep = create_graph if retain_graph is None else retain_graph
    ran: set[Node] = set()
    captured = _execute(roots, bool(keep), targets, create_graph, ran)
    if inputs is None:
        return
    with set_grad_enabled(create_graph), np.errstate(all="ignore"):  # as the nodes ran
        for t in _as_seq(inputs):
            node = t._grad_fn if t._grad_fn is not None else t._accumulator()
            if node in captured and t._requires_grad:
                if isinstance(node, AccumulateGrad):
                    node.apply(captured[node])  # a leaf's post-accumulate hooks run too
                elif not (node.retained is t and node in ran):  # its retain_grad did it
                    t._retain_grad(captured[node])  # a non-leaf input: as retain_grad


def grad(
    outputs: Variable | Sequence[Variable],
    inputs: Variable | Sequence[Variable],
    grad_outputs: Variable | Sequence[Variable | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Variable | None, ...]:
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True,"
            " but got: allow_unused=False."
        )
    outs, ins = _as_seq(outputs), _as_seq(inputs)
    grads = _as_seq(grad_outputs) or [None] * len(outs)
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    roots = _roots(outs, grads)
    nodes = [t._grad_fn if t._grad_fn is not None else t._accumulator() for t in ins]
    keep = create_graph if retain_graph is None else retain_graph
    captured = _execute(roots, bool(keep), set(nodes), create_graph)
    result: list[Variable | None] = []
    for i, (t, node) in enumerate(zip(ins, nodes, strict=True)):
        g = captured.get(node)
        if g is None:
            if materialize_grads:
                g = type(t)._wrap(np.zeros_like(t._data))
            elif not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in the"
                    " graph. Set allow_unused=True if this is the desired behavior."
                )
            else:
                result.append(None)
                continue
        result.append(t._grad_tensor(g, create_graph))
    return tuple(result)


CYCLE_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the parameter"
    " and its gradient which can cause a memory leak. We recommend using autograd.grad when"
    " creating the graph to avoid this. If you have to use this function, make sure to reset"
    " the .grad fields of your parameters to None after use to break the cycle and avoid the"
    " leak."
)
_cycle_warned = False


def _warn_cycle_once() -> None:
    """torch warns at the first backward(create_graph=True) of the process (TORCH_WARN_ONCE),
    whatever the graph or `inputs`; autograd.grad never warns."""
    global _cycle_warned
    if not _cycle_warned:
        _cycle_warned = True
        warnings.warn(CYCLE_WARNING, UserWarning, stacklevel=3)
