"""bf16 autocast against fp32 training speed for each ladder size: the measurement behind `precision: auto`.

    python benchmarks/precision.py                                  # builds a small world in a temp dir
    python benchmarks/precision.py --sizes world-xxs,world-s --repeats 5 --threads 2

For each size, two copies of one model (same initial weights), one per precision, train on the same real
batches of the trainer's own batch stream (loaded once, before timing: loading costs the same in both
precisions). A repetition times `--steps` optimizer steps (forward, token loss, backward, clipping, AdamW)
of one precision and then of the other, alternating which goes first, so that both see the same load on a
shared machine; the reported speed-up is the median over repetitions of the per-repetition ratio
bf16 / fp32 samples/s. The result also records what `use_bf16("auto", ...)` decides for each size on this
machine, and the matmul peak of both dtypes. Compare ratios within one run, never across runs or machines.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from florenz.data.collate import IGNORE_INDEX
from florenz.data.world_build import build_world
from florenz.model.accounting import forward_flops
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size
from florenz.train.build import build_steps, set_trainable
from florenz.train.config import LoaderConfig, TrainConfig
from florenz.train.device import cpu_has_native_bf16, use_bf16
from florenz.train.loss import token_loss_sum
from florenz.train.optim import build_optimizer
from florenz.world.config import WorldConfig

from common import environment, matmul_peak, print_table, write_result

LADDER_SIZES = ("world-xxs", "world-xs", "world-s", "world-m", "world-l")
PRECISIONS = ("fp32", "bf16")


class StepTimer:
    """One model and its AdamW in one precision; `time(batches)` returns samples/s of one step per batch."""

    def __init__(self, config: TrainConfig, precision: str) -> None:
        torch.manual_seed(config.seed)
        self.model = FlorenzModel(get_size(config.size))
        self.optimizer = build_optimizer(set_trainable(self.model, config), config.optim)
        self.autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()

    def step(self, micro_batches: list[dict[str, torch.Tensor]]) -> None:
        targets = sum(int((batch["labels"] != IGNORE_INDEX).sum()) for batch in micro_batches)
        for batch in micro_batches:
            with self.autocast:
                logits = self.model(pixel_values=batch["pixel_values"], input_ids=batch["input_ids"],
                                    attention_mask=batch["attention_mask"],
                                    decoder_input_ids=batch["decoder_input_ids"])
            (token_loss_sum(logits, batch["labels"])[0] / targets).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def time(self, steps: list[list[dict[str, torch.Tensor]]], batch_size: int) -> float:
        started = time.perf_counter()
        for micro_batches in steps:
            self.step(micro_batches)
        return len(steps) * batch_size / (time.perf_counter() - started)


def measure_size(config: TrainConfig, steps: int, repeats: int) -> dict:
    """Interleaved repetitions of fp32 and bf16 on the same batches; medians of rates and of ratios."""
    stream = build_steps(config, get_size(config.size), None, config.batch_size, 0, 1)
    batches = [next(stream).micro_batches for _ in range(steps)]
    stream.close()
    timers = {precision: StepTimer(config, precision) for precision in PRECISIONS}
    for timer in timers.values():  # warm-up: allocator, kernel selection, AdamW state
        timer.time(batches[:1], config.batch_size)
    rates: dict[str, list[float]] = {precision: [] for precision in PRECISIONS}
    for repeat in range(repeats):
        order = PRECISIONS if repeat % 2 == 0 else PRECISIONS[::-1]
        for precision in order:
            rates[precision].append(timers[precision].time(batches, config.batch_size))
    ratios = [bf16 / fp32 for fp32, bf16 in zip(rates["fp32"], rates["bf16"])]
    model_config = get_size(config.size)
    return {"size": config.size, "forward_flops_per_sample": forward_flops(model_config),
            "fp32_samples_per_s": statistics.median(rates["fp32"]),
            "bf16_samples_per_s": statistics.median(rates["bf16"]),
            "bf16_speedup": statistics.median(ratios), "bf16_speedups": ratios,
            "auto_picks_bf16": use_bf16("auto", torch.device("cpu"), model_config)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="", help="world directory; empty: build a 300-image world")
    parser.add_argument("--sizes", default=",".join(LADDER_SIZES), help="ladder sizes, comma-separated")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per precision and repetition")
    parser.add_argument("--repeats", type=int, default=4, help="interleaved repetitions per size")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per step (the trainer's default)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fair on a shared machine)")
    parser.add_argument("--out", default="benchmarks/results", help="directory of the JSON result")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 2:
        parser.error("--steps must be at least 1 and --repeats at least 2 (the ratio is a median over them)")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="florenz-precision-bench-") as scratch:
        data = Path(args.data) if args.data else build_world(WorldConfig(
            out=str(Path(scratch) / "world"), samples=300, test_samples=4, benchmark_samples=2,
            corpus_sentences=50))
        # 512² products: emulated bf16 (AVX2) runs at ~1 GFLOP/s, where 2048² ones would take minutes
        peaks = {precision: matmul_peak(dtype, size=512) for precision, dtype
                 in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
        rows = []
        for size in args.sizes.split(","):
            config = TrainConfig(data=str(data), out=str(Path(scratch) / size), size=size,
                                 batch_size=args.batch_size, loader=LoaderConfig(prefetch_steps=0))
            rows.append(measure_size(config, args.steps, args.repeats))
            row = rows[-1]
            print(f"{size}: fp32 {row['fp32_samples_per_s']:.1f}, bf16 {row['bf16_samples_per_s']:.1f} "
                  f"samples/s, bf16/fp32 {row['bf16_speedup']:.2f}", flush=True)
    print(f"matmul peak: fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s; "
          f"native bf16: {cpu_has_native_bf16()}; {args.threads} thread(s)")
    print_table([{"size": row["size"], "F GFLOP": f"{row['forward_flops_per_sample'] / 1e9:.2f}",
                  "fp32 smp/s": round(row["fp32_samples_per_s"], 1),
                  "bf16 smp/s": round(row["bf16_samples_per_s"], 1),
                  "bf16/fp32": f"{row['bf16_speedup']:.2f}",
                  "range": f"{min(row['bf16_speedups']):.2f}-{max(row['bf16_speedups']):.2f}",
                  "auto": "bf16" if row["auto_picks_bf16"] else "fp32"} for row in rows])
    write_result(args.out, {
        "benchmark": "precision", "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        **environment(args.threads), "native_bf16": cpu_has_native_bf16(),
        "settings": {"steps": args.steps, "repeats": args.repeats, "batch_size": args.batch_size,
                     "data": str(data)},
        "matmul_peak_flops": peaks, "rows": rows,
    })


if __name__ == "__main__":
    main()
