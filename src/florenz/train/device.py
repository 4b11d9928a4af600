"""Where and in what precision a process computes: shared by the trainer and the pre-training steps."""

from __future__ import annotations

import torch

from florenz.config import ConfigError


def pick_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is a config error."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast where the hardware computes bf16 natively; emulated bf16 (AVX2 CPUs) is slower."""
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return any(getattr(torch.cpu, probe, lambda: False)()
               for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
