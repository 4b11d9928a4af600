"""Evaluation speed against the issues' targets: `florenz eval-loss` (issue 14: under 30 s) and
`florenz eval --tasks world` (issue 15: under 2 minutes), each on a world-xs run and the default world.

    python benchmarks/eval_speed.py                  # builds the default world and trains a world-xs run
    python benchmarks/eval_speed.py --world runs/world --run runs/xs-all --threads 1,2 --profile

Both verbs run through their Python entry points (`eval_loss`, `run_eval`) exactly as the CLI calls them,
on a copy of the run in a scratch directory (the run given by --run is never written to), once per thread
count. The time is the verb's whole wall clock: reading and encoding the test sets or benchmarks, loading
the model, the forward passes or generation, scoring and writing. samples/s is the samples the verb
processed over that time: every sample of the UC/ST/SC test sets for eval-loss; for eval the plan's count
(translations, captions with and without prefix, English captions, and both sides of each ambiguity pair).
A freshly trained run of a small budget still ends most outputs with <eos>; the share of outputs cut off
at --max-new-tokens is reported, as unfinished outputs cost the most. The load average before and after
each measurement is recorded: on a shared machine other processes slow a measurement down.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import tempfile
import time
from pathlib import Path

import torch

from florenz.data.shards import read_shard
from florenz.data.world_build import build_world
from florenz.eval.config import EvalConfig, EvalLossConfig
from florenz.eval.eval_loss import eval_loss
from florenz.eval.losses import split_sets
from florenz.eval.run_eval import run_eval
from florenz.train.config import OptimConfig, TrainConfig
from florenz.train.loop import train
from florenz.world.config import WorldConfig

from common import environment, print_table, write_result

TARGET_SECONDS = {"eval-loss": 30.0, "eval world": 120.0}  # issues 14 and 15, "Speed"
BATCH_SIZE = 32  # of the trained run; warm-up is the default 100 steps or a tenth of a smaller budget
RUN_ARTIFACTS_LEFT_BEHIND = ("checkpoints", "eval", "eval_loss.jsonl")  # not needed to evaluate, or outputs


def test_set_samples(world: Path) -> int:
    """Samples in the world's UC, ST and SC test sets together: what eval-loss evaluates."""
    return sum(1 for shards in split_sets(world).values() for shard in shards for _ in read_shard(shard))


def timed(function, profile_path: Path | None):
    """(result, seconds) of `function()`; under cProfile, its statistics written to `profile_path`."""
    profiler = cProfile.Profile() if profile_path else None
    started = time.perf_counter()
    if profiler:
        result = profiler.runcall(function)
        profiler.dump_stats(profile_path)
    else:
        result = function()
    return result, time.perf_counter() - started


def print_profile(name: str, path: Path, lines: int = 25) -> None:
    print(f"\n== cProfile of {name} (cumulative time, top {lines}; whole file in {path})")
    pstats.Stats(str(path)).sort_stats("cumulative").print_stats(lines)


def measure_eval_loss(run: Path, world: Path, threads: int, samples: int, profile: Path | None) -> dict:
    config = EvalLossConfig(run=str(run), world=str(world), overwrite=True, threads=threads)
    load_before = os.getloadavg()[0]
    rows, seconds = timed(lambda: eval_loss(config), profile)
    return {"verb": "eval-loss", "threads": threads, "seconds": seconds, "samples": samples,
            "samples_per_s": samples / seconds, "target_s": TARGET_SECONDS["eval-loss"],
            "load_before": load_before, "load_after": os.getloadavg()[0],
            "losses": {split: rows[-1][split] for split in ("uc", "st", "sc")}}


def measure_eval_world(run: Path, world: Path, threads: int, out: Path, profile: Path | None) -> dict:
    config = EvalConfig(run=str(run), world=str(world), tasks=("world",), overwrite=True, threads=threads,
                        out=str(out))
    load_before = os.getloadavg()[0]
    _, seconds = timed(lambda: run_eval(config), profile)
    summary = json.loads((out / "world.json").read_text())
    predictions = [json.loads(line) for line in (out / "world.predictions.jsonl").read_text().splitlines()]
    generated = [row for row in predictions if "finished" in row]
    return {"verb": "eval world", "threads": threads, "seconds": seconds, "samples": summary["samples"],
            "samples_per_s": summary["samples"] / seconds, "target_s": TARGET_SECONDS["eval world"],
            "load_before": load_before, "load_after": os.getloadavg()[0],
            "cut_off_share": sum(not row["finished"] for row in generated) / len(generated),
            "scores": {key: summary["scores"][key] for key in
                       ("translation_bleu/mean", "caption_cider/seen", "caption_prefix_cider/unseen")
                       if key in summary["scores"]}}


def prepare(args: argparse.Namespace, scratch: Path) -> tuple[Path, Path, dict]:
    """(world, run copy in scratch, what was prepared): the given world and run, or new ones."""
    prepared: dict = {}
    if args.world:
        world = Path(args.world)
    else:
        started = time.perf_counter()
        world = build_world(WorldConfig(out=str(scratch / "world")))
        prepared["world_build_s"] = time.perf_counter() - started
    if args.run:
        source = Path(args.run)
        if not (source / "train_config.json").is_file():
            raise SystemExit(f"--run {source} is not a run directory of `florenz train` (no "
                             "train_config.json); pass one, or leave --run empty to train one")
    else:
        source = scratch / "trained"
        started = time.perf_counter()
        steps = -(-args.train_samples // BATCH_SIZE)
        train(TrainConfig(data=str(world), out=str(source), size="world-xs", samples=args.train_samples,
                          batch_size=BATCH_SIZE, save_every=0, log_every=50,
                          optim=OptimConfig(warmup_steps=min(100, max(1, steps // 10)))))
        prepared["train_s"] = time.perf_counter() - started
        prepared["train_samples"] = args.train_samples
    run = scratch / "run"
    shutil.copytree(source, run, ignore=shutil.ignore_patterns(*RUN_ARTIFACTS_LEFT_BEHIND))
    return world, run, prepared


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="", help="world directory; empty: build the default 20k-image "
                                                    "world in the scratch directory")
    parser.add_argument("--run", default="", help="world-xs run directory of `florenz train` (copied, never "
                                                  "written); empty: train one for --train-samples")
    parser.add_argument("--train-samples", type=int, default=20000,
                        help="budget of the world-xs run trained when --run is empty")
    parser.add_argument("--threads", default="1,2", help="comma list of torch thread counts to measure")
    parser.add_argument("--verbs", default="eval-loss,eval world", help="comma list: eval-loss, eval world")
    parser.add_argument("--profile", action="store_true",
                        help="run each verb's first measurement under cProfile and print where time goes")
    parser.add_argument("--out", default="benchmarks/results", help="directory of the JSON result")
    args = parser.parse_args(argv)
    threads = [int(count) for count in args.threads.split(",")]
    verbs = args.verbs.split(",")
    if unknown := set(verbs) - set(TARGET_SECONDS):
        parser.error(f"--verbs {sorted(unknown)}: choose from {', '.join(TARGET_SECONDS)}")
    with tempfile.TemporaryDirectory(prefix="florenz-eval-bench-") as scratch:
        _measure(args, Path(scratch), threads, verbs)


def _measure(args: argparse.Namespace, scratch: Path, threads: list[int], verbs: list[str]) -> None:
    world, run, prepared = prepare(args, scratch)
    samples = test_set_samples(world)
    rows, profiles = [], {}
    for count in threads:
        for verb in verbs:
            profile = scratch / f"{verb.replace(' ', '-')}.prof" if args.profile and verb not in profiles \
                else None
            if verb == "eval-loss":
                rows.append(measure_eval_loss(run, world, count, samples, profile))
            else:
                rows.append(measure_eval_world(run, world, count, scratch / f"eval-{count}", profile))
            if profile:
                profiles[verb] = profile
    for verb, path in profiles.items():
        print_profile(verb, path)
    print(f"\nworld {world}, run {args.run or f'world-xs trained for {args.train_samples} samples'}"
          + (" (first measurement of each verb under cProfile)" if args.profile else ""))
    print_table([{"verb": row["verb"], "threads": row["threads"], "seconds": f"{row['seconds']:.1f}",
                  "target s": f"{row['target_s']:.0f}", "met": "yes" if row["seconds"] <= row["target_s"]
                  else "NO", "samples": row["samples"], "samples/s": f"{row['samples_per_s']:.0f}",
                  "load 1 min": f"{row['load_before']:.1f}->{row['load_after']:.1f}"} for row in rows])
    write_result(args.out, {
        "benchmark": "eval_speed", "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        **environment(torch.get_num_threads()),
        "settings": {"world": str(world), "run": args.run, "train_samples": args.train_samples,
                     "profiled": args.profile},
        "prepared": prepared, "rows": rows,
    })


if __name__ == "__main__":
    main()
