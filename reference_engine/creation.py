"""Tensor constructors. dtype inference follows torch.tensor: Python floats -> float32,
ints -> int64, bools -> bool; NumPy arrays keep their dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import DEFAULT_FLOAT, dtype, float32
from .tensor import Tensor

_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def _leaf(data: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(data)
    if requires_grad:
        if data.dtype.kind != "f":
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        t._requires_grad = True
    return t


def _infer(data: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        return data._data.copy()
    if isinstance(data, np.ndarray):
        return data.copy()
    arr = np.array(data)
    if arr.dtype == np.float64:  # Python floats default to float32, as torch does
        arr = arr.astype(DEFAULT_FLOAT)
    return arr


def tensor(data: Any, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        return _leaf(_infer(data), requires_grad)
    # Straight to the requested dtype: a detour through the float32 default would round
    # float64 literals.
    source = data._data if isinstance(data, Tensor) else data
    return _leaf(np.array(source, dtype=dtype.np), requires_grad)


def _size(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], tuple | list):
        return tuple(size[0])
    return tuple(size)


def ones(*size: Any, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.ones(_size(size), dtype=(dtype or float32).np), requires_grad)


def zeros(*size: Any, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.zeros(_size(size), dtype=(dtype or float32).np), requires_grad)


def randn(*size: Any, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    np_dtype = (dtype or float32).np
    return _leaf(_rng.standard_normal(_size(size)).astype(np_dtype), requires_grad)


def rand(*size: Any, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    np_dtype = (dtype or float32).np
    return _leaf(_rng.random(_size(size)).astype(np_dtype), requires_grad)


def ones_like(t: Tensor, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.ones_like(t._data, dtype=dtype.np if dtype else None), requires_grad)


def zeros_like(t: Tensor, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.zeros_like(t._data, dtype=dtype.np if dtype else None), requires_grad)


def from_numpy(arr: np.ndarray) -> Tensor:
    return Tensor._wrap(arr)  # shares memory, as torch.from_numpy does
