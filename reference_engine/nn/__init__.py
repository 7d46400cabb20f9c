"""The slice of torch.nn the conformance suite needs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from . import functional


class Parameter(Tensor):
    """A leaf that requires grad by default, sharing the given tensor's storage."""

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        arr = np.empty(0, dtype=np.float32) if data is None else data._data
        t = cls._wrap(arr, requires_grad)
        return t  # type: ignore[return-value]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # __new__ did the work; Tensor.__init__ would copy the data

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


__all__ = ["Parameter", "functional"]
