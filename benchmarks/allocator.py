"""What glibc's kept freed memory (florenz.allocator, set by every `florenz` verb) buys a small model's step.

    python benchmarks/allocator.py                       # world-xs: vision pre-training and VLM steps
    python benchmarks/allocator.py --sizes world-xxs,world-xs --rounds 12

Two settings of glibc's malloc, each in processes of its own as a verb would run, on the same seeded
weights and inputs: `default`, glibc as it starts (mmap and trim thresholds 128 KiB, raised by glibc itself
as large blocks are freed, up to 32 and 64 MiB; the process gets an empty GLIBC_TUNABLES, the user's way
to opt out), and `kept`, florenz.allocator.keep_freed_memory's thresholds. The two alternate for --rounds
processes each, so that a machine's drift touches both alike; the rows give the median ms per step (wall)
and page faults per step of each, and kept's speed-up. The workloads: `pretrain vision`'s step
(florenz.pretrain.vision.batch_gradients, on shard threads as the verb runs it) and a VLM training step
(forward, loss, backward) of each size. Compare ratios, never absolute times across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from florenz.model.accounting import VISION_MODULES
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size
from florenz.pretrain.vision import DenseAttributeHead, batch_gradients, shard_threads

from common import FREED_MEMORY_KEPT, environment, print_table, write_result


def vision_step(size: str, batch: int, device: torch.device) -> Callable[[], None]:
    """One step of `pretrain vision` on random pixels and labels (gradients only: the weights stay put)."""
    config = get_size(size)
    model = FlorenzModel(config)
    head = DenseAttributeHead(config.encoder.d_model)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.split(".", 1)[0] in VISION_MODULES)
    parameters = [p for p in [*model.parameters(), *head.parameters()] if p.requires_grad]
    pixels = torch.randn(batch, 3, config.image_size, config.image_size)
    labels = torch.stack([torch.randint(0, classes, (batch, 9)) for classes in head.classes], dim=-1)

    def step() -> None:
        with shard_threads(device) as (shards, pool):  # per step: the VLM steps run on torch's threads
            batch_gradients(model, head, parameters, pixels, labels, False, shards, pool)
    return step


def vlm_step(size: str, batch: int) -> Callable[[], None]:
    """Forward, cross-entropy and backward of a whole VLM on random images, prompts and targets."""
    config = get_size(size)
    model = FlorenzModel(config).train()
    vocab = config.decoder.vocab_size
    pixels = torch.randn(batch, 3, config.image_size, config.image_size)
    prompt = torch.randint(4, vocab, (batch, 12))
    targets = torch.randint(4, vocab, (batch, 24))

    def step() -> None:
        logits = model(pixels, prompt, torch.ones_like(prompt), targets[:, :-1])  # (B, T-1, V)
        F.cross_entropy(logits.flatten(0, 1), targets[:, 1:].flatten()).backward()
        model.zero_grad(set_to_none=True)
    return step


def timed(step: Callable[[], None], steps: int, warmup: int) -> tuple[float, float]:
    """(wall ms per step, page faults per step) of `steps` steps after `warmup` unmeasured ones (glibc's
    default thresholds rise over a run's first steps)."""
    for _ in range(warmup):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - started
    return seconds / steps * 1e3, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps


def measure(args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """(ms per step, faults per step) of each workload, in this process."""
    torch.manual_seed(0)
    workloads = {}
    for size in args.sizes.split(","):
        workloads[f"pretrain vision {size}"] = vision_step(size, args.vision_batch, torch.device("cpu"))
        workloads[f"train VLM {size}"] = vlm_step(size, args.vlm_batch)
    return {name: timed(step, args.steps, args.warmup) for name, step in workloads.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="world-xs", help="comma-separated ladder sizes")
    parser.add_argument("--vision-batch", type=int, default=64, help="pretrain vision's batch (its default)")
    parser.add_argument("--vlm-batch", type=int, default=16, help="images per VLM training step")
    parser.add_argument("--steps", type=int, default=10, help="measured steps per workload and process")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured steps before them")
    parser.add_argument("--rounds", type=int, default=6, help="processes per setting, alternating")
    parser.add_argument("--out", default="benchmarks/results", help="JSON file or directory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one process's measurement
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"kept": FREED_MEMORY_KEPT, "workloads": measure(args)}))
        return
    child = [sys.executable, __file__, "--child", *sys.argv[1:]]
    runs: dict[str, list[dict]] = {"default": [], "kept": []}
    for round_ in range(args.rounds):
        for setting in runs:
            env = os.environ | {"GLIBC_TUNABLES": ""} if setting == "default" else os.environ
            result = json.loads(subprocess.run(child, env=env, check=True, capture_output=True,
                                               text=True).stdout.splitlines()[-1])
            if result["kept"] != (setting == "kept"):
                raise SystemExit(f"a {setting} process got kept={result['kept']}: unset GLIBC_TUNABLES and "
                                 f"MALLOC_* to compare, on glibc")
            runs[setting].append(result["workloads"])
        print(f"round {round_ + 1}/{args.rounds}", flush=True)
    rows = []
    for name in runs["default"][0]:
        (default_ms, default_faults), (kept_ms, kept_faults) = (
            [statistics.median(column) for column in zip(*(run[name] for run in runs[setting]))]
            for setting in ("default", "kept"))
        rows.append({"workload": name, "default_ms": round(default_ms, 1),
                     "default_faults": round(default_faults), "kept_ms": round(kept_ms, 1),
                     "kept_faults": round(kept_faults), "kept_speedup": round(default_ms / kept_ms, 2)})
    print_table(rows)
    write_result(args.out, {"benchmark": "allocator", **environment(torch.get_num_threads()),
                            "settings": {k: v for k, v in vars(args).items() if k != "child"}, "rows": rows})


if __name__ == "__main__":
    main()
