"""Thread counts of the two engines' native libraries: PyTorch's intra-op pool and the OpenBLAS
that NumPy (so the reference engine) calls for matmul. Pinning both to one thread gives a second,
less noisy data point where neither engine can use the other core."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any


@cache
def _openblas() -> tuple[Any, Any] | None:
    """NumPy's OpenBLAS get/set-threads functions, found among the loaded libraries (NumPy's
    wheels bundle `scipy_openblas`); None where NumPy uses another BLAS."""
    import numpy  # noqa: F401 - loads the BLAS

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for getter, setter in (
            ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
            ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
            ("openblas_get_num_threads", "openblas_set_num_threads"),
        ):
            if hasattr(lib, getter) and hasattr(lib, setter):
                return getattr(lib, getter), getattr(lib, setter)
    return None


def blas_threads() -> int | None:
    found = _openblas()
    return None if found is None else int(found[0]())


def torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


@contextmanager
def limited(threads: int | None) -> Iterator[dict[str, int | None]]:
    """Run with both libraries at `threads` (None: leave the defaults); yields the counts in
    force, restores the previous ones on exit."""
    import torch

    found = _openblas()
    before_torch, before_blas = torch_threads(), blas_threads()
    if threads is not None:
        torch.set_num_threads(threads)
        if found is not None:
            found[1](threads)
    try:
        yield {"torch_threads": torch_threads(), "blas_threads": blas_threads()}
    finally:
        torch.set_num_threads(before_torch)
        if found is not None and before_blas is not None:
            found[1](before_blas)
