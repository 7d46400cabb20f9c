"""dtype objects, Size and device, plus PyTorch's type-promotion rule and its rule for a
dimension argument (`normalize_dim`), which the op modules share."""

from __future__ import annotations

import numpy as np


class dtype:  # noqa: N801 - named like torch.dtype
    __slots__ = ("name", "np", "is_floating_point", "category", "_short")

    def __init__(self, name: str, np_dtype: type, category: int, short: str) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        # 0 bool < 1 integer < 2 floating: promotion only crosses categories upwards
        self.category = category
        self.is_floating_point = category == 2
        self._short = short  # the name torch uses in messages ("Float", "Long")

    def __repr__(self) -> str:
        return f"reference_engine.{self.name}"


float16 = dtype("float16", np.float16, 2, "Half")
float32 = dtype("float32", np.float32, 2, "Float")
float64 = dtype("float64", np.float64, 2, "Double")
int64 = dtype("int64", np.int64, 1, "Long")
int32 = dtype("int32", np.int32, 1, "Int")
bool_ = dtype("bool", np.bool_, 0, "Bool")

FROM_NUMPY: dict[np.dtype, dtype] = {
    d.np: d for d in (float16, float32, float64, int64, int32, bool_)
}
"""No bfloat16: NumPy has none, and the engine depends on NumPy alone."""
DEFAULT_FLOAT = np.dtype(np.float32)
_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2}


def to_dtype(arr_dtype: np.dtype) -> dtype:
    try:
        return FROM_NUMPY[arr_dtype]
    except KeyError:
        raise TypeError(f"unsupported dtype {arr_dtype}") from None


def short_name(arr_dtype: np.dtype) -> str:
    return to_dtype(arr_dtype)._short


def result_type(a: np.ndarray, b: np.ndarray | complex) -> np.dtype:
    """torch.result_type: higher category wins; within it, dimensioned tensors beat 0-d
    tensors, which beat Python scalars (so float32 * 2.0 stays float32)."""
    da = a.dtype
    if isinstance(b, np.ndarray):
        db = b.dtype
        if da == db:
            return da
        ca, cb = _CATEGORY[da.kind], _CATEGORY[db.kind]
        if ca != cb:
            return da if ca > cb else db
        if (a.ndim == 0) == (b.ndim == 0):
            return np.promote_types(da, db)
        return da if b.ndim == 0 else db
    ca = _CATEGORY[da.kind]
    cb = 0 if isinstance(b, bool) else 1 if isinstance(b, int) else 2
    if cb <= ca:
        return da
    return np.dtype(np.int64) if cb == 1 else DEFAULT_FLOAT


def normalize_dim(d: int, ndim: int) -> int:
    """A dimension argument in range(ndim), counted from the end if negative; a 0-d tensor
    accepts 0 and -1, as in torch."""
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not lo <= d <= hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {d})"
        )
    return d % max(ndim, 1)


class Size(tuple[int, ...]):
    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))


class device(str):  # noqa: N801 - compares equal to 'cpu' like torch.device does in practice
    __slots__ = ()

    @property
    def type(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"device(type='{self}')"


CPU = device("cpu")
