"""`python -m conformance.backends.cuda_check`: fail fast, with one line, where no CUDA device
is visible.

`tox -e cuda` runs this first so that a hardware run on a machine without a GPU is red, never
green by skipping everything.
"""

from __future__ import annotations

import sys

EXIT_NO_CUDA = 2


def cuda_problem() -> str | None:
    """Why a CUDA run cannot happen here, or None when a device is visible."""
    try:
        import torch
    except ImportError:
        return (
            "PyTorch is not importable; tox -e cuda uses the CUDA build of torch installed "
            "on the machine (system site packages): install it there first"
        )
    if torch.version.cuda is None:
        return (
            f"torch {torch.__version__} is a CPU-only build; install a CUDA build of PyTorch "
            "on this GPU machine"
        )
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return (
            f"no CUDA device is visible (torch {torch.__version__}, CUDA {torch.version.cuda}); "
            "tox -e cuda needs a GPU"
        )
    return None


def main() -> int:
    problem = cuda_problem()
    if problem is not None:
        print(f"conformance: error: {problem}", file=sys.stderr)
        return EXIT_NO_CUDA
    import torch

    print(
        f"conformance: CUDA device 0: {torch.cuda.get_device_name(0)} "
        f"(torch {torch.__version__}, CUDA {torch.version.cuda})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
