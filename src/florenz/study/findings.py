"""The study's findings, computed from its own numbers: law coefficients from `fits.json`, the prefix effect
and the language check from each final model's `eval/world.json`, downstream scores against test loss from
`results.jsonl`. Figures of the training curves, the prefix effect and the paper's figure 5 go to
OUT/figures/; the fit's own figures are reused from OUT/fits/figures/.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from florenz.study.report import (
    Finding,
    Section,
    coefficient_verdict,
    law2_findings,
    setup_section,
    write_report,
)

UNSEEN = ("fr", "es", "ru", "zh")
LANGS = ("en", "de", "fr", "es", "ru", "zh")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if path.is_file()
        else []
    )


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def mean_interval(values: list[float]) -> dict[str, float] | None:
    """Mean and its 95% t-interval; None for fewer than two values."""
    from scipy import stats

    if len(values) < 2:
        return None
    array = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(array) - 1) * array.std(ddof=1) / math.sqrt(len(array))
    return {
        "value": float(array.mean()),
        "low": float(array.mean() - half),
        "high": float(array.mean() + half),
    }


def final_evaluations(root: Path, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (size, variant) final model: its scores and its final eval-loss row."""
    finals: dict[tuple[str, str], dict[str, Any]] = {}
    for row in results:
        key = (row["size"], row["variant"])
        if key not in finals or row["S"] > finals[key]["S"]:
            finals[key] = row
    entries = []
    for (size, variant), row in sorted(finals.items()):
        scores = _read_json(root / "runs" / row["run"] / "eval" / "world.json").get("scores", {})
        entries.append(
            {
                "size": size,
                "variant": variant,
                "P": row["P"],
                "T": row.get("T"),
                "row": row,
                "scores": scores,
                "run": row["run"],
            }
        )
    return entries


def prefix_finding(finals: list[dict[str, Any]]) -> tuple[Finding, list[list[str]]]:
    """Unseen-language CIDEr with minus without the prefix, paired per (model, language)."""
    differences, table = (
        [],
        [["size", "start", "CIDEr unseen", "with prefix", "difference [95% CI over langs]"]],
    )
    for entry in finals:
        scores = entry["scores"]
        pairs = [
            scores[f"caption_prefix_cider/{lang}"] - scores[f"caption_cider/{lang}"]
            for lang in UNSEEN
            if f"caption_cider/{lang}" in scores and f"caption_prefix_cider/{lang}" in scores
        ]
        differences += pairs
        interval = mean_interval(pairs)
        table.append(
            [
                entry["size"],
                entry["variant"],
                f"{scores.get('caption_cider/unseen', float('nan')):.1f}",
                f"{scores.get('caption_prefix_cider/unseen', float('nan')):.1f}",
                _fmt_interval(interval),
            ]
        )
    overall = mean_interval(differences)
    finding = Finding(
        "a decoder language prefix raises unseen-language captioning (CIDEr)",
        coefficient_verdict(overall, +1),
        f"prefix - none = {_fmt_interval(overall)} CIDEr, paired over {len(differences)} "
        f"(model, language) cells",
        "XM3600 unseen prefix-CIDEr 1.7 (0.4B) to 26.6 (11.2B), captioning emerges with scale",
    )
    return finding, table


def language_finding(finals: list[dict[str, Any]]) -> Finding:
    without = [
        e["scores"]["caption_right_language/unseen"]
        for e in finals
        if "caption_right_language/unseen" in e["scores"]
    ]
    with_prefix = [
        e["scores"]["caption_prefix_right_language/unseen"]
        for e in finals
        if "caption_prefix_right_language/unseen" in e["scores"]
    ]
    pairs = [b - a for a, b in zip(without, with_prefix)]
    evidence = (
        (
            f"right language without prefix {np.mean(without):.0f}%, with prefix {np.mean(with_prefix):.0f}% "
            f"(mean over {len(without)} models)"
        )
        if without
        else "not measured"
    )
    return Finding(
        "with the prefix, unseen-language captions come out in the asked language",
        coefficient_verdict(mean_interval(pairs), +1) if pairs else "not measured",
        evidence,
        "without a prefix the paper's models answer in a seen language",
    )


def downstream_finding(finals: list[dict[str, Any]]) -> Finding:
    """The paper's figure 5: lower test CE goes with better downstream scores (negative correlation)."""
    from scipy import stats

    points = [
        (e["row"]["uc"], e["scores"]["caption_prefix_cider/unseen"])
        for e in finals
        if "caption_prefix_cider/unseen" in e["scores"]
    ]
    if len(points) < 3:
        return Finding(
            "lower UC test loss goes with higher unseen-language CIDEr",
            "not measured",
            f"{len(points)} models",
            "figure 5: downstream scores track test CE",
        )
    loss, cider = map(np.asarray, zip(*points))
    if np.ptp(cider) == 0 or np.ptp(loss) == 0:
        return Finding(
            "lower UC test loss goes with higher unseen-language CIDEr",
            "not resolved",
            "no spread in one of the two",
            "figure 5: downstream scores track test CE",
        )
    result = stats.pearsonr(loss, cider)
    low, high = result.confidence_interval(0.95)
    verdict = coefficient_verdict({"value": result.statistic, "low": low, "high": high}, -1)
    return Finding(
        "lower UC test loss goes with higher unseen-language CIDEr (prefix)",
        verdict,
        f"Pearson r = {result.statistic:.2f} [{low:.2f}, {high:.2f}] over {len(points)} models",
        "figure 5: downstream scores track test CE",
    )


def _fmt_interval(interval: dict[str, float] | None) -> str:
    if interval is None:
        return "n/a"
    return f"{interval['value']:+.1f} [{interval['low']:+.1f}, {interval['high']:+.1f}]"


def training_curves(root: Path, out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = (
        sorted(path for path in (root / "runs").iterdir() if (path / "metrics.jsonl").is_file())
        if (root / "runs").is_dir()
        else []
    )
    if not runs:
        return None
    figure, axis = plt.subplots(figsize=(7, 4))
    for run in runs:
        rows = _read_jsonl(run / "metrics.jsonl")
        axis.plot([r["seen_samples"] for r in rows], [r["loss"] for r in rows], label=run.name, linewidth=1)
    axis.set(xlabel="seen samples S", ylabel="training loss", yscale="log", title="training curves")
    axis.legend(fontsize=7)
    figure.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "training_curves.png"
    figure.savefig(path, dpi=150)
    plt.close(figure)
    return path


def prefix_figure(finals: list[dict[str, Any]], out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [e for e in finals if "caption_cider/unseen" in e["scores"]]
    if not entries:
        return None
    labels = [f"{e['size']} {e['variant']}" for e in entries]
    x = np.arange(len(entries))
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.bar(x - 0.2, [e["scores"]["caption_cider/unseen"] for e in entries], 0.4, label="no prefix")
    axis.bar(x + 0.2, [e["scores"]["caption_prefix_cider/unseen"] for e in entries], 0.4, label="prefix")
    axis.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    axis.set(ylabel="CIDEr, unseen languages (fr, es, ru, zh)", title="the language prefix (paper's fig. 4)")
    axis.legend()
    figure.tight_layout()
    path = out / "prefix_effect.png"
    figure.savefig(path, dpi=150)
    plt.close(figure)
    return path


def example_captions(root: Path, finals: list[dict[str, Any]]) -> Section | None:
    """The largest size's captions of one benchmark image in all six languages, without and with prefix."""
    if not finals:
        return None
    largest = max(finals, key=lambda e: (e["P"], e["variant"]))
    rows = _read_jsonl(root / "runs" / largest["run"] / "eval" / "world.predictions.jsonl")
    by_lang: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row.get("task") in ("caption", "caption_prefix") and row.get("lang") in LANGS:
            by_lang.setdefault((row["task"], row["lang"]), row)
    table = [["language", "no prefix", "with prefix"]]
    for lang in LANGS:
        plain, prefixed = by_lang.get(("caption", lang), {}), by_lang.get(("caption_prefix", lang), {})
        table.append(
            [
                lang,
                str(plain.get("hypothesis", plain.get("hyp", ""))),
                str(prefixed.get("hypothesis", prefixed.get("hyp", ""))),
            ]
        )
    return Section(
        f"Example captions ({largest['size']}, start {largest['variant']})",
        ["The first benchmark image of each language; the prefix is part of the shown sentence."],
        table=table,
    )


def loss_table(results: list[dict[str, Any]]) -> Section:
    table = [["size", "start", "P", "T", "S", "C", "UC", "ST", "SC"]]
    for row in results:
        T = row.get("T")
        table.append(
            [
                row["size"],
                row["variant"],
                f"{row['P']:.3g}",
                "-" if T is None else f"{T:.2f}",
                f"{row['S']:,}",
                f"{row['C']:.3g}",
                f"{row['uc']:.3f}",
                f"{row['st']:.3f}",
                f"{row['sc']:.3f}",
            ]
        )
    return Section("Test losses of every checkpoint", table=table)


def write_study_report(root: Path) -> tuple[Path, Path, list[Finding]]:
    plan = _read_json(root / "study.json")
    results = _read_jsonl(root / "results.jsonl")
    fits = _read_json(root / "fits" / "fits.json")
    finals = final_evaluations(root, results)
    prefix, prefix_table = prefix_finding(finals)
    findings = law2_findings(fits) + [prefix, language_finding(finals), downstream_finding(finals)]
    figures_dir = root / "figures"
    fit_figures = (
        sorted((root / "fits" / "figures").glob("*.png")) if (root / "fits" / "figures").is_dir() else []
    )
    sections = [
        setup_section(plan, _read_json(root / "timings.json")),
        Section(
            "How the grid was chosen",
            [
                "Learning rate and vision pre-training budget per size are the study preset's (see Set-up): "
                "world-xxs's 32 px tower needs about 128k pre-training images before it tells colours apart, "
                "larger towers reach that by 32k; peak rates were chosen so that no run's training curve "
                "below is still falling steeply at its end."
            ],
        ),
        Section(
            "Scaling laws",
            ["Fitted by `florenz fit` on results.jsonl (fits/fits.json)."],
            figures=[(path, path.stem.replace("_", " ")) for path in fit_figures],
        ),
        Section(
            "The language prefix",
            table=prefix_table,
            figures=[
                (path, "unseen-language CIDEr without and with the prefix")
                for path in [prefix_figure(finals, figures_dir)]
                if path
            ],
        ),
        Section(
            "Training",
            figures=[
                (path, "training loss of every run") for path in [training_curves(root, figures_dir)] if path
            ],
        ),
        loss_table(results),
    ]
    examples = example_captions(root, finals)
    if examples:
        sections.append(examples)
    markdown, page = write_report(
        root, "Florenz study: conditional emergence of multilingual captioning", findings, sections
    )
    return markdown, page, findings
