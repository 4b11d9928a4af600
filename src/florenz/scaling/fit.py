"""`florenz fit`: both scaling laws per split, each in two forms, with intervals, held-out error and figures.

Law 1 (the paper's eq. 1), on the Pareto frontier of (C, loss): log10 y = a0 + a1·log10 C, and the
saturating y = e + a·C^alpha. Law 2, on all points: log10 y = b0 + b1·log10 P + b2·log10 S + b3·log10 T,
and y = e + b0·P^b1·S^b2·T^b3. A variable that is constant (or, for T, absent from some row) is dropped
from law 2 with a note. Intervals: OLS t intervals for the log-linear form (as the paper reports them),
bootstrap over runs (all checkpoints of a run are drawn together) for the saturating form. The held-out
error fits without the largest-P runs and scores their rows (law 1: those on the full frontier) as the mean
|predicted/observed - 1|; the preferred form is the one with the lower held-out error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from florenz.errors import FlorenzError
from florenz.files import write_json_atomically
from florenz.scaling.config import FitConfig
from florenz.scaling.frontier import frontier_masks, pareto_frontier
from florenz.scaling.laws import LOG_LINEAR, SATURATING, FormFit, fit_form, parameter_count, predict
from florenz.scaling.plan import plan
from florenz.scaling.rows import Rows, load_rows

FORMS = (LOG_LINEAR, SATURATING)
LAW2_VARIABLES = {"P": "b1", "S": "b2", "T": "b3"}  # the paper's coefficient of each variable


def parameter_names(law: str, form: str, variables: list[str]) -> list[str]:
    if law == "law1":
        return ["a0", "a1"] if form == LOG_LINEAR else ["e", "a", "alpha"]
    exponents = [LAW2_VARIABLES[variable] for variable in variables]
    return ["b0", *exponents] if form == LOG_LINEAR else ["e", "b0", *exponents]


def run_weights(runs: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(B, n) row weights: each resample draws whole runs with replacement; a row weighs its run's count."""
    ids, run_index = np.unique(runs, return_inverse=True)
    draws = np.random.default_rng(seed).integers(len(ids), size=(resamples, len(ids)))
    counts = np.zeros((resamples, len(ids)))
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1)
    return counts[:, run_index]


# --- one law ----------------------------------------------------------------------------------------------

def _law2_variables(rows: Rows, notes: list[str]) -> list[str]:
    variables = []
    for variable in LAW2_VARIABLES:
        values = getattr(rows, variable)
        if variable == "T" and np.isnan(values).any():
            notes.append(f"T is absent in {int(np.isnan(values).sum())} of {len(rows)} rows (runs trained "
                         "from scratch have no starting point): law 2 drops its T term")
        elif np.unique(values).size == 1:
            notes.append(f"{variable} is the same ({values[0]:.4g}) in every row: law 2 drops its "
                         f"{variable} term")
        else:
            variables.append(variable)
    return variables


def _check_points(weights: np.ndarray, needed: int, rows: Rows, what: str) -> None:
    used = np.flatnonzero(weights > 0)
    if len(used) < needed:
        named = ", ".join(rows.where[i] for i in used) or "none"
        raise FlorenzError(f"{what}: {len(used)} point(s) ({named}) but its forms need at least {needed} "
                           "(one more than their parameters, for intervals); add runs or budgets")


def _heldout(config: FitConfig, rows: Rows) -> np.ndarray:
    """Rows of the largest `heldout_sizes` model sizes (P)."""
    sizes = np.unique(rows.P)
    if config.heldout_sizes == 0 or sizes.size <= config.heldout_sizes:
        return np.zeros(len(rows), dtype=bool)
    return rows.P >= sizes[-config.heldout_sizes]


def _form_entry(fit: FormFit, names: list[str], heldout: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for index, name in enumerate(names):
        coefficient = {"value": _number(fit.values[index]), "low": _number(fit.low[index]),
                       "high": _number(fit.high[index])}
        if fit.p_values is not None:
            coefficient["p"] = _number(fit.p_values[index])
        entry[name] = coefficient
    interval = "OLS t" if fit.form == LOG_LINEAR else "bootstrap over runs"
    entry.update({"parameters": names, "interval": interval, "converged": fit.converged,
                  "message": fit.message, "r2": _number(fit.r2), **heldout,
                  "bootstrap_failed": fit.bootstrap_failed, "samples": fit.samples.tolist()})
    return entry


def _number(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _fit_law(config: FitConfig, x: np.ndarray, y: np.ndarray, weights: np.ndarray,
             bootstrap: np.ndarray, heldout: tuple[np.ndarray, np.ndarray] | None,
             names_of) -> dict[str, Any]:
    """Both forms of a law; `heldout` = (training weights, scored rows) or None."""
    entry: dict[str, Any] = {}
    for form in FORMS:
        fit = fit_form(form, x, y, weights, bootstrap, config.huber_delta, config.max_iterations)
        held: dict[str, Any] = {"heldout_error": None, "heldout_points": 0, "heldout_parameters": None}
        train_weights, scored = heldout if heldout is not None else (None, None)
        enough = train_weights is not None and (train_weights > 0).sum() > parameter_count(form, x.shape[1])
        if fit.converged and enough and scored.any():
            held_fit = fit_form(form, x, y, train_weights, np.empty((0, len(y))), config.huber_delta,
                                config.max_iterations)
            if held_fit.converged:
                error = np.mean(np.abs(predict(form, held_fit.values, x[scored]) / y[scored] - 1))
                held = {"heldout_error": float(error), "heldout_points": int(scored.sum()),
                        "heldout_parameters": held_fit.values.tolist()}
        entry[form] = _form_entry(fit, names_of(form), held)
    entry.update(_preferred(entry, x, y, weights))
    return entry


def _rms_log_error(entry: dict[str, Any], form: str, x: np.ndarray, y: np.ndarray,
                   weights: np.ndarray) -> float:
    values = [entry[name]["value"] for name in entry["parameters"]]
    residual = np.log10(predict(form, np.array(values), x)) - np.log10(y)
    return float(np.sqrt(np.average(residual ** 2, weights=weights)))


def _preferred(law: dict[str, Any], x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    """The form to use: the lower held-out error; in-sample error when no rows were held out."""
    usable = [form for form in FORMS if law[form]["converged"]]
    if not usable:
        return {"preferred": None, "reason": "neither form converged"}
    if len(usable) == 1:
        choice, reason = usable[0], f"the {FORMS[1 - FORMS.index(usable[0])]} form did not converge"
    elif all(law[form]["heldout_error"] is not None for form in usable):
        errors = {form: law[form]["heldout_error"] for form in usable}
        choice = min(usable, key=errors.get)
        reason = (f"held-out error {errors[choice]:.2%} vs {errors[_other(choice)]:.2%} "
                  f"({law[choice]['heldout_points']} held-out points)")
    else:
        errors = {form: _rms_log_error(law[form], form, x, y, weights) for form in usable}
        choice = min(usable, key=errors.get)
        reason = (f"no held-out points (one model size, or too few points without the largest); in-sample "
                  f"RMS log10 error {errors[choice]:.4f} vs {errors[_other(choice)]:.4f}")
    chosen = law[choice]
    return {"preferred": choice, "reason": reason, **{name: chosen[name] for name in chosen["parameters"]}}


def _other(form: str) -> str:
    return FORMS[1 - FORMS.index(form)]


# --- all splits -------------------------------------------------------------------------------------------

def fit_rows(config: FitConfig, rows: Rows) -> dict[str, Any]:
    """fits.json's content for the rows (see the module docstring)."""
    notes: list[str] = []
    variables = _law2_variables(rows, notes)
    if not variables:
        raise FlorenzError("P, S and T are all constant or absent: law 2 has nothing to fit; add runs of "
                           "other sizes or budgets")
    bootstrap = run_weights(rows.run, config.bootstrap, config.seed)
    held = _heldout(config, rows)
    if not held.any():
        notes.append("one model size only (or --heldout-sizes 0): no held-out error; the preferred form is "
                     "chosen by in-sample error")
    x2 = np.column_stack([getattr(rows, variable) for variable in variables])
    fits: dict[str, Any] = {}
    for split in config.splits:
        y = rows.losses[split]
        frontier = pareto_frontier(rows.C, y).astype(float)
        _check_points(frontier, 4, rows, f"split {split}, law 1: the Pareto frontier of (C, loss)")
        _check_points(np.ones(len(rows)), len(variables) + 3, rows, f"split {split}, law 2")
        train_frontier = pareto_frontier(rows.C, y, ~held).astype(float)
        law1 = _fit_law(config, rows.C[:, None], y, frontier, frontier_masks(rows.C, y, bootstrap),
                        (train_frontier, held & (frontier > 0)),
                        lambda form: parameter_names("law1", form, []))
        law1.update({"variables": ["C"],
                     "frontier": [rows.where[i] for i in np.flatnonzero(frontier)]})
        law2 = _fit_law(config, x2, y, np.ones(len(rows)), bootstrap, ((~held).astype(float), held),
                        lambda form: parameter_names("law2", form, variables))
        law2["variables"] = variables
        fits[split] = {"points": len(rows), "runs": int(np.unique(rows.run).size), "law1": law1, "law2": law2}
    sizes = {}
    for index in np.argsort(rows.P):
        sizes.setdefault(rows.size[index] or f"P={rows.P[index]:.4g}",
                         {"P": rows.P[index], "Pt": rows.Pt[index], "F": rows.F[index]})
    fits.update({"notes": notes, "inputs": rows.sources, "sizes": sizes,
                 "heldout_P": sorted(set(rows.P[held].tolist())),
                 "settings": {"bootstrap": config.bootstrap, "heldout_sizes": config.heldout_sizes,
                              "huber_delta": config.huber_delta, "seed": config.seed}})
    return fits


# --- the table --------------------------------------------------------------------------------------------

def _format(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def format_table(fits: dict[str, Any], splits: tuple[str, ...]) -> str:
    lines = []
    for split in splits:
        lines.append(f"\n{split.upper()}: {fits[split]['points']} points, {fits[split]['runs']} runs")
        for law, title in (("law1", "law 1, Pareto frontier of (C, loss)"), ("law2", "law 2, all points")):
            entry = fits[split][law]
            lines.append(f"  {title}: variables {', '.join(entry['variables'])}")
            lines.append(f"    {'form':<11} {'coef':<6} {'value':>10} {'95% interval':>24} {'p':>9}")
            for form in FORMS:
                fit = entry[form]
                if not fit["converged"]:
                    lines.append(f"    {form:<11} did not converge: {fit['message']}")
                    continue
                for name in fit["parameters"]:
                    c = fit[name]
                    p = "" if "p" not in c else _format(c["p"])
                    lines.append(f"    {form:<11} {name:<6} {_format(c['value']):>10} "
                                 f"{'[' + _format(c['low']) + ', ' + _format(c['high']) + ']':>24} {p:>9}")
                held = "—" if fit["heldout_error"] is None else f"{fit['heldout_error']:.2%}"
                lines.append(f"    {form:<11} R² {_format(fit['r2'])}, held-out error {held}")
            lines.append(f"    preferred: {entry['preferred']} ({entry['reason']})")
    for note in fits["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def fit(config: FitConfig) -> dict[str, Any] | int:
    """The verb: fit and write, or (with --fits) predict / plan from a fitted law."""
    if config.fits:
        return plan(config)
    rows = load_rows(config.rows, config.splits)
    fits = fit_rows(config, rows)
    out = Path(config.out)
    write_json_atomically(out / "fits.json", fits)
    print(format_table(fits, config.splits))
    if config.figures:
        from florenz.scaling.plots import write_figures

        written = write_figures(fits, rows, config.splits, out / "figures")
        print(f"figures: {', '.join(str(path) for path in written)}")
    print(f"fits: {out / 'fits.json'}")
    return fits
