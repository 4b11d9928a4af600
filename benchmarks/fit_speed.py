"""Speed of `florenz fit`: 200 rows (40 runs of 5 budgets) with 200 bootstrap resamples over runs.

    python benchmarks/fit_speed.py [--rows-per-run 5] [--bootstrap 200]

The rows follow a saturating law 2 with 1.5% noise (8 sizes x 5 starting points x 5 budgets). Timed: the fit
of both laws in both forms for all three splits (held-out fits included), and the figures apart. Target
(issue 14): the fit under 30 s on 2 cores. Compare ratios taken in one run, never absolute times from
different runs or machines; the load average printed says how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from florenz.scaling.config import SPLITS, FitConfig
from florenz.scaling.fit import fit_rows
from florenz.scaling.plots import write_figures
from florenz.scaling.rows import load_rows

from common import environment, print_table, write_result

TARGET_SECONDS = 30
TRUTH = {"uc": (1.5, 40.0, -0.2, -0.15, 0.5), "st": (1.0, 30.0, -0.15, -0.2, 0.3),
         "sc": (0.8, 20.0, -0.1, -0.1, 0.4)}  # e, b0, b1 (P), b2 (S), b3 (T) per split


def synthetic_rows(budgets: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for P in np.geomspace(1e6, 3e8, 8):
        for T in (2.5, 3.0, 3.5, 4.0, 5.0):
            for S in np.geomspace(1e4, 1e6, budgets):
                losses = {split: (e + b0 * P ** b1 * S ** b2 * T ** b3) * math.exp(rng.normal(0, 0.015))
                          for split, (e, b0, b1, b2, b3) in TRUTH.items()}
                rows.append({"run": f"P{P:.3g}-T{T}", "size": f"P{P:.3g}", "P": P, "Pt": 0.7 * P, "S": S,
                             "T": T, "F": 6 * P, "C": S * 6 * P * 1.7, **losses})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-per-run", type=int, default=5, help="budgets per run (40 runs)")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples over runs")
    parser.add_argument("--json", default="benchmarks/results/fit_speed.json", help="where to write results")
    args = parser.parse_args()
    env = environment(packages=("scipy", "numpy"))
    print(f"hardware: {env['hardware']}\nversions: {env['versions']}")
    with tempfile.TemporaryDirectory(prefix="florenz-fit-speed-") as scratch:
        path = Path(scratch) / "rows.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in synthetic_rows(args.rows_per_run)))
        config = FitConfig(rows=(str(path),), out=scratch, bootstrap=args.bootstrap)
        rows = load_rows(config.rows, config.splits)
        started, cpu = time.perf_counter(), time.process_time()
        fits = fit_rows(config, rows)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        write_figures(fits, rows, SPLITS, Path(scratch) / "figures")
        figure_seconds = time.perf_counter() - started
    failed = sum(fits[s][law]["saturating"]["bootstrap_failed"] for s in SPLITS for law in ("law1", "law2"))
    result = [{"rows": len(rows), "runs": int(np.unique(rows.run).size), "bootstrap": args.bootstrap,
               "fit_s": round(seconds, 2), "fit_cpu_s": round(cpu_seconds, 2),
               "figures_s": round(figure_seconds, 2), "within_30_s": seconds <= TARGET_SECONDS,
               "failed_resamples": failed}]
    print(f"\nflorenz fit, 3 splits x 2 laws x 2 forms (target: under {TARGET_SECONDS} s):")
    print_table(result)
    write_result(args.json, {"benchmark": "fit_speed", "date": time.strftime("%Y-%m-%d"), **env,
                             "rows": result})


if __name__ == "__main__":
    main()
