"""Generation speed: new tokens/s at batch 1 and 32, with and without the KV cache, for two ladder sizes.

    python benchmarks/generation.py                       # world-xs and world-s-gemma, 64 new tokens
    python benchmarks/generation.py --threads 1 --repeats 1

Random weights and an end-of-sequence id that never comes, so every input generates exactly
--new-tokens tokens (greedy, through `florenz.model.generation.generate`, the path `florenz caption`
uses). Uncached decoding recomputes the whole prefix at every step, so its cost grows quadratically with
the output length: the cache's advantage grows with --new-tokens. Time is the best of --repeats runs, as
wall-clock time and as this thread's CPU time (on a shared machine the CPU time is the steadier of the two;
run with --threads 1 for it to cover all the work). The widths the cache target is set at (>= 384):
`--sizes world-m,world-m-gemma`. Compare ratios within one run, never absolute times from different runs or
machines.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from florenz.model.florenz import FlorenzModel
from florenz.model.generation import generate
from florenz.model.sizes import get_size

from common import environment, print_table, synchronize, write_result

SIZES = ("world-xs", "world-s-gemma")  # one BART and one Gemma-2 decoder
BATCHES = (1, 32)
PROMPT_TOKENS = 16


def tokens_per_second(model: FlorenzModel, batch: int, new_tokens: int, use_cache: bool, repeats: int,
                      device: torch.device) -> tuple[float, float]:
    """Generated tokens per wall-clock and per CPU second for `batch` random images and prompts; the best of
    `repeats` runs."""
    config = model.config
    pixels = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
    prompt = torch.randint(4, 200, (batch, PROMPT_TOKENS), device=device)
    mask = torch.ones_like(prompt)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        synchronize(device)
        started, started_cpu = time.perf_counter(), time.thread_time()
        outputs = generate(model, pixels, prompt, mask, max_new_tokens=new_tokens, use_cache=use_cache)
        synchronize(device)
        best_wall = min(best_wall, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.thread_time() - started_cpu)
        assert all(len(output) == new_tokens for output in outputs)  # no <eos>: fixed lengths
    return batch * new_tokens / best_wall, batch * new_tokens / best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma list of ladder sizes")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens generated per input")
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting; the best counts")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    parser.add_argument("--out", default="benchmarks/results", help="JSON file or folder for the result")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for size in args.sizes.split(","):
        torch.manual_seed(0)
        model = FlorenzModel(get_size(size)).to(device).eval()
        model.config = dataclasses.replace(model.config, eos_token_id=-1)  # never ends: fixed lengths
        for batch in BATCHES:
            speed = {cached: tokens_per_second(model, batch, args.new_tokens, cached, args.repeats, device)
                     for cached in (True, False)}
            (cached, cached_cpu), (uncached, uncached_cpu) = speed[True], speed[False]
            rows.append({"size": size, "batch": batch, "new_tokens": args.new_tokens,
                         "cached_tok_s": round(cached, 1), "uncached_tok_s": round(uncached, 1),
                         "cache_speedup": round(cached / uncached, 2),
                         "cached_tok_cpu_s": round(cached_cpu, 1),
                         "uncached_tok_cpu_s": round(uncached_cpu, 1),
                         "cache_speedup_cpu": round(cached_cpu / uncached_cpu, 2)})
            print_table(rows[-1:])
    print()
    print_table(rows)
    write_result(args.out, {"benchmark": "generation", **environment(torch.get_num_threads(), device),
                            "rows": rows})


if __name__ == "__main__":
    main()
