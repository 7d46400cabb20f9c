"""PyTorch on CPU and CUDA: the engine whose observable behaviour the suites encode."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from conformance.backends.torchlike import TorchLikeAdapter
from conformance.protocol import Capabilities, DeviceUnavailable, EngineMissing, Tensor


class TorchAdapter(TorchLikeAdapter):
    name: ClassVar[str] = "torch"
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    capabilities: Capabilities = replace(
        TorchLikeAdapter.capabilities,
        dtypes=frozenset({"float16", "bfloat16", "float32", "float64"}),
        complex_grads=True,
    )

    def __init__(self, device: str = "cpu") -> None:
        try:
            import torch
        except ImportError as exc:
            raise EngineMissing("torch", "torch") from exc
        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise DeviceUnavailable(
                    f"torch:{device}: no CUDA device is visible to PyTorch "
                    f"(torch {torch.__version__}, built with CUDA "
                    f"{torch.version.cuda})"
                )
            index = int(device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise DeviceUnavailable(
                    f"torch:{device}: only {torch.cuda.device_count()} CUDA device(s) are visible"
                )
        elif device != "cpu":
            raise DeviceUnavailable(f"torch: unknown device {device!r}; use cpu, cuda or cuda:N")
        super().__init__(torch, device)

    def _device_kwargs(self) -> dict[str, Any]:
        return {"device": self.device}

    def to_numpy(self, tensor: Tensor) -> np.ndarray:
        host = tensor.detach().cpu()
        # bfloat16, which NumPy lacks, reads back as float32 (every bfloat16 value is one).
        host = host.float() if host.dtype == self.m.bfloat16 else host
        # force=True: a double backward may give an efficient zero tensor (ZeroTensor), which
        # numpy() refuses without it.
        return np.array(host.numpy(force=True), copy=True)

    def environment(self) -> dict[str, Any]:
        torch = self.m
        facts: dict[str, Any] = {
            "torch_version": torch.__version__,
            "git_version": getattr(torch.version, "git_version", None),
            "num_threads": torch.get_num_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        }
        if self.device.startswith("cuda"):
            index = int(self.device.partition(":")[2] or 0)
            facts.update(
                gpu_name=torch.cuda.get_device_name(index),
                cuda_version=torch.version.cuda,
                cudnn_version=torch.backends.cudnn.version(),
                driver_version=_nvidia_driver_version(),
                capability=".".join(map(str, torch.cuda.get_device_capability(index))),
                tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                tf32_cudnn=torch.backends.cudnn.allow_tf32,
                float32_matmul_precision=torch.get_float32_matmul_precision(),
                cudnn_deterministic=torch.backends.cudnn.deterministic,
            )
        return facts


def _nvidia_driver_version() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
