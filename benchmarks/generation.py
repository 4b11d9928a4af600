"""Generation speed: the cost of a cached step; new tokens/s at batch 1 and 32 with and without the KV cache.

    python benchmarks/generation.py                          # tiny sizes: per-step cost and cache speed-up
    python benchmarks/generation.py --sizes world-m,world-m-gemma --threads 1   # the width-384 cache target
    python benchmarks/generation.py --baseline OLD.json      # ratios against a result of older code

Random weights and an end-of-sequence id that never comes, so every input generates exactly
--new-tokens tokens (greedy, through `florenz.model.generation.generate`, the path `florenz caption`
uses). Uncached decoding recomputes the whole prefix at every step, so its cost grows quadratically with
the output length: the cache's advantage grows with --new-tokens. A cached step is one decoder call for one
new token per input: its median over the cached runs of a batch is `step_ms` (wall) and `step_cpu_ms` (this
thread's CPU time), generate's own per-step bookkeeping excluded. `floor_cpu_ms` is the CPU time of the
products with every weight a step reads (the decoder's projections but the cached cross-attention keys and
values, and the tied LM head) alone, in a loop with the weights warm in cache; `overhead_cpu_ms`, the step
above that floor, is what Python, dispatch and the small operations cost (issue 19: cut it in half for the
tiny sizes; an upper bound, as a step reads its weights colder than the loop). Whole runs count the best of
--repeats, as wall-clock time and as CPU time (on a shared machine the CPU time is the steadier of the two;
run with --threads 1 for it to cover all the work).

A baseline is a JSON this script wrote, e.g. from the code before a change (`PYTHONPATH=OLD/src python
benchmarks/generation.py --out OLD.json`): rows of the same size and batch get `*_vs_baseline` columns, this
run's speed over the baseline's, and `overhead_cut_vs_baseline`, the share of the baseline's per-step
overhead this run saves. Compare ratios taken on one machine, never absolute times from different
machines. Separate runs on a loaded machine differ by tens of percent; `--against REV` instead imports the
package of git revision REV (under another name) beside this one and alternates their cached steps, one
step each in turn, on the same weights, inputs and tokens, in one process: `step_cpu_ms` of both, the
floor, and `overhead_cut`, the share of REV's per-step overhead above the floor this code saves. The code
before issue 19 is 3230e2d (ab4b809, the first issue-19 generation commit, follows it).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import torch

from florenz.model.florenz import FlorenzModel
from florenz.model.generation import generate
from florenz.model.sizes import get_size

from common import environment, print_table, read_baseline, synchronize, write_result

SIZES = ("world-xxs", "world-xs", "world-xs-gemma")  # the tiny sizes the study runs most
BATCHES = (1, 32)
PROMPT_TOKENS = 16
# baseline columns: higher is better for all of them
COMPARED = ("cached_tok_cpu_s", "cached_tok_s", "uncached_tok_cpu_s", "step_cpu_ms")


class StepTimer:
    """Wraps a model's decode to record the wall and CPU seconds of each cached one-token step."""

    def __init__(self, model: FlorenzModel, device: torch.device) -> None:
        self.decode, self.device = model.decode, device
        self.wall: list[float] = []
        self.cpu: list[float] = []
        model.decode = self

    def __call__(self, decoder_input_ids, encoder_hidden, encoder_mask, cache=None):
        synchronize(self.device)
        started, started_cpu = time.perf_counter(), time.thread_time()
        logits = self.decode(decoder_input_ids, encoder_hidden, encoder_mask, cache)
        synchronize(self.device)
        if cache is not None and decoder_input_ids.shape[1] == 1:
            self.wall.append(time.perf_counter() - started)
            self.cpu.append(time.thread_time() - started_cpu)
        return logits


def weight_floor_cpu_ms(model: FlorenzModel, batch: int, device: torch.device, repeats: int = 64) -> float:
    """Median thread-CPU ms of one product of `batch` rows with every weight a cached step reads: the
    decoder's projections (not the cross-attention keys/values, made once per generation) and the LM head."""
    decoder = model.decoder
    weights = [module.weight for name, module in decoder.named_modules()
               if isinstance(module, torch.nn.Linear)
               and not (".encoder_attn." in f".{name}" and name.endswith(("k_proj", "v_proj")))]
    weights.append(decoder.embed_tokens.weight)
    rows = [torch.randn(batch, weight.shape[1], device=device, dtype=weight.dtype) for weight in weights]
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            synchronize(device)
            started = time.thread_time()
            for x, weight in zip(rows, weights):
                torch.mm(x, weight.t())
            synchronize(device)
            times.append(time.thread_time() - started)
    return statistics.median(times[1:]) * 1e3


def tokens_per_second(model: FlorenzModel, batch: int, new_tokens: int, use_cache: bool, repeats: int,
                      device: torch.device) -> tuple[float, float]:
    """Generated tokens per wall-clock and per CPU second for `batch` random images and prompts; the best of
    `repeats` runs."""
    config = model.config
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randn(batch, 3, config.image_size, config.image_size, generator=generator).to(device)
    prompt = torch.randint(4, 200, (batch, PROMPT_TOKENS), generator=generator).to(device)
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


def import_revision(revision: str, scratch: Path) -> str:
    """Import the florenz package of git `revision` as package `florenz_against` (its own imports renamed)
    from a copy under scratch; returns the package name."""
    name = "florenz_against"
    archive = subprocess.run(["git", "archive", revision, "src/florenz"], capture_output=True,
                             cwd=Path(__file__).resolve().parents[1])
    if archive.returncode:
        sys.exit(f"--against {revision}: git archive failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(scratch, filter="data")
    package = scratch / name
    (scratch / "src" / "florenz").rename(package)
    for module in package.rglob("*.py"):
        text = module.read_text()
        module.write_text(re.sub(r"\b(from|import) florenz\b", rf"\1 {name}", text))
    sys.path.insert(0, str(scratch))
    importlib.import_module(name)
    return name


def new_cache(cache_class: type, num_layers: int, max_length: int):
    """A KVCache with static buffers of max_length, or a growing one where its revision predates them."""
    static = "max_length" in inspect.signature(cache_class).parameters
    return cache_class(num_layers, max_length) if static else cache_class(num_layers)


def interleaved_steps(size: str, batch: int, new_tokens: int, repeats: int, against: str,
                      device: torch.device) -> dict:
    """Median thread-CPU ms of a cached step of this code and of package `against`, on the same weights,
    inputs and tokens, one step of each in turn (the order flipped every repeat)."""
    packages = {"this": "florenz", "against": against}

    def module(key: str, name: str):  # e.g. module("against", "model.cache")
        return importlib.import_module(f"{packages[key]}.{name}")

    models = {}
    for key in packages:
        torch.manual_seed(0)
        model = module(key, "model.florenz").FlorenzModel(module(key, "model.sizes").get_size(size))
        models[key] = model.to(device).eval()
    models["against"].load_state_dict(models["this"].state_dict())
    config = models["this"].config
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randn(batch, 3, config.image_size, config.image_size, generator=generator).to(device)
    prompt = torch.randint(4, 200, (batch, PROMPT_TOKENS), generator=generator).to(device)
    times: dict[str, list[float]] = {key: [] for key in packages}
    # each as its own generate runs it: code before issue 19 used no_grad, later code inference_mode
    modes = {key: torch.inference_mode if "inference_mode" in inspect.getsource(
        module(key, "model.generation")) else torch.no_grad for key in packages}
    with torch.no_grad():
        mask = torch.ones_like(prompt)
        encoded = {key: model.encode(pixels, prompt, mask) for key, model in models.items()}
    for repeat in range(repeats):
        caches = {key: new_cache(module(key, "model.cache").KVCache, model.decoder.num_layers, new_tokens)
                  for key, model in models.items()}
        tokens = torch.full((batch, 1), config.decoder_start_token_id, device=device)
        for step in range(new_tokens):
            order = list(models) if repeat % 2 == 0 else list(models)[::-1]
            for key in order:
                synchronize(device)
                started = time.thread_time()
                with modes[key]():
                    logits = models[key].decode(tokens, *encoded[key], caches[key])
                synchronize(device)
                if step:  # the first call feeds the start token and fills the cross-attention cache
                    times[key].append(time.thread_time() - started)
            tokens = logits[:, -1:].argmax(-1)  # the last one's: both see the same tokens
    floor = weight_floor_cpu_ms(models["this"], batch, device)
    this, old = (statistics.median(times[key]) * 1e3 for key in ("this", "against"))
    return {"size": size, "batch": batch, "step_cpu_ms": round(this, 3), "against_step_cpu_ms": round(old, 3),
            "floor_cpu_ms": round(floor, 3), "overhead_cpu_ms": round(this - floor, 3),
            "against_overhead_cpu_ms": round(old - floor, 3),
            "overhead_cut": f"{100 * (1 - (this - floor) / (old - floor)):.0f}%",
            "step_speedup": round(old / this, 2)}


def compare(rows: list[dict], baseline_path: str) -> None:
    """Add `<column>_vs_baseline` to each row the baseline result has (same size and batch): this run's
    speed over the baseline's (for step times, the baseline's time over this run's)."""
    baseline = read_baseline(baseline_path, "generation", ("size", "batch"), "--out")
    for row in rows:
        old = baseline.get((row["size"], row["batch"]))
        if old is not None and old.get("overhead_cpu_ms"):
            saved = 1 - row["overhead_cpu_ms"] / old["overhead_cpu_ms"]
            row["overhead_cut_vs_baseline"] = f"{100 * saved:.0f}%"
        for column in COMPARED:
            if old is None or old.get(column) is None or row.get(column) is None:
                continue
            faster = old[column] / row[column] if column.endswith("_ms") else row[column] / old[column]
            row[f"{column}_vs_baseline"] = round(faster, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma list of ladder sizes")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)), help="comma list of batch sizes")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens generated per input")
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting; the best counts")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    parser.add_argument("--baseline", default="", help="a JSON this script wrote, to compare against")
    parser.add_argument("--against", default="", help="a git revision whose cached steps to alternate with "
                        "this code's in one process (e.g. 3230e2d, before issue 19)")
    parser.add_argument("--out", default="benchmarks/results", help="JSON file or folder for the result")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    if args.against:
        with tempfile.TemporaryDirectory() as scratch:
            against = import_revision(args.against, Path(scratch))
            for size in args.sizes.split(","):
                for batch in map(int, args.batches.split(",")):
                    rows.append(interleaved_steps(size, batch, args.new_tokens, args.repeats, against,
                                                  device))
                    print_table(rows[-1:])
        write_result(args.out, {"benchmark": "generation", "against": args.against,
                                **environment(torch.get_num_threads(), device), "rows": rows})
        return
    for size in args.sizes.split(","):
        torch.manual_seed(0)
        model = FlorenzModel(get_size(size)).to(device).eval()
        model.config = dataclasses.replace(model.config, eos_token_id=-1)  # never ends: fixed lengths
        for batch in map(int, args.batches.split(",")):
            steps = StepTimer(model, device)
            speed = {cached: tokens_per_second(model, batch, args.new_tokens, cached, args.repeats, device)
                     for cached in (True, False)}
            del model.decode  # the timer's wrapper
            (cached, cached_cpu), (uncached, uncached_cpu) = speed[True], speed[False]
            step_cpu_ms = statistics.median(steps.cpu) * 1e3
            floor_cpu_ms = weight_floor_cpu_ms(model, batch, device)
            rows.append({"size": size, "batch": batch, "new_tokens": args.new_tokens,
                         "step_ms": round(statistics.median(steps.wall) * 1e3, 3),
                         "step_cpu_ms": round(step_cpu_ms, 3), "floor_cpu_ms": round(floor_cpu_ms, 3),
                         "overhead_cpu_ms": round(step_cpu_ms - floor_cpu_ms, 3),
                         "cached_tok_s": round(cached, 1), "uncached_tok_s": round(uncached, 1),
                         "cache_speedup": round(cached / uncached, 2),
                         "cached_tok_cpu_s": round(cached_cpu, 1),
                         "uncached_tok_cpu_s": round(uncached_cpu, 1),
                         "cache_speedup_cpu": round(cached_cpu / uncached_cpu, 2)})
            print_table(rows[-1:])
    if args.baseline:
        compare(rows, args.baseline)
    print()
    columns = list(dict.fromkeys(column for row in rows for column in row))
    print_table([{column: row.get(column, "-") for column in columns} for row in rows])
    write_result(args.out, {"benchmark": "generation", **environment(torch.get_num_threads(), device),
                            "rows": rows})


if __name__ == "__main__":
    main()
