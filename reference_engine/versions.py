"""Version counters: how PyTorch notices a tensor saved for backward was modified in place.

Every in-place write bumps the counter of the storage it writes (`Tensor._version`); tensors
that alias one storage (detach(), views) share one counter. A node records the count of each
tensor it saves when it is built, and the engine refuses to run it once a count has moved,
raising PyTorch's RuntimeError at that node, during the backward that needs it. A node that
saves nothing (add, sub, neg, sum, the views) records nothing and never refuses.

Which tensors a node saves follows PyTorch's derivatives.yaml (each checked on torch 2.13 in
tests/reference_engine/test_refengine_errors.py): exp, sigmoid, tanh, relu and reciprocal save
their result; log, abs, sin and pow by a scalar save their input; mul saves each operand only
for the other's gradient; div saves the divisor, and the dividend for the divisor's gradient;
pow of two tensors saves both and its result, a scalar to a tensor power the exponent and the
result. Python scalars are never saved as tensors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

MODIFIED_MSG = (
    "one of the variables needed for gradient computation has been modified by an inplace"
    " operation: [{kind} [{shape}]]{which} is at version {now}; expected version {saved}"
    " instead. Hint: enable anomaly detection to find the operation that failed to compute its"
    " gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False)."
)
_TENSOR_KIND = {
    "float32": "torch.FloatTensor",
    "float64": "torch.DoubleTensor",
    "int64": "torch.LongTensor",
    "int32": "torch.IntTensor",
    "bool": "torch.BoolTensor",
}

_BACKWARD_SUFFIX = re.compile(r"Backward(0$)?")

# Nodes are autograd.Node, typed Any: this module sits below autograd.py and imports none of it.
Saved = tuple["VersionCounter", int, Any, np.ndarray]
"""(counter, count when saved, the saved input or None for the node's own result, its data)."""


class VersionCounter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


def counter(t: Any) -> VersionCounter:
    """The tensor's counter, made on first need: most tensors are never saved or written."""
    found: VersionCounter | None = getattr(t, "_version_counter", None)
    if found is None:
        found = t._version_counter = VersionCounter()
    return found


def bump(t: Any) -> None:
    """Count one in-place write to t's storage."""
    counter(t).value += 1


def share(view: Any, base: Any) -> Any:
    """Give `view` its base's counter when it aliases the base's storage, as torch's views and
    detach() do; a copy (NumPy could not view) keeps a counter of its own."""
    if view._data is base._data and not isinstance(base._data, np.ndarray):
        # a 0-d result NumPy handed back as a scalar: both get one writable 0-d array, so that
        # a write through either is seen by the other (detach() of a 0-d tensor)
        base._data = view._data = np.array(base._data)
    if np.may_share_memory(view._data, base._data):
        view._version_counter = counter(base)
    return view


def record(node: Any, inputs: Sequence[Any | None] = (), result: Any | None = None) -> None:
    """Note the counts of the tensors `node` saves: some of its inputs, and/or its result."""
    entries = [(c := counter(t), c.value, t, t._data) for t in inputs if t is not None]
    if result is not None:  # a fresh tensor: its counter is new, at 0
        fresh = result._version_counter = VersionCounter()
        entries.append((fresh, 0, None, result._data))
    node.versions = tuple(entries)


def _op_name(node: Any) -> str:
    """SigmoidBackward0 -> Sigmoid, PowBackward1 -> Pow1: the op, as torch's message names it."""
    return _BACKWARD_SUFFIX.sub("", node.name())


def check(node: Any) -> None:
    """Raise PyTorch's RuntimeError if a tensor `node` saved has been written since."""
    for c, saved, variable, data in node.versions:
        if c.value != saved:
            # torch names the saved tensor's producer: a saved input's current grad_fn (none for
            # a leaf), or the node itself for its own result
            producer = node if variable is None else variable._grad_fn
            which = ""
            if producer is not None:
                # torch regenerates a view's grad_fn once its version moves: AsStridedBackward0
                view = getattr(variable, "_view", None) is not None
                which = f", which is output 0 of {'AsStrided' if view else _op_name(producer)},"
            raise RuntimeError(
                MODIFIED_MSG.format(
                    kind=_TENSOR_KIND.get(data.dtype.name, data.dtype.name),
                    shape=", ".join(str(n) for n in data.shape),
                    which=which,
                    now=c.value,
                    saved=saved,
                )
            )
