"""Configuration of `florenz study` and `florenz demo`: the grid (sizes × budgets × starting points) and how
it is run. Torch-free, so the CLI builds its flags quickly.

A grid names model sizes, seen-sample budgets and decoder variants (A: pre-trained on English only, the
Florence-2-like high-T start; B: on all six languages, the Gemma-2-like low-T start). Per size it also fixes
the peak learning rate and the vision pre-training budget, because one value does not suit every size: the
world-xxs tower needs about 128k images before it sees colours (pretrain vision warns below that), and the
larger sizes learn stably at a lower peak rate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from florenz.config import ConfigError, option


@dataclass
class GridConfig:
    """The study's grid and the per-size recipe that keeps every grid point trained."""

    sizes: tuple[str, ...] = option(("world-xxs", "world-xs"), "model sizes from the ladder")
    budgets: tuple[int, ...] = option((4000, 8000, 16000), "seen-sample budgets S of each (size, variant)")
    variants: tuple[str, ...] = option(
        ("A", "B"),
        "decoder starts: A = English-only LM (high T), B = all "
        "six languages (low T), or a language list such as en,de",
    )
    lr: dict[str, float] = option({}, "peak learning rate per size; sizes not named use default_lr")
    default_lr: float = option(1e-3, "peak learning rate of sizes not named in lr")
    vision_samples: dict[str, int] = option(
        {}, "vision pre-training images per size; sizes not named use default_vision_samples"
    )
    default_vision_samples: int = option(32000, "vision pre-training images of sizes not named")
    decoder_samples: int = option(8000, "decoder LM pre-training lines per (size, variant)")
    batch_size: int = option(32, "global batch of every training run")
    world_samples: int = option(20000, "training images of the study's world")
    eval_samples: int = option(0, "test samples per set for T and eval-loss; 0: all")
    bench_samples: int = option(0, "samples per world benchmark set (generation) of each final model; 0: all")

    def __post_init__(self) -> None:
        if not self.sizes or not self.budgets or not self.variants:
            raise ValueError("a grid needs at least one size, one budget and one variant")
        if any(budget <= 0 for budget in self.budgets):
            raise ValueError(f"budgets {list(self.budgets)} must be positive sample counts")
        if len(set(self.budgets)) != len(self.budgets):
            raise ValueError(f"budgets {list(self.budgets)} repeat a value")
        unknown = sorted(set(self.lr) - set(self.sizes)) + sorted(set(self.vision_samples) - set(self.sizes))
        if unknown:
            raise ValueError(
                f"lr / vision_samples name sizes {unknown} that are not in sizes {list(self.sizes)}"
            )

    def learning_rate(self, size: str) -> float:
        return self.lr.get(size, self.default_lr)

    def vision_budget(self, size: str) -> int:
        return self.vision_samples.get(size, self.default_vision_samples)


# world-xxs: a 32 px tower learns colours only after ~128k images (measured: dense colour accuracy 0.20
# at 32k, 0.87 at 128k); larger towers at 48-64 px reach it by 32k. Learning rates: 1e-3 trains the world's
# small sizes from pre-trained starts fastest without spikes; sizes from world-s up are run at 5e-4.
PRESETS: dict[str, GridConfig] = {
    # the paper's ladder mixes decoder kinds (0.4B/1.0B BART, 3.5B/11.2B Gemma-2); so does quick's: two BART
    # sizes and the Gemma kind on the world-xs tower, which keeps the study within 20 minutes on 2 cores
    "quick": GridConfig(
        sizes=("world-xxs", "world-xs", "world-xs-gemma"),
        budgets=(1000, 2000, 4000),
        variants=("A", "B"),
        vision_samples={"world-xxs": 128000},
        decoder_samples=3000,
        world_samples=20000,
        eval_samples=100,
        bench_samples=40,
    ),
    # five sizes (three BART, two Gemma kind) x 4 budgets x 2 starts; the 20k budget keeps world-s-gemma,
    # the slowest size, to about an hour per run at one thread (~5 samples/s beside a second worker), so
    # the study takes a few hours, not a working day (40k would have taken ~9 h on 2 cores)
    "full": GridConfig(
        sizes=("world-xxs", "world-xs", "world-s", "world-xs-gemma", "world-s-gemma"),
        budgets=(2500, 5000, 10000, 20000),
        variants=("A", "B"),
        lr={"world-s": 5e-4, "world-s-gemma": 5e-4},
        vision_samples={"world-xxs": 128000},
        decoder_samples=16000,
        world_samples=60000,
        eval_samples=300,
        bench_samples=100,
    ),
}


@dataclass
class StudyConfig:
    """`florenz study`: the whole experiment on the embedded world, to results, fits and a report."""

    out: str = option(
        "runs/study",
        "study directory: world, starting points, runs, results.jsonl, fits, "
        "report; an existing one is resumed",
    )
    preset: Literal["quick", "full", "custom"] = option(
        "quick",
        "quick: 3 sizes (2 BART, 1 Gemma kind) x 3 budgets x 2 starts (< 20 min on 2 cores); full: 5 "
        "sizes (3 BART, 2 Gemma kind) x 4 budgets x 2 starts (hours); custom: the grid from --grid-file",
    )
    grid_file: str = option("", "YAML/JSON file with a grid (keys of GridConfig); needs --preset custom")
    world: str = option("", "an existing world directory; empty: build one in OUT/world")
    schedule: Literal["wsd", "cosine"] = option(
        "wsd",
        "wsd: one run per (size, start) whose cool-down branches give every budget (Hägele et al. "
        "2024); cosine: one run per budget, as the paper did",
    )
    workers: int = option(2, "runs at the same time (local launcher; capped to workers x threads <= cores)")
    threads: int = option(1, "torch threads per worker: two 1-thread runs beat one 2-thread run on 2 cores")
    launcher: Literal["local", "slurm"] = option(
        "local", "local: worker processes here; slurm: one job per run through submitit"
    )
    slurm_partition: str = option("", "slurm: partition to submit to")
    slurm_gpus: int = option(0, "slurm: GPUs per job (torchrun inside the job when > 1)")
    slurm_time_min: int = option(240, "slurm: time limit per job in minutes")
    seed: int = option(44595, "seed of the world, the starting points and the runs")

    def __post_init__(self) -> None:
        if self.workers < 1 or self.threads < 1:
            raise ValueError(f"workers ({self.workers}) and threads ({self.threads}) must be at least 1")
        cores = len(os.sched_getaffinity(0))
        if self.launcher == "local" and self.threads > cores:  # workers are capped by the runner instead
            raise ValueError(f"threads ({self.threads}) exceed the {cores} core(s) this process may use "
                             f"(os.sched_getaffinity); use --threads {cores} or fewer")
        if (self.preset == "custom") != bool(self.grid_file):
            raise ValueError("--grid-file goes with --preset custom, and --preset custom needs --grid-file")


@dataclass
class DemoConfig:
    """`florenz demo`: the quick study with its defaults into runs/demo."""

    out: str = option("runs/demo", "study directory")
    workers: int = option(2, "runs at the same time")


def resolve_grid(config: StudyConfig) -> GridConfig:
    """The preset's grid, or the custom grid read from --grid-file."""
    if config.preset != "custom":
        return PRESETS[config.preset]
    from florenz.config import from_dict, load_file

    try:
        return from_dict(GridConfig, load_file(config.grid_file), "grid")
    except ConfigError as error:
        raise ConfigError(f"--grid-file {config.grid_file}: {error}") from None
