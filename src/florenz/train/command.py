"""The CLI layer of `florenz train`: a progress bar (samples/s, ETA) around `train`, and a summary line."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from florenz.train.config import TrainConfig
from florenz.train.loop import TrainResult, train


@contextmanager
def progress_bar(desc: str, batch_size: int) -> Iterator[Callable[[dict[str, Any]], None]]:
    """An `on_step` callback for `train` that draws a tqdm bar of seen samples; the bar is made at the first
    step (a resumed run starts part-way), so a run that trains nothing draws none. Rank 0 only: train calls
    back there."""
    from tqdm import tqdm

    bar: tqdm | None = None

    def on_step(row: dict[str, Any]) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=row["total_steps"] * batch_size, initial=row["seen_samples"] - batch_size,
                       unit="sample", unit_scale=True, desc=desc, dynamic_ncols=True)
        bar.update(batch_size)
        bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}", refresh=False)

    try:
        yield on_step
    finally:
        if bar is not None:
            bar.close()


def train_command(config: TrainConfig) -> int:
    """Run `train` with a progress bar and print a summary line when it trained."""
    with progress_bar("train", config.batch_size) as on_step:
        result: TrainResult = train(config, on_step)
    if result.final_loss is not None and os.environ.get("RANK", "0") == "0":  # trained now; printed once
        skipped = f", {result.skipped_samples} bad samples skipped" if config.skip_bad_samples else ""
        print(f"trained {result.steps} steps ({result.seen_samples} samples), final loss "
              f"{result.final_loss:.4f}{skipped}: {result.run_dir}")
    return 0
