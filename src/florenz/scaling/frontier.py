"""The Pareto frontier of (compute, loss): the points no other point beats on both (the paper's law 1)."""

from __future__ import annotations

import numpy as np


def pareto_frontier(compute: np.ndarray, loss: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask (n,) of the frontier among the rows with positive weight (all rows without weights).

    A point is on it when every other point with less or equal compute has a higher loss: walking up in
    compute, it sets a new lowest loss. Of points with equal compute only the lowest loss can be on it (the
    first in row order on an exact tie). A run drawn twice by the bootstrap is one row of weight 2.
    """
    compute, loss = np.asarray(compute, dtype=float), np.asarray(loss, dtype=float)
    present = np.ones(len(compute), dtype=bool) if weights is None else np.asarray(weights) > 0
    order = np.lexsort((loss, compute))  # by compute, then loss
    order = order[present[order]]
    mask = np.zeros(len(compute), dtype=bool)
    best = np.inf
    for index in order:
        if loss[index] < best:
            best = loss[index]
            mask[index] = True
    return mask


def frontier_masks(compute: np.ndarray, loss: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The frontier of each bootstrap resample: weights (B, n) -> (B, n) row weights restricted to it."""
    if len(weights) == 0:
        return weights
    return np.stack([row * pareto_frontier(compute, loss, row) for row in weights])


def staircase(compute: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, best loss so far) at every point, sorted by C: the frontier as a step line for plots."""
    order = np.argsort(compute, kind="stable")
    return np.asarray(compute)[order], np.minimum.accumulate(np.asarray(loss)[order])
