"""Planning with fitted laws: `florenz fit --fits F --predict P=..,S=..,T=..` and `--target uc=2 --at P=..`.

Each split uses its law's preferred form; intervals are the 2.5-97.5 percentiles of the same quantity over
the bootstrap samples of that form's parameters (resampled runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from florenz.errors import FlorenzError
from florenz.files import read_json
from florenz.scaling.config import FitConfig
from florenz.scaling.laws import LOG_LINEAR, predict


def parse_assignments(text: str, flag: str) -> dict[str, float]:
    """'P=1e9,S=1e7' -> {'P': 1e9, 'S': 1e7}; a FlorenzError naming the flag for anything else."""
    values = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, number = item.partition("=")
        try:
            values[name.strip()] = float(number)
        except ValueError:
            raise FlorenzError(f"--{flag} {text!r}: {item!r} is not NAME=NUMBER; write e.g. "
                               "P=1e9,S=1e7,T=6.0") from None
    if not values:
        raise FlorenzError(f"--{flag} is empty; write e.g. P=1e9,S=1e7,T=6.0")
    return values


def _preferred(fits: dict[str, Any], split: str,
               law: str) -> tuple[str, dict[str, Any], np.ndarray, np.ndarray]:
    entry = fits[split][law]
    form = entry["preferred"]
    if form is None:
        raise FlorenzError(f"split {split}, {law}: neither form converged, so it cannot predict; refit with "
                           "more runs")
    fitted = entry[form]
    values = np.array([fitted[name]["value"] for name in fitted["parameters"]])
    samples = np.array(fitted["samples"], dtype=float).reshape(-1, len(values))
    return form, entry, values, samples


def _interval(samples: np.ndarray) -> str:
    samples = samples[np.isfinite(samples)]
    if len(samples) < 2:
        return "no interval (no bootstrap samples)"
    return f"[{np.percentile(samples, 2.5):.4g}, {np.percentile(samples, 97.5):.4g}]"


def _point(entry: dict[str, Any], given: dict[str, float], law: str, split: str) -> np.ndarray:
    missing = [variable for variable in entry["variables"] if variable not in given]
    if missing:
        raise FlorenzError(f"split {split}, {law} needs {', '.join(entry['variables'])}; --predict lacks "
                           f"{', '.join(missing)}")
    return np.array([[given[variable] for variable in entry["variables"]]])


def predict_losses(fits: dict[str, Any], given: dict[str, float]) -> list[str]:
    """One line per split: the loss at `given` (law 1 if C is given, else law 2), with its interval."""
    if any(value <= 0 for value in given.values()):
        raise FlorenzError(f"--predict {given}: every value must be positive")
    law = "law1" if "C" in given else "law2"
    lines = []
    for split in _splits(fits):
        form, entry, values, samples = _preferred(fits, split, law)
        x = _point(entry, given, law, split)
        unused = sorted(set(given) - set(entry["variables"]))
        note = f"; {', '.join(unused)} not in this law" if unused else ""
        interval = _interval(predict(form, samples, x)[:, 0])
        lines.append(f"{split}: {predict(form, values, x)[0]:.4g} {interval} ({law}, {form}{note})")
    return lines


def _samples_needed(form: str, params: np.ndarray, variables: list[str],
                    given: dict[str, float], loss: float) -> np.ndarray:
    """S at which the law reaches `loss`, for parameters (B, m); NaN where it never does."""
    s = variables.index("S")
    others = [j for j, variable in enumerate(variables) if j != s]
    log_x = np.log([given[variables[j]] for j in others])
    if form == LOG_LINEAR:
        rest = params[:, 0] + params[:, 1:][:, others] @ log_x / np.log(10)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 10 ** ((np.log10(loss) - rest) / params[:, 1 + s])
    e, a, b = params[:, 0], params[:, 1], params[:, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = (np.log(loss - e) - np.log(a) - b[:, others] @ log_x) / b[:, s]
        return np.where(loss > e, np.exp(log_s), np.nan)


def _compute(fits: dict[str, Any], P: float, given: dict[str, float]) -> tuple[float, float, str]:
    """(F, Pt) for size P: given, or from the fitted rows' size with that P, or scaled from the nearest."""
    if "F" in given and "Pt" in given:
        return given["F"], given["Pt"], "F and Pt as given"
    sizes = fits["sizes"]
    name = min(sizes, key=lambda size: abs(np.log(sizes[size]["P"] / P)))
    size = sizes[name]
    if abs(size["P"] / P - 1) < 1e-6:
        return size["F"], size["Pt"], f"F and Pt of {name}"
    ratio = P / size["P"]
    return (size["F"] * ratio, size["Pt"] * ratio,
            f"F and Pt scaled from {name} by P (estimates; pass F=..,Pt=.. in --at to fix them)")


def plan_samples(fits: dict[str, Any], targets: dict[str, float], given: dict[str, float]) -> list[str]:
    """One line per target split: the seen samples S (and compute C) law 2 needs to reach the loss."""
    lines = []
    for split, loss in targets.items():
        if split not in fits:
            raise FlorenzError(f"--target {split}: no fit for split {split!r}; fitted: "
                               f"{', '.join(_splits(fits))}")
        form, entry, values, samples = _preferred(fits, split, "law2")
        variables = entry["variables"]
        if "S" not in variables:
            raise FlorenzError(f"split {split}: law 2 has no S term (S was constant), so it cannot plan S")
        missing = [variable for variable in variables if variable not in given and variable != "S"]
        if missing:
            raise FlorenzError(f"--at lacks {', '.join(missing)}: law 2 of split {split} depends on "
                               f"{', '.join(variables)}")
        needed = _samples_needed(form, values[None], variables, given, loss)[0]
        floor = values[0] if form != LOG_LINEAR else None
        exponent = values[variables.index("S") + (1 if form == LOG_LINEAR else 2)]
        if floor is not None and loss <= floor:
            lines.append(f"{split}: the law's floor e = {floor:.4g} lies above the target {loss:g}; no "
                         "budget reaches it")
            continue
        if exponent >= 0 or not np.isfinite(needed):
            lines.append(f"{split}: the loss does not fall with S in this fit (S exponent {exponent:.3g}); "
                         "no budget reaches the target")
            continue
        sample_needed = _samples_needed(form, samples, variables, given, loss)
        line = f"{split}: loss {loss:g} needs S = {needed:.4g} {_interval(sample_needed)} ({form})"
        if "P" in given:
            flops, trainable, source = _compute(fits, given["P"], given)
            line += f", C = {needed * flops * (1 + trainable / given['P']):.4g} FLOPs ({source})"
        lines.append(line)
    return lines


def _splits(fits: dict[str, Any]) -> list[str]:
    return [key for key, value in fits.items() if isinstance(value, dict) and "law2" in value]


def read_fits(path: str | Path) -> dict[str, Any]:
    if not Path(path).is_file():
        raise FlorenzError(f"{path} does not exist; write it with `florenz fit ROWS --out DIR` first")
    return read_json(path, "rewrite it with `florenz fit ROWS --out DIR`")


def plan(config: FitConfig) -> int:
    fits = read_fits(config.fits)
    if config.predict:
        print("\n".join(predict_losses(fits, parse_assignments(config.predict, "predict"))))
    if config.target:
        given = parse_assignments(config.at, "at")
        if any(value <= 0 for value in given.values()):
            raise FlorenzError(f"--at {config.at}: every value must be positive")
        print("\n".join(plan_samples(fits, parse_assignments(config.target, "target"), given)))
    return 0
