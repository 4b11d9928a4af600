"""The fit's figures, as PNG (150 dpi) and SVG: the paper's figures 2 and 3 and a parity plot.

- loss_vs_compute: every point, the Pareto frontier as a staircase, both law-1 curves and the saturating
  form's 95% bootstrap band, one panel per split;
- loss_vs_samples: one colour per model size P, one marker per starting point T, law-2 curves (the
  preferred form) for each (P, T);
- parity: law 2's prediction against the observed loss; held-out rows (largest P) are predicted by the fit
  made without them and drawn as open markers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from florenz.scaling.frontier import staircase
from florenz.scaling.laws import LOG_LINEAR, SATURATING, predict
from florenz.scaling.rows import Rows

MARKERS = "os^Dv<>pX*"
FORM_STYLE = {LOG_LINEAR: ("--", "log-linear"), SATURATING: ("-", "saturating")}


def _values(entry: dict[str, Any]) -> np.ndarray | None:
    if not entry["converged"]:
        return None
    return np.array([entry[name]["value"] for name in entry["parameters"]])


def _samples(entry: dict[str, Any]) -> np.ndarray:
    return np.array(entry["samples"], dtype=float).reshape(-1, len(entry["parameters"]))


def _save(figure, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    figure.savefig(paths[0], dpi=150)
    figure.savefig(paths[1])
    return paths


def _panels(plt, count: int):
    figure, axes = plt.subplots(1, count, figsize=(4.6 * count, 4), squeeze=False, constrained_layout=True)
    return figure, axes[0]


def label_samples(axis, samples: np.ndarray, most: int = 6) -> None:
    """Tick the log S axis at the seen-sample budgets themselves: under a decade of S, matplotlib labels its
    minor ticks (2x10^3, 3x10^3, ...) and they run into each other."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    budgets = np.unique(samples)
    if len(budgets) > most:  # evenly spread in log S
        budgets = budgets[np.unique(np.linspace(0, len(budgets) - 1, most).round().astype(int))]
    axis.xaxis.set_major_locator(FixedLocator(budgets))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.xaxis.set_minor_formatter(NullFormatter())


def _loss_vs_compute(plt, fits: dict[str, Any], rows: Rows, splits: tuple[str, ...], out: Path) -> list[Path]:
    figure, axes = _panels(plt, len(splits))
    grid = np.geomspace(rows.C.min() / 1.5, rows.C.max() * 1.5, 200)[:, None]
    for axis, split in zip(axes, splits):
        y, law = rows.losses[split], fits[split]["law1"]
        axis.scatter(rows.C, y, s=14, color="0.6", label="checkpoints")
        axis.step(*staircase(rows.C, y), where="post", color="black", lw=1, label="Pareto frontier")
        for form in (LOG_LINEAR, SATURATING):
            values = _values(law[form])
            if values is None:
                continue
            style, label = FORM_STYLE[form]
            axis.plot(grid[:, 0], predict(form, values, grid), style, color="C3", label=f"law 1, {label}")
            samples = _samples(law[form])
            if form == SATURATING and len(samples) > 1:
                band = np.percentile(predict(form, samples, grid), [2.5, 97.5], axis=0)
                axis.fill_between(grid[:, 0], band[0], band[1], color="C3", alpha=0.15, label="95% band")
        axis.set(xscale="log", yscale="log", xlabel="training compute C (FLOPs)",
                 ylabel=f"{split.upper()} loss", title=split.upper())
        axis.legend(fontsize=7)
    paths = _save(figure, out, "loss_vs_compute")
    plt.close(figure)
    return paths


def _loss_vs_samples(plt, fits: dict[str, Any], rows: Rows, splits: tuple[str, ...], out: Path) -> list[Path]:
    figure, axes = _panels(plt, len(splits))
    sizes = np.unique(rows.P)
    starts = np.unique(rows.T[np.isfinite(rows.T)])
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))
    grid = np.geomspace(rows.S.min() / 1.5, rows.S.max() * 1.5, 100)
    for axis, split in zip(axes, splits):
        y, law = rows.losses[split], fits[split]["law2"]
        form = law["preferred"]
        values = None if form is None else _values(law[form])
        for p_index, size in enumerate(sizes):
            for t_index, start in enumerate(starts if len(starts) else [np.nan]):
                chosen = (rows.P == size) & ((rows.T == start) | (np.isnan(rows.T) & np.isnan(start)))
                if not chosen.any():
                    continue
                axis.scatter(rows.S[chosen], y[chosen], color=colours[p_index], s=18,
                             marker=MARKERS[t_index % len(MARKERS)])
                if values is not None:
                    point = {"P": size, "S": grid, "T": start}
                    x = np.column_stack([np.broadcast_to(point[v], grid.shape) for v in law["variables"]])
                    axis.plot(grid, predict(form, values, x), FORM_STYLE[form][0], color=colours[p_index],
                              lw=1)
        axis.set(xscale="log", yscale="log", xlabel="seen samples S", ylabel=f"{split.upper()} loss",
                 title=f"{split.upper()}, law 2 ({form or 'no fit'})")
        label_samples(axis, rows.S)
    # one legend entry per size (colour) and per starting point (marker), not per combination
    handles = [Line2D([], [], color=colour, marker="o", ls="", label=f"P={size:.3g}")
               for size, colour in zip(sizes, colours)]
    handles += [Line2D([], [], color="0.4", marker=MARKERS[i % len(MARKERS)], ls="", label=f"T={start:.3g}")
                for i, start in enumerate(starts)]
    axes[-1].legend(handles=handles, fontsize=6)
    paths = _save(figure, out, "loss_vs_samples")
    plt.close(figure)
    return paths


def _parity(plt, fits: dict[str, Any], rows: Rows, splits: tuple[str, ...], out: Path) -> list[Path]:
    figure, axes = _panels(plt, len(splits))
    held = np.isin(rows.P, fits["heldout_P"])
    for axis, split in zip(axes, splits):
        y, law = rows.losses[split], fits[split]["law2"]
        form = law["preferred"]
        if form is not None:
            x = np.column_stack([getattr(rows, variable) for variable in law["variables"]])
            predicted = predict(form, _values(law[form]), x)
            if law[form]["heldout_parameters"] is not None:
                predicted[held] = predict(form, np.array(law[form]["heldout_parameters"]), x[held])
            axis.scatter(y[~held], predicted[~held], s=16, color="C0", label="fitted")
            axis.scatter(y[held], predicted[held], s=22, facecolors="none", edgecolors="C3",
                         label="held out (largest P)")
        limits = [y.min() * 0.95, y.max() * 1.05]
        axis.plot(limits, limits, color="black", lw=0.8)
        axis.set(xlabel=f"observed {split.upper()} loss", ylabel="predicted (law 2)",
                 title=f"{split.upper()} ({form or 'no fit'})")
        axis.legend(fontsize=7)
    paths = _save(figure, out, "parity")
    plt.close(figure)
    return paths


def write_figures(fits: dict[str, Any], rows: Rows, splits: tuple[str, ...], out: Path) -> list[Path]:
    """All three figures into `out`; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or opened
    import matplotlib.pyplot as plt

    return [path for draw in (_loss_vs_compute, _loss_vs_samples, _parity)
            for path in draw(plt, fits, rows, splits, out)]
