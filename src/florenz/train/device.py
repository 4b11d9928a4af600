"""Where and in what precision a process computes: shared by the trainer and the pre-training steps."""

from __future__ import annotations

import torch

from florenz.config import ConfigError
from florenz.model.accounting import forward_flops
from florenz.model.config import ModelConfig

# Forward FLOPs per sample (`florenz model list` F: 128 prompt + 128 target tokens) from which bf16
# autocast beats fp32 on a CPU with native bf16. Measured there (dependencies.md, 2026-12-01, training
# with data loading, samples/s fp32 / bf16): world-xxs (F 0.13 G) 176 / 133, world-xs (0.42 G) 85 / 68,
# world-s (2.19 G) 22 / 29; the threshold sits between xs and s, at their geometric mean.
CPU_BF16_MIN_FORWARD_FLOPS = 1e9
# Samples per forward pass on CPU for --micro-batch-size 0 under the token-mean loss: a step's samples sorted
# by length into micro-batches of 8, each padded to its own longest, skip most of the padding (world batches
# are ~60% padding). Model step CPU time vs one micro-batch of 32 (2026-12-01, AVX2, fp32, 1 thread):
# world-xxs 1.75x, world-xs 1.50x, world-s 1.42x faster; micro-batches of 4: 1.54x, 1.41x, 1.48x.
CPU_MICRO_BATCH_SIZE = 8


def pick_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is a config error."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX512-BF16 or AMX); elsewhere torch emulates bf16, slowly."""
    return any(getattr(torch.cpu, probe, lambda: False)()
               for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def use_bf16(precision: str, device: torch.device, model_config: ModelConfig) -> bool:
    """Whether to compute under bf16 autocast: 'bf16' and 'fp32' say so; 'auto' picks bf16 only where it
    was measured faster.

    - CUDA with bf16 support: bf16 (tensor cores; not measured here, there is no GPU on the build machine).
    - CPU with native bf16: bf16 only for models of at least CPU_BF16_MIN_FORWARD_FLOPS forward FLOPs per
      sample (world-s and up, world-s-gemma and up); below it the casts and small bf16 kernels cost more
      than they save (world-xxs 25%, world-xs 20% slower), and bf16 is also what makes a 2-process run
      differ from a 1-process run (3e-4 vs 1.2e-7 in fp32 after 6 steps, issue #13).
    - CPU without native bf16 (AVX2): fp32; torch emulates bf16 there. benchmarks/precision.py on an AVX2
      EPYC (2026-12-01, 1 thread, batch 16, interleaved, median of 3): bf16/fp32 samples/s 0.21 world-xxs,
      0.09 world-xs, 0.06 world-s (matmul 512²: 11 vs 0.5 GFLOP/s); larger sizes only get worse.
    """
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_native_bf16() and forward_flops(model_config) >= CPU_BF16_MIN_FORWARD_FLOPS


def auto_micro_batch_size(samples_per_process: int, loss_reduction: str, device: torch.device) -> int:
    """--micro-batch-size 0: on CPU under the token-mean loss, near-equal micro-batches of at most
    CPU_MICRO_BATCH_SIZE samples (grouped by length, they change the padding and nothing else); otherwise
    the whole per-process batch, as the micro-batch-mean loss depends on how samples are grouped (and small
    micro-batches were not measured on CUDA)."""
    if device.type != "cpu" or loss_reduction != "token":
        return samples_per_process
    micro_batches = -(-samples_per_process // CPU_MICRO_BATCH_SIZE)
    return -(-samples_per_process // micro_batches)
