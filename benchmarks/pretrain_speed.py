"""Speed of the world's starting points: vision and decoder pre-training with their default recipes.

    python benchmarks/pretrain_speed.py                          # builds a small world in a temporary dir
    python benchmarks/pretrain_speed.py --world runs/world --sizes world-xxs,world-xs --threads 2
    python benchmarks/pretrain_speed.py --baseline benchmarks/baselines/pretrain_speed-before-issue19.json

For each size: `florenz pretrain vision` and `florenz pretrain decoder --langs all` with the default recipes
(the budgets a study uses), timed end to end (rendering, probes and saving included) in wall-clock and CPU
seconds (all threads of the process; a busy machine disturbs them far less), and the training samples/s each
step reports. The target (issue 19): each takes under 60 s on 2 quiet cores for the two smallest ladder
sizes. Also printed: the probe accuracies of the tower and the decoder's final LM loss. Compare ratios taken
in one run, never absolute times from different runs or machines; --baseline prints the ratios to an earlier
result of this script (benchmarks/baselines/pretrain_speed-before-issue19.json: before issue 19), for code
changes that cannot run side by side; trust its CPU-second ratio over the wall-clock one.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from florenz.data.world_build import build_world
from florenz.pretrain.config import DecoderPretrainConfig, VisionPretrainConfig
from florenz.pretrain.decoder import pretrain_decoder
from florenz.pretrain.vision import pretrain_vision
from florenz.world.config import WorldConfig

from common import environment, print_table, read_baseline, write_result

TARGET_SECONDS = 60


def _timed(function, config) -> tuple[Path, float, float]:
    """(output, wall-clock seconds, CPU seconds of this process) of function(config)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    out = function(config)
    return out, time.perf_counter() - started, time.process_time() - cpu_started


def bench_size(size: str, world: Path, scratch: Path) -> list[dict]:
    vision_dir, vision_seconds, vision_cpu_seconds = _timed(pretrain_vision, replace(
        VisionPretrainConfig(), world=str(world), size=size, out=str(scratch / f"vision-{size}")))
    vision = json.loads((vision_dir / "config.json").read_text())
    probe = vision["linear_probe_accuracy"]
    pretrained, random = probe["pretrained"], probe["random"]
    decoder_dir, decoder_seconds, decoder_cpu_seconds = _timed(pretrain_decoder, replace(
        DecoderPretrainConfig(), world=str(world), size=size, langs="all",
        out=str(scratch / f"decoder-{size}")))
    decoder = json.loads((decoder_dir / "decoder_pretraining.json").read_text())
    return [
        {"size": size, "part": "vision", "samples": vision["pretraining"]["samples"],
         "seconds": round(vision_seconds, 1), "cpu_seconds": round(vision_cpu_seconds, 1),
         "train_samples_per_s": round(vision["samples_per_s"]),
         "within_target": vision_seconds < TARGET_SECONDS,
         "result": f"probe colour {pretrained['colour']:.2f} (random {random['colour']:.2f}), shape "
                   f"{pretrained['shape']:.2f} (random {random['shape']:.2f})"},
        {"size": size, "part": "decoder", "samples": decoder["seen_samples"],
         "seconds": round(decoder_seconds, 1), "cpu_seconds": round(decoder_cpu_seconds, 1),
         "train_samples_per_s": round(decoder["seen_samples"] / decoder_seconds),
         "within_target": decoder_seconds < TARGET_SECONDS,
         "result": f"final LM loss {decoder['final_loss']:.3f}"},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="", help="a built world; empty: build a small one (64 px, 4,000 "
                                                   "corpus lines per language) in a temporary directory")
    parser.add_argument("--sizes", default="world-xxs,world-xs", help="comma-separated ladder sizes")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads")
    parser.add_argument("--json", default="benchmarks/results/pretrain_speed.json",
                        help="where to write results")
    parser.add_argument("--baseline", default="", help="an earlier result of this script: print each row's "
                                                       "speed-up over its row there")
    args = parser.parse_args()
    baseline = read_baseline(args.baseline, "pretrain_speed", ("size", "part"), "--json")
    torch.set_num_threads(args.threads)
    env = environment(args.threads)
    print(f"hardware: {env['hardware']}\nversions: {env['versions']}")
    with tempfile.TemporaryDirectory(prefix="florenz-pretrain-speed-") as scratch:
        world = Path(args.world) if args.world else build_world(WorldConfig(
            out=str(Path(scratch) / "world"), samples=200, image_size=64, test_samples=50,
            benchmark_samples=10, corpus_sentences=4000, shard_size=200))
        rows = [row for size in args.sizes.split(",") for row in bench_size(size, world, Path(scratch))]
    columns = ["size", "part", "samples", "seconds", "cpu_seconds", "train_samples_per_s", "within_target"]
    for row in rows:
        before = baseline.get((row["size"], row["part"]))
        if before is not None:
            row["speedup"] = f"{before['seconds'] / row['seconds']:.2f}x"
            row["cpu_speedup"] = f"{before['cpu_seconds'] / row['cpu_seconds']:.2f}x"
    if baseline:
        columns += ["speedup", "cpu_speedup"]
    print(f"\npre-training with the default recipes (target: under {TARGET_SECONDS} s each, 2 quiet cores):")
    print_table(rows, [*columns, "result"])
    write_result(args.json, {"benchmark": "pretrain_speed", "date": time.strftime("%Y-%m-%d"), **env,
                             "baseline": args.baseline, "rows": rows})



if __name__ == "__main__":
    main()
