"""reference_engine: a small NumPy autograd engine that mirrors PyTorch's observable autograd
behaviour, errors included. `import reference_engine as torch` runs the conformance examples.
It imports NumPy and the standard library only."""

from __future__ import annotations

from . import (
    autograd,
    jvps,  # noqa: F401 - run first for its effect: it wraps each op with its JVP (forward mode)
    methods,  # noqa: F401 - run for its effect: it binds the Tensor's operators and methods
    nn,
)
from .creation import (
    from_numpy,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from .dtypes import Size, bool_, device, dtype, float16, float32, float64, int32, int64
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .matmul import addmm, dot, matmul, mm, mv
from .ops import (
    POINTWISE,
    abs,
    add,
    div,
    eq,
    exp,
    ge,
    gt,
    le,
    log,
    lt,
    mean,
    mul,
    ne,
    neg,
    pow,
    reciprocal,
    relu,
    sigmoid,
    sub,
    sum,
    tanh,
)
from .shape_ops import reshape, transpose
from .tensor import Tensor

globals().update(POINTWISE)  # the pointwise functions of ops.py (defpointwise), by name

bool = bool_  # noqa: A001 - torch.bool
long = int64
half = float16
float = float32  # noqa: A001
double = float64
int = int32  # noqa: A001 - torch.int is int32

__all__ = [
    "Size",
    "Tensor",
    "abs",
    "add",
    "addmm",
    "autograd",
    "bool",
    "device",
    "div",
    "dot",
    "double",
    "dtype",
    "enable_grad",
    "eq",
    "exp",
    "float",
    "float16",
    "float32",
    "float64",
    "from_numpy",
    "ge",
    "gt",
    "half",
    "inference_mode",
    "int",
    "int32",
    "int64",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "le",
    "log",
    "long",
    "lt",
    "manual_seed",
    "matmul",
    "mean",
    "mm",
    "mul",
    "mv",
    "ne",
    "neg",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "pow",
    "rand",
    "randn",
    "reciprocal",
    "relu",
    "reshape",
    "set_grad_enabled",
    "sigmoid",
    "sub",
    "sum",
    "tanh",
    "tensor",
    "transpose",
    "zeros",
    "zeros_like",
    *sorted(POINTWISE),
]
