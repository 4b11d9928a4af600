"""Training metrics: `metrics.jsonl` rows, throughput, and optional TensorBoard / wandb (offline) sinks.

One JSON object per logged step: step, seen_samples, loss (the step's token-mean cross-entropy over all
processes), lr, grad_norm, samples_per_s, tokens_per_s (prompt + target tokens), elapsed_s. A resumed run
first drops the rows past its checkpoint, so the file reads as one uninterrupted run.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

from florenz.config import ConfigError
from florenz.errors import FlorenzError
from florenz.files import write_atomically

METRICS_FILE = "metrics.jsonl"


def truncate_metrics(path: Path, last_step: int) -> None:
    """Keep only the rows with step <= last_step (rows logged after the checkpoint we resume from)."""
    if path.is_file():
        write_metrics(path, [row for row in read_metrics(path) if row["step"] <= last_step])


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl file ([] if there is none yet). A half-written last line (a kill, a full
    disk) is dropped with a warning; a broken line before it is a FlorenzError naming the file and line."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number < len(lines):
                raise FlorenzError(f"{path}, line {number}, is not JSON ({error}); delete that line (or the "
                                   f"file, losing the history) and rerun") from None
            print(f"warning: {path}: dropping its half-written last line {number} ({line[:40]!r})",
                  file=sys.stderr, flush=True)
    return rows


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace the file atomically: a kill while rewriting leaves the old history, never a truncated one."""
    write_atomically(path, "".join(json.dumps(row) + "\n" for row in rows))


class Throughput:
    """Samples/s and tokens/s over the steps since the last report."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.samples = 0
        self.tokens = 0

    def add(self, samples: int, tokens: int) -> None:
        self.samples += samples
        self.tokens += tokens

    def report(self) -> dict[str, float]:
        now = time.perf_counter()
        seconds = max(now - self.last, 1e-9)
        rates = {"samples_per_s": self.samples / seconds, "tokens_per_s": self.tokens / seconds}
        self.last, self.samples, self.tokens = now, 0, 0
        return rates

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class MetricsLog:
    """Appends rows to RUN_DIR/metrics.jsonl and mirrors them to the sink asked for (rank 0 only)."""

    def __init__(self, run_dir: Path, report_to: str = "none") -> None:
        self.path = run_dir / METRICS_FILE
        self.sink = _open_sink(report_to, run_dir)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.sink is not None:
            self.sink(row)


def _open_sink(report_to: str, run_dir: Path):
    if report_to == "none":
        return None
    package = {"tensorboard": "tensorboard", "wandb": "wandb"}[report_to]
    if importlib.util.find_spec(package) is None:
        raise ConfigError(f"--report-to {report_to} needs the '{package}' package; `pip install {package}` "
                          "or use --report-to none (metrics.jsonl is always written)")
    if report_to == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

        def to_tensorboard(row: dict[str, Any]) -> None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    writer.add_scalar(f"train/{key}", value, row["step"])
            writer.flush()

        return to_tensorboard
    import wandb

    run = wandb.init(dir=str(run_dir), mode="offline", project="florenz")  # never online unasked

    def to_wandb(row: dict[str, Any]) -> None:
        run.log({f"train/{k}": v for k, v in row.items() if k != "step"}, step=row["step"])

    return to_wandb
