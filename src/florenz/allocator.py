"""glibc's allocator told to keep freed memory in the process, as every `florenz` verb does on start.

By default glibc serves a block above its mmap threshold by mmap and unmaps it on free, and returns a heap's
freed top above its trim threshold; both start at 128 KiB and only rise as large blocks are freed. A small
model's step on the CPU then takes fresh pages from the kernel for its activations at every step and faults
each one in: ~8,900 page faults per 64-image step of `pretrain vision` on world-xs (two shard threads, after
30 warm-up steps), ~50 with the thresholds fixed from the start at glibc's own upper bounds. That step runs
1.16x faster, VLM training steps of batch 16 1.06-1.11x (benchmarks/allocator.py); the trainer's CPU
micro-batches of at most 8 are too small to fault and are unchanged. The price is at most TRIM_THRESHOLD of
freed memory kept per arena; blocks above MMAP_THRESHOLD still go back to the kernel. jemalloc or tcmalloc,
which PyTorch's CPU performance guides preload, do the same. A user's own glibc malloc setting in the
environment (USER_SETTINGS; an empty GLIBC_TUNABLES keeps glibc's defaults) is left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt's parameter numbers (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# glibc's own upper bounds of its dynamic thresholds (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit, and twice it);
# higher ones were measured no faster and let torch's large aligned blocks fragment the heap (+450 MB RSS)
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20

# what a user sets to choose glibc's behaviour themselves; then it is theirs
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True where they were set, False where the
    C library is not glibc or the environment already sets glibc's malloc (USER_SETTINGS)."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in USER_SETTINGS):
        return False
    process = ctypes.CDLL(None)  # the symbols the interpreter is linked with, its C library's among them
    if not hasattr(process, "gnu_get_libc_version"):  # musl, macOS: not glibc, whose thresholds these are
        return False
    return bool(process.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and process.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
