"""autograd-conformance: where an autograd engine's gradients and graph semantics differ from
PyTorch's.

Importing this package imports NumPy and the standard library only; engines are imported when a
backend is loaded.
"""

from __future__ import annotations

__version__ = "0.1.0"
