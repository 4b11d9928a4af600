"""Training throughput of `florenz train` on the world: samples/s, tokens/s and MFU, data loading included.

    python benchmarks/train_throughput.py                          # builds a small world in a temp dir
    python benchmarks/train_throughput.py --data runs/world --steps 30 --threads 1
    python benchmarks/train_throughput.py --sizes world-xxs,world-xs --precisions fp32 --threads 1 \
        --baseline benchmarks/baselines/train_throughput-before-issue19.json  # ratios to an earlier run

Measured in one run, for three ladder sizes and both precisions:
1. the machine's matmul peak in float32 and bfloat16 (best of several 2048² products on the threads used);
2. loader-only samples/s: the trainer's own batch stream (shards -> balancing -> tokens -> pixels ->
   padded batches), nothing else; it must be well above the training rate, or data is the bottleneck;
3. training samples/s and tokens/s of `florenz.train.train` itself (prefetching loader, forward, loss,
   backward, clipping, AdamW): the best of the logged 5-step rates after the first (warm-up) interval, as
   other processes on a shared machine only ever slow a window down; and samples per CPU second of the
   same steps (all of the process's threads), which a busy machine disturbs far less than wall-clock rates.
MFU = model FLOPs per sample × samples/s / peak of the dtype. Model FLOPs per sample come from
`florenz.model.accounting` at the batches' mean padded lengths: the frozen vision tower runs forward only
(F_vision), the trained encoder and decoder forward and backward (3 × (F_encoder + F_decoder)).
Compare ratios within one run, never absolute numbers from different runs or machines. The one exception is
--baseline: the ratios to an earlier result of this script, for code changes that cannot run side by side
(benchmarks/baselines/train_throughput-before-issue19.json: the trainer before length-grouped micro-batches,
issue 19); trust its CPU-second ratio over the wall-clock one, and rerun the baseline on another machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from florenz.data.collate import IGNORE_INDEX
from florenz.data.world_build import build_world
from florenz.model.accounting import forward_flops_breakdown
from florenz.model.sizes import get_size
from florenz.train.build import build_steps
from florenz.train.config import OptimConfig, TrainConfig
from florenz.train.loop import train
from florenz.train.metrics import read_metrics
from florenz.world.config import WorldConfig

from common import environment, matmul_peak, print_table, read_baseline, write_result

LADDER_SIZES = ("world-xxs", "world-xs", "world-s")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def loader_rate(config: TrainConfig, steps: int) -> tuple[float, float, float]:
    """(samples/s of the batch stream alone in the calling thread, mean padded prompt and target lengths)."""
    unthreaded = dataclasses.replace(config, loader=dataclasses.replace(config.loader, prefetch_steps=0))
    batches = build_steps(unthreaded, get_size(config.size), None, config.batch_size, 0, 1)
    next(batches)  # opens the first shard
    prompt_lengths, target_lengths = [], []
    start = time.perf_counter()
    for _ in range(steps):
        for batch in next(batches).micro_batches:
            prompt_lengths.append(batch["input_ids"].shape[1])
            target_lengths.append(batch["labels"].shape[1])
            assert (batch["labels"] != IGNORE_INDEX).any()
    rate = steps * config.batch_size / (time.perf_counter() - start)
    batches.close()
    return rate, statistics.mean(prompt_lengths), statistics.mean(target_lengths)


def training_rate(config: TrainConfig) -> tuple[float, float, float]:
    """(samples/s, tokens/s) of the fastest logged interval of a real run, after the first (warm-up), and
    samples per CPU second over all steps after that first interval."""
    cpu_seconds: dict[int, float] = {}
    train(config, lambda row: cpu_seconds.__setitem__(row["step"], time.process_time()))
    rows = read_metrics(Path(config.out) / "metrics.jsonl")[1:]
    fastest = max(rows, key=lambda row: row["samples_per_s"])
    first, last = config.log_every, config.steps
    cpu_rate = (last - first) * config.batch_size / (cpu_seconds[last] - cpu_seconds[first])
    return fastest["samples_per_s"], fastest["tokens_per_s"], cpu_rate


def training_flops_per_sample(size: str, prompt_tokens: float, target_tokens: float) -> float:
    parts = forward_flops_breakdown(get_size(size), prompt_tokens=round(prompt_tokens),
                                    target_tokens=round(target_tokens))
    return parts["vision"] + 3 * (parts["encoder"] + parts["decoder"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="", help="world directory; empty: build a 2,000-image world")
    parser.add_argument("--sizes", default=",".join(LADDER_SIZES), help="ladder sizes, comma-separated")
    parser.add_argument("--steps", type=int, default=25, help="optimizer steps per training measurement")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per step")
    parser.add_argument("--precisions", default=",".join(DTYPES), help="fp32 and/or bf16, comma-separated")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    parser.add_argument("--out", default="benchmarks/results", help="directory (or .json file) of the result")
    parser.add_argument("--baseline", default="", help="an earlier result of this script: print each row's "
                                                       "speed-up over its row there")
    args = parser.parse_args(argv)
    if unknown := set(args.precisions.split(",")) - set(DTYPES):
        parser.error(f"--precisions {args.precisions}: {sorted(unknown)} unknown; use fp32 and/or bf16")
    if args.steps < 10:
        parser.error("--steps must be at least 10: the first 5-step interval is the warm-up and is not timed")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="florenz-train-bench-") as scratch:
        _measure(args, Path(scratch))


def _measure(args: argparse.Namespace, scratch: Path) -> None:
    """Build (or reuse) a world in scratch, measure every size × precision, print and write the result."""
    data = Path(args.data) if args.data else build_world(WorldConfig(
        out=str(scratch / "world"), samples=2000, test_samples=10, benchmark_samples=5, corpus_sentences=100))
    baseline = read_baseline(args.baseline, "train_throughput", ("size", "precision"), "--out")
    precisions = args.precisions.split(",")
    peaks = {name: 0.0 for name in precisions}
    rows = []
    for size in args.sizes.split(","):
        for precision in precisions:
            peaks[precision] = max(peaks[precision], matmul_peak(DTYPES[precision]))  # best seen in the run
            config = TrainConfig(data=str(data), out=str(scratch / f"{size}-{precision}"), size=size,
                                 steps=args.steps, batch_size=args.batch_size, precision=precision,
                                 save_every=0, log_every=5, optim=OptimConfig(warmup_steps=2))
            loader_samples, prompt_tokens, target_tokens = loader_rate(config, max(5, args.steps // 2))
            samples, tokens, samples_per_cpu_s = training_rate(config)
            flops = training_flops_per_sample(size, prompt_tokens, target_tokens)
            rows.append({"size": size, "precision": precision, "train_samples_per_s": samples,
                         "train_tokens_per_s": tokens, "train_samples_per_cpu_s": samples_per_cpu_s,
                         "loader_samples_per_s": loader_samples,
                         "loader_headroom": loader_samples / samples, "flops_per_sample": flops,
                         "mean_prompt_tokens": prompt_tokens,
                         "mean_target_tokens": target_tokens})
    for row in rows:  # against the best peak of the whole run
        row["mfu"] = row["flops_per_sample"] * row["train_samples_per_s"] / peaks[row["precision"]]
    for row in rows:
        before = baseline.get((row["size"], row["precision"]))
        if before is not None:
            row["speedup"] = row["train_samples_per_s"] / before["train_samples_per_s"]
            row["cpu_speedup"] = row["train_samples_per_cpu_s"] / before["train_samples_per_cpu_s"]
    print("matmul peak: " + ", ".join(f"{name} {peak / 1e9:.0f} GFLOP/s" for name, peak in peaks.items())
          + f", {torch.get_num_threads()} threads")
    if baseline:  # issue 19's target against benchmarks/baselines/train_throughput-before-issue19.json
        print("vs baseline: this run's samples/s over the baseline's (target >= 1.5x for world-xxs and "
              "world-xs); trust the CPU-second ratio on a busy machine")
    print_table([{"size": row["size"], "prec": row["precision"],
                  "train smp/s": round(row["train_samples_per_s"], 1),
                  "smp/CPU-s": round(row["train_samples_per_cpu_s"], 1),
                  "tok/s": round(row["train_tokens_per_s"]),
                  "loader smp/s": round(row["loader_samples_per_s"], 1),
                  "headroom": f"{row['loader_headroom']:.1f}x", "MFU": f"{100 * row['mfu']:.1f}%",
                  **({"vs baseline": f"{row['speedup']:.2f}x",
                      "CPU-s vs baseline": f"{row['cpu_speedup']:.2f}x"} if baseline else {})}
                 for row in rows])
    write_result(args.out, {
        "benchmark": "train_throughput", "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        **environment(torch.get_num_threads()),
        "settings": {"steps": args.steps, "batch_size": args.batch_size, "data": str(data),
                     "baseline": args.baseline},
        "matmul_peak_flops": peaks, "rows": rows,
    })



if __name__ == "__main__":
    main()
