"""View records: which tensor a view shows, and which of its elements.

A view shares its base's NumPy memory, so a write through it already reaches the base's values;
what a write must also reach is the base's history (inplace_ops.py, PyTorch's CopySlices). For
that, every view made by shape_ops records its root base (a view of a view records the first
base) and the index map of its elements into the base's flattened elements, read off the view's
strides and offset. This module only keeps those records; it builds on tensor.py and
versions.py alone, so that shape_ops can record a view as it makes one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tensor import Tensor
from .versions import share


class ViewOf:
    """A view's root base, and for each element of the view the flat index of the base element
    it shows."""

    __slots__ = ("base", "index")

    def __init__(self, base: Tensor, index: np.ndarray) -> None:
        self.base = base
        self.index = index


def share_view(view: Tensor, base: Tensor) -> Tensor:
    """What every view op of shape_ops calls on its result: the base's version counter
    (versions.share) and, where the result aliases the base's memory, its view record."""
    share(view, base)
    record = view_of(base)
    root = base if record is None else record.base
    index = _index_map(view._data, root._data)
    if index is not None:
        made: Any = view  # the slot `_view` is made on first need, as `_version_counter`
        made._view = ViewOf(root, index)
    return view


def view_of(t: Tensor) -> ViewOf | None:
    """The tensor's view record, or None for a tensor that is no view."""
    found: ViewOf | None = getattr(t, "_view", None)
    return found


def _index_map(view: Any, root: Any) -> np.ndarray | None:
    """The flat index into `root` of each element of `view`, or None where `view` is not a view
    of it (NumPy copied) or `root` is not laid out row-major (only views have other layouts,
    and a view's root is never a view)."""
    if not (isinstance(view, np.ndarray) and isinstance(root, np.ndarray)):
        return None
    if not np.may_share_memory(view, root) or not root.flags.c_contiguous:
        return None
    size = root.itemsize
    offset = view.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if offset % size or any(s % size for s in view.strides):
        return None
    flat = np.arange(root.size, dtype=np.int64)
    elements = np.lib.stride_tricks.as_strided(
        flat[offset // size :],
        shape=view.shape,
        strides=tuple(s // size * flat.itemsize for s in view.strides),
    )
    return np.array(elements)
