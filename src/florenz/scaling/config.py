"""Configuration of `florenz fit` (torch-free, so `florenz --help` stays fast)."""

from __future__ import annotations

from dataclasses import dataclass

from florenz.config import option

SPLITS = ("uc", "st", "sc")  # unseen captioning, seen translation, seen captioning


@dataclass
class FitConfig:
    """`florenz fit ROWS`: both scaling laws per split; or, with --fits, predictions and planning."""

    rows: tuple[str, ...] = option((), "eval-loss rows: .jsonl files and/or directories searched for "
                                       "eval_loss.jsonl and results.jsonl, comma-separated", positional=True)
    out: str = option("fits", "output directory: fits.json and figures/*.png|svg")
    splits: tuple[str, ...] = option(SPLITS, "splits to fit, from uc, st, sc")
    bootstrap: int = option(200, "bootstrap resamples over runs for the 95% intervals")
    heldout_sizes: int = option(1, "the largest N model sizes (P) are left out, predicted and scored")
    huber_delta: float = option(1e-3, "Huber threshold on natural-log residuals (Chinchilla: 1e-3)")
    max_iterations: int = option(1000, "L-BFGS-B iteration limit per start; reaching it means no convergence")
    seed: int = option(0, "seed of the bootstrap resampling")
    figures: bool = option(True, "write the figures (PNG at 150 dpi and SVG)")
    fits: str = option("", "an existing fits.json to predict or plan from (no fitting)")
    predict: str = option("", "with --fits: the loss per split at P=..,S=..,T=.. (law 2) or C=.. (law 1)")
    target: str = option("", "with --fits and --at: a loss per split, e.g. uc=2.0; prints the S and C needed")
    at: str = option("", "with --target: the fixed variables, e.g. P=1e9,T=6.0")

    def __post_init__(self) -> None:
        unknown = [split for split in self.splits if split not in SPLITS]
        if unknown or not self.splits:
            raise ValueError(f"splits {list(self.splits)}: choose from {', '.join(SPLITS)}")
        if self.bootstrap < 0 or self.heldout_sizes < 0 or self.max_iterations < 1:
            raise ValueError("bootstrap and heldout_sizes must be >= 0 and max_iterations >= 1")
        if self.huber_delta <= 0:
            raise ValueError(f"huber_delta is {self.huber_delta}; use a positive threshold such as 1e-3")
        if (self.predict or self.target) and not self.fits:
            raise ValueError("--predict and --target read a fitted law: pass --fits DIR/fits.json")
        if bool(self.target) != bool(self.at):
            raise ValueError("--target and --at go together, e.g. --target uc=2.0 --at P=1e9,T=6.0")
        if not self.fits and not self.rows:
            raise ValueError("give the rows to fit (florenz fit ROWS.jsonl) or --fits FILE with --predict "
                             "or --target")
