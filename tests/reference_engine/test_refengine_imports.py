"""reference_engine imports NumPy and the standard library only, and exposes the
PyTorch-shaped namespace the conformance suite relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import autograd_conformance_reference as re

ROOT = Path(__file__).resolve().parents[2]


def test_imports_neither_torch_nor_other_third_party_packages() -> None:
    code = (
        "import sys, autograd_conformance_reference, autograd_conformance_reference.nn.functional\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "std = set(sys.stdlib_module_names)\n"
        "third = {m.split('.')[0] for m in sys.modules} - std\n"
        "third -= {'autograd_conformance_reference', 'numpy', 'cython_runtime', '__main__',"
        " '_distutils_hack'}\n"
        "print(sorted(m for m in third if not m.startswith('_')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_public_namespace() -> None:
    names = [
        "Tensor",
        "tensor",
        "ones",
        "zeros",
        "randn",
        "manual_seed",
        "from_numpy",
        "ones_like",
        "zeros_like",
        "add",
        "sub",
        "mul",
        "div",
        "neg",
        "pow",
        "exp",
        "log",
        "sigmoid",
        "tanh",
        "relu",
        "abs",
        "sum",
        "mean",
        "matmul",
        "mm",
        "mv",
        "transpose",
        "reshape",
        "gt",
        "lt",
        "ge",
        "le",
        "eq",
        "ne",
        "no_grad",
        "enable_grad",
        "set_grad_enabled",
        "is_grad_enabled",
        "float32",
        "float64",
        "int64",
        "long",
        "int32",
        "bool",
        "autograd",
        "nn",
    ]
    missing = [n for n in names if not hasattr(re, n)]
    assert not missing
    assert callable(re.autograd.grad) and callable(re.autograd.backward)
    assert callable(re.nn.functional.linear)
    assert callable(re.nn.functional.binary_cross_entropy_with_logits)
    p = re.nn.Parameter(re.ones(2))
    assert p.requires_grad and p.is_leaf
