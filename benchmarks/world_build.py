"""Throughput of `florenz world build`: prints a table and writes JSON.

    python benchmarks/world_build.py                      # 100k training images on all cores
    python benchmarks/world_build.py --samples 20000      # a shorter run (extrapolate, and say so)

Two builds run back to back: a small one (`--baseline-samples`) and the measured one. Everything a world
holds besides its training shards (test sets, benchmarks, corpus, tokenizer) costs the same in both, so the
difference gives the marginal speed of training images, and the large build's total the end-to-end speed.
On a shared machine wall times depend on the load, so a probe also measures the CPU time one training image
costs in one process (making and writing its shard), which bounds what N cores can do: N / cpu_seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from florenz.data.coverage import DEFAULT_COVERAGE
from florenz.data.shards import ShardSample, shard_bytes
from florenz.data.world_build import build_world
from florenz.world.config import WorldConfig
from florenz.world.samples import training_shard

from common import environment, print_table, write_result


def _timed_build(config: WorldConfig) -> tuple[float, int]:
    """Seconds to build `config` and the bytes it wrote."""
    started = time.perf_counter()
    out = build_world(config)
    seconds = time.perf_counter() - started
    return seconds, sum(path.stat().st_size for path in out.rglob("*") if path.is_file())


def _cpu_seconds_per_training_sample(config: WorldConfig, samples: int) -> float:
    """CPU seconds to make and serialise one training image with all its annotations, in this process."""
    started = time.process_time()
    made = training_shard(config.seed, 0, samples, config.image_size, config.max_objects,
                          DEFAULT_COVERAGE.languages("caption"), DEFAULT_COVERAGE.languages("translation"),
                          config.captions_per_detail, config.translations_per_language, config.text)
    shard_bytes([ShardSample(s.key, s.png, s.annotations) for s in made])
    return (time.process_time() - started) / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--samples", type=int, default=100_000, help="training images of the measured build")
    add("--baseline-samples", type=int, default=2_000, help="training images of the small build")
    add("--workers", type=int, default=0, help="worker processes; 0 = all cores")
    add("--image-size", type=int, default=96, help="image side in pixels")
    add("--probe-samples", type=int, default=1_000, help="training images of the one-process CPU probe")
    add("--json", default="benchmarks/results/world_build.json", help="where to write the results")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="florenz-world-bench-"))
    try:
        config = WorldConfig(out=str(scratch / "small"), samples=args.baseline_samples, workers=args.workers,
                             image_size=args.image_size)
        cpu_per_sample = _cpu_seconds_per_training_sample(config, args.probe_samples)
        small_seconds, _ = _timed_build(config)
        large = replace(config, out=str(scratch / "large"), samples=args.samples)
        large_seconds, large_bytes = _timed_build(large)
    finally:
        shutil.rmtree(scratch)

    marginal = (args.samples - args.baseline_samples) / max(large_seconds - small_seconds, 1e-9)
    result = {
        "benchmark": "world_build",
        "date": time.strftime("%Y-%m-%d"),
        **environment(packages=["numpy", "pillow", "tokenizers"]),
        "workers": args.workers or "all",
        "image_size": args.image_size,
        "baseline": {"samples": args.baseline_samples, "seconds": round(small_seconds, 2)},
        "measured": {"samples": args.samples, "seconds": round(large_seconds, 2), "bytes": large_bytes},
        "end_to_end_samples_per_second": round(args.samples / large_seconds, 1),
        "training_samples_per_second": round(marginal, 1),
        "seconds_per_100k_training_samples": round(100_000 / marginal, 1),
        "cpu_ms_per_training_sample": round(1000 * cpu_per_sample, 3),
        "cpu_bound_seconds_per_100k_training_samples_on_2_cores": round(100_000 * cpu_per_sample / 2, 1),
    }
    print_table([{"build": "baseline", "samples": args.baseline_samples, "seconds": round(small_seconds, 1)},
                 {"build": "measured", "samples": args.samples, "seconds": round(large_seconds, 1)}])
    print(f"end to end: {result['end_to_end_samples_per_second']} samples/s; training shards alone: "
          f"{result['training_samples_per_second']} samples/s "
          f"({result['seconds_per_100k_training_samples']} s per 100k); "
          f"{large_bytes / 2**20:.0f} MiB written; load average {os.getloadavg()[0]:.1f}")
    print(f"one-process probe: {1000 * cpu_per_sample:.2f} CPU ms per training image, i.e. "
          f"{result['cpu_bound_seconds_per_100k_training_samples_on_2_cores']} s per 100k on 2 idle cores")
    write_result(args.json, result)


if __name__ == "__main__":
    main()
