"""`florenz study`: the paper's experiment on the embedded world, from nothing to results, fits and a report.

Stages, each resumable (a killed study rerun skips what is done):
  world       build OUT/world (or use --world)
  vision      pre-train one vision tower per distinct vision config (cached by content hash)
  starts      per (size, variant): the LM-pre-trained decoder and the composed starting point with its T
  train       per (size, variant) one WSD run whose cool-down branches give every budget (or, with
              --schedule cosine, one run per budget)
  eval-loss   UC/ST/SC test losses and compute of every checkpoint -> OUT/results.jsonl
  eval        the world benchmarks of every (size, variant)'s final model, with and without the prefix
  fit         both scaling laws per split -> OUT/fits/
  report      OUT/report.md and OUT/report.html
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from florenz.config import to_dict
from florenz.errors import FlorenzError
from florenz.eval.config import EvalConfig, EvalLossConfig
from florenz.files import read_json_lines, write_atomically
from florenz.model.accounting import forward_flops
from florenz.model.sizes import get_size
from florenz.pretrain.config import DecoderPretrainConfig, VisionPretrainConfig
from florenz.scaling.config import FitConfig
from florenz.study.config import DemoConfig, GridConfig, StudyConfig, resolve_grid
from florenz.study.runner import Launcher, Task, cpu_seconds, run_stage
from florenz.study.starting_points import starting_point, vision_part
from florenz.train.config import OptimConfig, TrainConfig

RESULTS = "results.jsonl"
PLAN = "study.json"
FIT_ERROR = "fit_error.txt"  # in OUT/fits/ when the grid is too small to fit the laws


@dataclass
class VisionTask:
    world: str
    size: str
    cache: str
    recipe: VisionPretrainConfig


@dataclass
class StartTask:
    world: str
    size: str
    variant: str
    cache: str
    vision: VisionPretrainConfig
    decoder: DecoderPretrainConfig
    seed: int
    eval_samples: int


def make_vision(task: VisionTask) -> str:
    return str(vision_part(task.world, task.size, task.cache, task.recipe)[1])


def make_start(task: StartTask) -> str:
    return str(
        starting_point(
            task.world,
            task.size,
            task.variant,
            task.cache,
            vision=task.vision,
            decoder=task.decoder,
            init_seed=task.seed,
            eval_samples=task.eval_samples,
        )
    )


def run_training(config: TrainConfig) -> str:
    from florenz.train.loop import train

    return str(train(config).run_dir)


def _vision_recipe(grid: GridConfig, size: str, seed: int) -> VisionPretrainConfig:
    return VisionPretrainConfig(samples=grid.vision_budget(size), seed=seed)


def _decoder_recipe(grid: GridConfig, seed: int) -> DecoderPretrainConfig:
    return DecoderPretrainConfig(samples=grid.decoder_samples, seed=seed)


def _cost(size: str, samples: int) -> float:
    """Relative cost of training `size` on `samples`: samples x forward FLOPs at the paper's lengths."""
    return samples * forward_flops(get_size(size))


def training_runs(
    config: StudyConfig, grid: GridConfig, world: str, starts: dict[tuple[str, str], str], out: Path
) -> list[Task]:
    """One task per run: WSD runs branch every smaller budget off one run; cosine runs one per budget."""
    tasks = []
    for (size, variant), start in starts.items():
        budgets = sorted(grid.budgets)
        # the paper's 100 warm-up steps, shortened where the smallest budget would be mostly warm-up
        warmup = min(100, budgets[0] // grid.batch_size // 5)
        optim = OptimConfig(lr=grid.learning_rate(size), schedule=config.schedule, warmup_steps=warmup)
        runs = (
            [(f"{size}-{variant}", budgets[-1], tuple(budgets[:-1]))]
            if config.schedule == "wsd"
            else [(f"{size}-{variant}-{budget}", budget, ()) for budget in budgets]
        )
        for name, samples, branches in runs:
            run_config = TrainConfig(
                data=world,
                out=str(out / "runs" / name),
                size=size,
                init=start,
                samples=samples,
                budgets=branches,
                batch_size=grid.batch_size,
                threads=config.threads,
                seed=config.seed,
                optim=optim,
                precision="fp32",
                save_every=100,
            )
            tasks.append(
                Task(
                    f"train {name}",
                    "florenz.study.study:run_training",
                    run_config,
                    _cost(size, samples),
                    str(out / "logs" / f"train-{name}.log"),
                )
            )
    return tasks


def _build_world(config: StudyConfig, grid: GridConfig, out: Path) -> str:
    if config.world:
        return config.world
    from florenz.data.world_build import build_world
    from florenz.world.config import WorldConfig

    # world build's own rerun rule: the same world is "nothing to do", another one is refused by name
    world = WorldConfig(out=str(out / "world"), samples=grid.world_samples, seed=config.seed,
                        workers=config.workers)
    return str(build_world(world))


def _launcher(config: StudyConfig, out: Path) -> Launcher:
    slurm = {"timeout_min": config.slurm_time_min, "cpus_per_task": config.threads}
    if config.slurm_partition:
        slurm["slurm_partition"] = config.slurm_partition
    if config.slurm_gpus:
        slurm["gpus_per_node"] = config.slurm_gpus
    return Launcher(
        config.launcher,
        config.workers,
        config.threads,
        str(out / "slurm"),
        slurm if config.launcher == "slurm" else None,
    )


def study(config: StudyConfig) -> int:
    grid = resolve_grid(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    launcher = _launcher(config, out)
    timings_path = out / "timings.json"
    # a resumed study adds its time to the killed one's, so the totals say what the whole study cost
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    timings = {"wall_s": timings.get("wall_s", {}), "cpu_s": timings.get("cpu_s", {})}
    clock = (0.0, 0.0)

    def timed(stage: str | None, cpu: bool = True) -> None:
        """Adds wall and CPU time (this process and its workers, running or finished) since the last call
        to `stage`; `cpu=False` where workers are not this process's children (world build's forkserver
        pool), whose CPU time cpu_seconds() cannot see."""
        nonlocal clock
        now = (time.monotonic(), cpu_seconds())
        if stage is not None:
            for key, spent in zip(("wall_s", "cpu_s"), (now[0] - clock[0], now[1] - clock[1])):
                if key == "wall_s" or cpu:
                    timings[key][stage] = round(timings[key].get(stage, 0.0) + spent, 1)
            write_atomically(timings_path, json.dumps(timings, indent=2))
        clock = now

    timed(None)
    world = _build_world(config, grid, out)
    timed("world", cpu=False)
    cache = str(out / "starts")
    pairs = [(size, variant) for size in grid.sizes for variant in grid.variants]
    write_atomically(
        out / PLAN, json.dumps({"config": to_dict(config), "grid": to_dict(grid), "world": world}, indent=2)
    )

    vision = [
        Task(
            f"vision {size}",
            "florenz.study.study:make_vision",
            VisionTask(world, size, cache, _vision_recipe(grid, size, config.seed)),
            grid.vision_budget(size) * forward_flops(get_size(size)),
            str(out / "logs" / f"vision-{size}.log"),
        )
        for size in grid.sizes
    ]
    run_stage("vision", _distinct_towers(vision), launcher, timed)

    start_tasks = [
        Task(
            f"start {size} {variant}",
            "florenz.study.study:make_start",
            StartTask(
                world,
                size,
                variant,
                cache,
                _vision_recipe(grid, size, config.seed),
                _decoder_recipe(grid, config.seed),
                config.seed,
                grid.eval_samples,
            ),
            _cost(size, grid.decoder_samples),
            str(out / "logs" / f"start-{size}-{variant}.log"),
        )
        for size, variant in pairs
    ]
    starts = dict(zip(pairs, run_stage("starts", start_tasks, launcher, timed)))

    runs = training_runs(config, grid, world, starts, out)
    run_stage("train", runs, launcher, timed)

    run_dirs = [task.config.out for task in runs]
    run_stage(
        "eval-loss",
        [
            Task(
                f"eval-loss {Path(run).name}",
                "florenz.eval.eval_loss:eval_loss",
                EvalLossConfig(
                    run=run, world=world, max_samples_per_set=grid.eval_samples, threads=config.threads
                ),
                task.cost / 10,
                str(out / "logs" / f"eval-loss-{Path(run).name}.log"),
            )
            for run, task in zip(run_dirs, runs)
        ],
        launcher,
        timed,
    )
    rows = collect_results(run_dirs, starts)
    write_atomically(out / RESULTS, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
    timed("eval-loss")

    finals = final_runs(runs)
    run_stage(
        "eval",
        [
            Task(
                f"eval {Path(run).name}",
                "florenz.eval.run_eval:run_eval",
                EvalConfig(
                    run=run,
                    tasks=("world",),
                    world=world,
                    max_samples=grid.bench_samples,
                    threads=config.threads,
                ),
                cost,
                str(out / "logs" / f"eval-{Path(run).name}.log"),
            )
            for run, cost in finals
        ],
        launcher,
        timed,
    )

    from florenz.scaling.fit import fit

    fit_error = out / "fits" / FIT_ERROR
    try:
        fit(FitConfig(rows=(str(out / RESULTS),), out=str(out / "fits")))
        fit_note = ""
        fit_error.unlink(missing_ok=True)
    except FlorenzError as error:  # too small a grid to fit: the report says so instead of stopping the study
        fit_note = str(error)
        fit_error.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(fit_error, fit_note + "\n")  # beside the fits, for whoever looks there for them
    timed("fit")

    from florenz.study.findings import write_study_report

    markdown, page, findings = write_study_report(out, fit_note)
    print(
        f"florenz study: {len(runs)} run(s) of {len(pairs)} (size, start) pair(s), {len(rows)} checkpoint(s)"
    )
    for finding in findings:
        print(f"  [{finding.verdict}] {finding.claim}: {finding.evidence}")
    print(f"report: {page} (and {markdown.name})")
    return 0


def collect_results(run_dirs: list[str], starts: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    """Every run's eval-loss rows, tagged with the run's start variant, in a fixed order."""
    # resolved: a study resumed with its directory spelled otherwise names the same starts another way
    variant_of = {Path(start).resolve(): variant for (_, variant), start in starts.items()}
    rows = []
    for run in run_dirs:
        train_config = json.loads((Path(run) / "train_config.json").read_text())
        variant = variant_of.get(Path(train_config["init"]).resolve(), "")
        for row in read_json_lines(Path(run) / "eval_loss.jsonl", "rerun the study to evaluate it again"):
            rows.append({**row, "variant": variant})
    return sorted(rows, key=lambda row: (row["size"], row["variant"], row["S"]))


def final_runs(runs: list[Task]) -> list[tuple[str, float]]:
    """(run directory, cost) of the largest-budget run of each (size, variant)."""
    largest: dict[tuple[str, str], Task] = {}
    for task in runs:
        key = (task.config.size, task.config.init)
        if key not in largest or task.config.samples > largest[key].config.samples:
            largest[key] = task
    return [(task.config.out, task.cost / 20) for task in largest.values()]


def _distinct_towers(tasks: list[Task]) -> list[Task]:
    """One task per distinct tower: sizes with equal vision configs (world-xs, world-xs-gemma) share one."""
    from florenz.pretrain.config import vision_signature

    seen, distinct = set(), []
    for task in tasks:
        signature = json.dumps(
            {**vision_signature(get_size(task.config.size)), "samples": task.config.recipe.samples},
            sort_keys=True,
        )
        if signature not in seen:
            seen.add(signature)
            distinct.append(task)
    return distinct


def demo(config: DemoConfig) -> int:
    """The quick study with its defaults."""
    return study(replace(StudyConfig(), out=config.out, workers=config.workers))
