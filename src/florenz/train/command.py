"""The CLI layer of `florenz train`: a progress bar (samples/s, ETA) around `train`, and a summary line."""

from __future__ import annotations

from typing import Any

from florenz.train.config import TrainConfig
from florenz.train.loop import train


def train_command(config: TrainConfig) -> int:
    """Run `train` with a tqdm bar counting seen samples; shown on rank 0 only (train calls back there)."""
    from tqdm import tqdm

    bar: tqdm | None = None

    def on_step(row: dict[str, Any]) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=row["total_steps"] * config.batch_size,
                       initial=row["seen_samples"] - config.batch_size, unit="sample", unit_scale=True,
                       desc="train", dynamic_ncols=True)
        bar.update(config.batch_size)
        bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}", refresh=False)

    try:
        result = train(config, on_step)
    finally:
        if bar is not None:
            bar.close()
    if bar is not None:  # only rank 0 gets progress, and only when it trained
        skipped = f", {result.skipped_samples} bad samples skipped" if config.skip_bad_samples else ""
        print(f"trained {result.steps} steps ({result.seen_samples} samples), final loss "
              f"{result.final_loss:.4f}{skipped}: {result.run_dir}")
    return 0
