"""Helpers the benchmark scripts share: the matmul peak, the environment a result was measured in, tables
and JSON results.

The scripts run as `python benchmarks/NAME.py`, which puts this directory on `sys.path`, so they import this
module as `common`. torch is imported inside the functions that use it: world_build.py's worker processes
import that script, and with it this module, and should not pay for torch.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from florenz.allocator import keep_freed_memory

if TYPE_CHECKING:
    import torch

# every `florenz` verb starts so (florenz.cli.main), and the scripts time what the verbs run
FREED_MEMORY_KEPT = keep_freed_memory()


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on `device`, so that a wall-clock timing covers it; a no-op on CPU."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device | str = "cpu", size: int = 2048,
                repeats: int = 8) -> float:
    """Best FLOP/s of `repeats` (size × size) @ (size × size) products in `dtype` on `device`, after a warm-up
    product.

    On CPU this measures the threads torch uses at the time of the call.
    """
    import torch

    device = torch.device(device)
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    a @ b  # warm-up: thread pool and kernel selection
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def _cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo where there is one, else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(threads: int | None = None, device: torch.device | str | None = None,
                packages: Iterable[str] = ()) -> dict:
    """`{"hardware": ..., "versions": ...}` of this run, to merge into a result.

    hardware: CPU model, torch's CPU capability, CPUs, load average, whether glibc keeps freed memory
    (florenz.allocator) and, where given, the torch threads and the device (the GPU's name on CUDA);
    versions: python, torch, florenz and the extra `packages`.
    """
    import torch

    hardware = {"cpu": _cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "cpus": os.cpu_count(), "load_average": os.getloadavg(),
                "freed_memory_kept": FREED_MEMORY_KEPT}
    if threads is not None:
        hardware["threads"] = threads
    if device is not None:
        device = torch.device(device)
        hardware["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    versions = {"python": sys.version.split()[0]}
    versions |= {name: version(name) for name in ("torch", "florenz", *packages)}
    return {"hardware": hardware, "versions": versions}


def print_table(rows: list[dict], columns: list[str] | None = None) -> None:
    """Print `columns` of `rows` (all keys of the first row by default) right-aligned under their names."""
    columns = columns or list(rows[0])
    widths = [max(len(column), *(len(str(row[column])) for row in rows)) for column in columns]
    print("  ".join(column.rjust(width) for column, width in zip(columns, widths)))
    for row in rows:
        print("  ".join(str(row[column]).rjust(width) for column, width in zip(columns, widths)))


def write_result(path: str | Path, payload: dict) -> Path:
    """Write `payload` as indented JSON and say where; a `path` not ending in .json is a directory, into
    which it goes as `<benchmark>-<date>-<time>.json` so that runs do not overwrite each other."""
    path = Path(path)
    if path.suffix != ".json":
        path = path / f"{payload['benchmark']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def read_baseline(path: str, benchmark: str, key: tuple[str, ...], out_flag: str) -> dict[tuple, dict]:
    """An earlier result of the `benchmark` script, its rows by their `key` columns; {} without --baseline."""
    if not path:
        return {}
    if not Path(path).is_file():
        raise SystemExit(f"--baseline {path} does not exist; pass a JSON this script wrote (its {out_flag})")
    result = json.loads(Path(path).read_text())
    if result.get("benchmark") != benchmark:
        raise SystemExit(f"--baseline {path} is not a result of this script; pass a {benchmark} JSON")
    return {tuple(row[column] for column in key): row for row in result["rows"]}
