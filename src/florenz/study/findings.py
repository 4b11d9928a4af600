"""The study's findings, computed from its own numbers: law-2 coefficients from `fits/fits.json`; the prefix
effect and the language check per caption from each final model's `eval/world.predictions.jsonl`; downstream
scores against test loss (the paper's figure 5) from `eval/world.json` and `results.jsonl`. Figures go to
OUT/figures/ (the fit's own are reused from OUT/fits/figures/), benchmark images beside them.

Unseen languages are read off the scores (the ones `florenz eval` language-checked), never assumed.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from florenz.errors import FlorenzError
from florenz.files import read_json_lines
from florenz.pretrain.config import WEAK_TOWER_COLOUR_ACCURACY
from florenz.study.report import (
    Example,
    Finding,
    Section,
    coefficient_verdict,
    per_size,
    setup_section,
    write_report,
)

LANGS = ("en", "de", "fr", "es", "ru", "zh")
# Law 2 in log10 space, the paper's v1 Table 3 (no T term there); the AAAI version adds T without printing b3.
PAPER_LAW2 = {
    "uc": {"b1": "-0.16 [-0.19, -0.13]", "b2": "-0.04 [-0.08, -0.01]"},
    "st": {"b1": "-0.15 [-0.19, -0.11]", "b2": "-0.19 [-0.24, -0.15]"},
    "sc": {"b1": "-0.13 [-0.14, -0.11]", "b2": "-0.15 [-0.16, -0.13]"},
}
LAW2_CLAIMS = (
    ("b1", -1, "UC loss falls as the model grows (P)", "v1 Table 3, UC: b1 = -0.16 [-0.19, -0.13]"),
    ("b2", -1, "UC loss falls with more seen samples (S)", "v1 Table 3, UC: b2 = -0.04 [-0.08, -0.01]"),
    (
        "b3",
        +1,
        "a lower T (a more multilingual decoder start) lowers UC loss",
        "AAAI version: UC loss rises with T (b3 > 0; value not printed)",
    ),
)
RERUN_FIX = "rerun `florenz study` with the same --out to write it again"
EXAMPLE_IMAGES = 2  # benchmark images shown per start of the largest size
EXAMPLE_CHARACTERS = 240  # longer captions (degenerate repetitions) are cut for display
EXAMPLE_PIXELS = 192  # benchmark images are upscaled (nearest) to this width for the markdown


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def mean_interval(values: list[float] | np.ndarray) -> dict[str, float] | None:
    """Mean and its 95% t-interval; None for fewer than two values."""
    from scipy import stats

    array = np.asarray(values, dtype=float)
    if len(array) < 2:
        return None
    half = stats.t.ppf(0.975, len(array) - 1) * array.std(ddof=1) / math.sqrt(len(array))
    return {
        "value": float(array.mean()),
        "low": float(array.mean() - half),
        "high": float(array.mean() + half),
    }


def _fmt(interval: dict[str, float] | None, digits: int = 1) -> str:
    if interval is None:
        return "n/a"
    return f"{interval['value']:+.{digits}f} [{interval['low']:+.{digits}f}, {interval['high']:+.{digits}f}]"


# --- the final model of every (size, start) ---------------------------------------------------------------


def final_evaluations(root: Path, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (size, variant): its largest-budget row, its world scores and prediction rows."""
    finals: dict[tuple[str, str], dict[str, Any]] = {}
    for row in results:
        key = (row["size"], row["variant"])
        if key not in finals or row["S"] > finals[key]["S"]:
            finals[key] = row
    entries = []
    for (size, variant), row in sorted(finals.items(), key=lambda item: (item[1]["P"], item[0])):
        evaluation = root / "runs" / row["run"] / "eval"
        entries.append(
            {
                "size": size,
                "variant": variant,
                "P": row["P"],
                "T": row.get("T"),
                "row": row,
                "scores": _read_json(evaluation / "world.json").get("scores", {}),
                "predictions": read_json_lines(evaluation / "world.predictions.jsonl", RERUN_FIX),
            }
        )
    return entries


def _label(entry: dict[str, Any]) -> str:
    T = entry["T"]
    return f"{entry['size']} {entry['variant']}" + ("" if T is None else f" (T={T:.2f})")


def unseen_languages(scores: dict[str, float]) -> list[str]:
    return [lang for lang in LANGS if f"caption_right_language/{lang}" in scores]


def _paired_rows(entry: dict[str, Any], lang: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(without prefix, with prefix) prediction rows of the same benchmark item."""
    prefixed = {row["id"]: row for row in entry["predictions"] if row["set"] == f"caption_prefix/{lang}"}
    return [
        (row, prefixed[row["id"]])
        for row in entry["predictions"]
        if row["set"] == f"caption/{lang}" and row["id"] in prefixed
    ]


def prefix_differences(entry: dict[str, Any]) -> np.ndarray:
    """Per benchmark item and unseen language: CIDEr-D x100 with minus without the prefix.

    Per-item CIDEr-D within each language's set, as `florenz eval` scored it (the continuation after the
    prefix, the set's own document frequencies), so each language's mean is its reported corpus difference.
    """
    from florenz.eval.metrics import cider_d_scores, tokenize_for_cider

    differences = []
    for lang in unseen_languages(entry["scores"]):
        pairs = _paired_rows(entry, lang)
        if not pairs:
            continue
        references = [[tokenize_for_cider(ref, lang) for ref in plain["references"]] for plain, _ in pairs]
        scored = [
            100
            * cider_d_scores(
                [tokenize_for_cider(pair[side]["prediction"], lang) for pair in pairs], references
            )
            for side in (0, 1)
        ]
        differences.append(scored[1] - scored[0])
    return np.concatenate(differences) if differences else np.zeros(0)


def right_language_differences(entry: dict[str, Any]) -> np.ndarray:
    """Per item and unseen language: 1 if only the prefixed caption is in the asked language, -1 if only the
    plain one, else 0 (percentage points / 100)."""
    return np.array(
        [
            (prefixed.get("detected_language") == lang) - (plain.get("detected_language") == lang)
            for lang in unseen_languages(entry["scores"])
            for plain, prefixed in _paired_rows(entry, lang)
        ],
        dtype=float,
    )


# --- findings -----------------------------------------------------------------------------------------------


def law_findings(fits: dict[str, Any], fit_note: str, fit_figures: Path) -> tuple[list[Finding], Section]:
    """b1, b2, b3 of law 2 (log-linear, as the paper reports it) on UC; the coefficients of every split."""
    missing = "no scaling-law fit: " + (
        fit_note
        or "fits/fits.json is absent (the fit stage did not run "
        "or failed; run `florenz fit` on results.jsonl)"
    )
    findings = []
    for name, sign, claim, paper in LAW2_CLAIMS:
        law2 = fits.get("uc", {}).get("law2", {})
        coefficient = law2.get("log_linear", {}).get(name)
        if not fits:
            evidence = missing
        elif coefficient is None:
            evidence = (
                f"{name} is not in the fit (variables {', '.join(law2.get('variables', []))}): "
                + "; ".join(fits.get("notes", []))
            )
        else:
            evidence = f"{name} = {_fmt(coefficient, 3)} (log-linear law 2 on UC, 95% OLS interval)"
        findings.append(Finding(claim, coefficient_verdict(coefficient, sign), evidence, paper))
    if not fits:
        return findings, Section("Scaling laws", [missing + "."])
    table = [["split", "coefficient", "this study [95% interval]", "p", "verdict", "paper (v1 Table 3)"]]
    for split in ("uc", "st", "sc"):
        law2 = fits.get(split, {}).get("law2", {}).get("log_linear", {})
        for name, sign, *_ in LAW2_CLAIMS:
            coefficient = law2.get(name)
            p = "" if not coefficient or coefficient.get("p") is None else f"{coefficient['p']:.2g}"
            table.append(
                [
                    split.upper(),
                    name,
                    _fmt(coefficient, 3),
                    p,
                    coefficient_verdict(coefficient, sign),
                    PAPER_LAW2[split].get(name, "not printed"),
                ]
            )
    paragraphs = [
        "Law 2, log10 y = b0 + b1 log10 P + b2 log10 S + b3 log10 T, fitted on every checkpoint by "
        "`florenz fit` (fits/fits.json); law 1 on the Pareto frontier of (C, loss). The verdict column "
        "compares each interval with the paper's sign (b1, b2 < 0; b3 > 0)."
    ]
    paragraphs += [f"Fit note: {note}" for note in fits.get("notes", [])]
    figures = [
        (path, caption)
        for name, caption in (
            ("loss_vs_compute", "law 1 per split: test loss against compute C, with the Pareto frontier"),
            ("loss_vs_samples", "law 2 per split: test loss against seen samples S per size and start"),
            ("parity", "law 2 per split: predicted against measured loss (held-out sizes marked)"),
        )
        for path in [fit_figures / f"{name}.png"]
        if path.is_file()
    ]
    return findings, Section("Scaling laws", paragraphs, table, figures)


def prefix_findings(finals: list[dict[str, Any]]) -> tuple[list[Finding], list[list[str]]]:
    """The paper's figure 4 analogue and the language check, paired per benchmark item, per (size, T)."""
    table = [
        [
            "size, start",
            "CIDEr unseen",
            "with prefix",
            "paired difference [95% CI]",
            "items",
            "right language",
            "with prefix",
        ]
    ]
    cider_all, language_all = [], []
    for entry in finals:
        scores, cider, language = (
            entry["scores"],
            prefix_differences(entry),
            right_language_differences(entry),
        )
        cider_all.append(cider)
        language_all.append(language)
        table.append(
            [
                _label(entry),
                f"{scores.get('caption_cider/unseen', float('nan')):.2f}",
                f"{scores.get('caption_prefix_cider/unseen', float('nan')):.2f}",
                _fmt(mean_interval(cider), 2),
                str(len(cider)),
                f"{scores.get('caption_right_language/unseen', float('nan')):.0f}%",
                f"{scores.get('caption_prefix_right_language/unseen', float('nan')):.0f}%",
            ]
        )
    cider, language = np.concatenate([np.zeros(0), *cider_all]), np.concatenate([np.zeros(0), *language_all])
    cider_interval, language_interval = mean_interval(cider), mean_interval(100 * language)
    findings = [
        Finding(
            "the decoder language prefix raises unseen-language captioning CIDEr",
            coefficient_verdict(cider_interval, +1),
            f"prefix minus none = {_fmt(cider_interval, 2)} CIDEr, paired over {len(cider)} (model, language,"
            " "
            f"image) captions of {len(finals)} final model(s); per size and start in 'The language prefix'",
            "figure 4 / Table 4: XM3600 unseen prefix-CIDEr 1.7 (0.4B), 5.6 (1.0B), 24.1 (3.5B), "
            "26.6 (11.2B)",
        ),
        Finding(
            "with the prefix, more unseen-language captions come out in the asked language",
            coefficient_verdict(language_interval, +1),
            f"share in the asked language, prefix minus none = {_fmt(language_interval)} percentage points, "
            f"paired over {len(language)} captions",
            "section 6.3: without a prefix the models answer unseen-language requests in a seen language",
        ),
    ]
    return findings, table


def downstream_findings(finals: list[dict[str, Any]], out: Path) -> tuple[list[Finding], Path | None]:
    """The paper's figure 5: downstream scores against test CE of the final models, with Pearson's r."""
    from scipy import stats

    panels = (
        ("uc", "caption_prefix_cider/unseen", "unseen-language prefix-CIDEr", "UC"),
        ("st", "translation_bleu/mean", "translation BLEU", "ST"),
    )
    findings, points = [], []
    for split, key, score_name, split_name in panels:
        pairs = [(e["row"][split], e["scores"][key], e) for e in finals if key in e["scores"]]
        points.append(pairs)
        claim = f"a lower {split_name} test loss goes with a higher {score_name}"
        paper = "figure 5: downstream scores rise as test cross-entropy falls"
        if len(pairs) < 4:
            findings.append(
                Finding(
                    claim,
                    "not measured",
                    f"{len(pairs)} final model(s); a correlation interval needs at least 4",
                    paper,
                )
            )
            continue
        loss, score = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        if np.ptp(loss) == 0 or np.ptp(score) == 0:
            flat = "the loss" if np.ptp(loss) == 0 else score_name
            findings.append(
                Finding(claim, "not resolved", f"no spread in {flat} over {len(pairs)} models", paper)
            )
            continue
        result = stats.pearsonr(loss, score)
        low, high = result.confidence_interval(0.95)
        interval = {"value": float(result.statistic), "low": float(low), "high": float(high)}
        findings.append(
            Finding(
                claim,
                coefficient_verdict(interval, -1),
                f"Pearson r = {_fmt(interval, 2)} over {len(pairs)} final models",
                paper,
            )
        )
    if not any(points):
        return findings, None
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, (_, _, score_name, split_name), pairs, finding in zip(axes, panels, points, findings):
        for variant, marker in (("A", "o"), ("B", "s")):
            chosen = [p for p in pairs if p[2]["variant"] == variant]
            axis.scatter(
                [p[0] for p in chosen], [p[1] for p in chosen], marker=marker, label=f"start {variant}"
            )
        for loss, score, entry in pairs:
            axis.annotate(entry["size"], (loss, score), fontsize=7, xytext=(3, 3), textcoords="offset points")
        axis.set(xlabel=f"{split_name} test cross-entropy", ylabel=score_name, title=finding.evidence[:60])
        axis.legend(fontsize=8)
    figure.tight_layout()
    return findings, _save(figure, out / "downstream_vs_loss.png")


# --- figures ------------------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    _pyplot().close(figure)
    return path


def training_section(root: Path, out: Path) -> Section:
    """Training curves and, per run, how much the loss still fell over its last tenth (under-training)."""
    runs = sorted(path for path in (root / "runs").glob("*") if (path / "metrics.jsonl").is_file())
    curves = {run.name: rows for run in runs if (rows := read_json_lines(run / "metrics.jsonl", RERUN_FIX))}
    if not curves:
        return Section("Training", ["No run wrote metrics.jsonl."])
    table = [["run", "seen samples", "final training loss", "fall over the last 10% of samples"]]
    figure, axis = _pyplot().subplots(figsize=(8, 4))
    for name, rows in curves.items():
        seen, loss = np.array([r["seen_samples"] for r in rows]), np.array([r["loss"] for r in rows])
        axis.plot(seen, loss, label=name, linewidth=1)
        tail = loss[seen >= 0.9 * seen[-1]]
        table.append(
            [name, f"{seen[-1]:,}", f"{loss[-1]:.3f}", f"{100 * (tail[0] - tail[-1]) / tail[0]:.1f}%"]
        )
    axis.set(xlabel="seen samples S", ylabel="training loss", yscale="log", title="training curves")
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    return Section(
        "Training",
        [
            "A run still falling steeply at its end would be under-trained; the last column "
            "says how much each fell over its last tenth."
        ],
        table,
        [(_save(figure, out / "training_curves.png"), "training loss of every run")],
    )


def prefix_figure(finals: list[dict[str, Any]], out: Path) -> Path | None:
    entries = [e for e in finals if "caption_cider/unseen" in e["scores"]]
    if not entries:
        return None
    plt = _pyplot()
    x = np.arange(len(entries))
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.bar(x - 0.2, [e["scores"]["caption_cider/unseen"] for e in entries], 0.4, label="no prefix")
    axis.bar(
        x + 0.2, [e["scores"].get("caption_prefix_cider/unseen", 0.0) for e in entries], 0.4, label="prefix"
    )
    axis.set_xticks(x, [_label(e) for e in entries], rotation=30, ha="right", fontsize=8)
    axis.set(ylabel="CIDEr, unseen languages", title="the language prefix (the paper's figure 4)")
    axis.legend()
    figure.tight_layout()
    return _save(figure, out / "prefix_effect.png")


# --- sections -----------------------------------------------------------------------------------------------


def _benchmark_images(world: Path, ids: set[str]) -> dict[str, bytes]:
    """The encoded images of the given caption-benchmark ids, from WORLD/bench/caption/ shards."""
    from florenz.data.shards import list_shards, read_shard

    directory = world / "bench" / "caption"
    if not directory.is_dir():
        return {}
    return {
        sample.key: sample.image
        for shard in list_shards(directory)
        for sample in read_shard(shard)
        if sample.key in ids
    }


def _caption_cell(row: dict[str, Any] | None, prefixed: bool) -> str:
    if row is None:
        return "—"
    text = row.get("full", row["prediction"]) if prefixed else row["prediction"]
    text = text if len(text) <= EXAMPLE_CHARACTERS else text[:EXAMPLE_CHARACTERS] + " …"
    detected = row.get("detected_language", row["lang"])
    return text + ("" if detected == row["lang"] else f" [read as {detected or 'no language'}]")


def example_section(finals: list[dict[str, Any]], world: Path, out: Path) -> Section:
    """The largest size's captions in all six languages, without and with prefix, beside their images."""
    from PIL import Image

    if not finals:
        return Section("Example captions", ["No final model was evaluated."])
    largest = max(entry["P"] for entry in finals)
    examples, notes = [], []
    for entry in (e for e in finals if e["P"] == largest):
        rows = {
            (row["set"], row["id"]): row
            for row in entry["predictions"]
            if row["set"].startswith(("caption/", "caption_prefix/"))
        }
        scenes = list(
            dict.fromkeys(row_id.rsplit("_", 1)[0] for (name, row_id) in rows if name.startswith("caption/"))
        )[:EXAMPLE_IMAGES]
        ids = {f"{scene}_{lang}" for scene in scenes for lang in LANGS}
        images = _benchmark_images(world, ids)
        for scene in scenes:
            keys = [f"{scene}_{lang}" for lang in LANGS if f"{scene}_{lang}" in images]
            if not keys or len({images[key] for key in keys}) != 1:
                notes.append(
                    f"{entry['size']} {entry['variant']} {scene}: no single benchmark image found in "
                    f"{world / 'bench' / 'caption'}"
                )
                continue
            image = Image.open(io.BytesIO(images[keys[0]])).convert("RGB")
            scale = max(1, EXAMPLE_PIXELS // image.width)
            path = out / "examples" / f"{entry['size']}-{entry['variant']}-{scene}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.resize((image.width * scale, image.height * scale), Image.NEAREST).save(path)
            table = [["language", "no prefix", "with prefix (prefix + continuation)"]]
            table += [
                [
                    lang,
                    _caption_cell(rows.get((f"caption/{lang}", f"{scene}_{lang}")), False),
                    _caption_cell(rows.get((f"caption_prefix/{lang}", f"{scene}_{lang}")), True),
                ]
                for lang in LANGS
            ]
            examples.append(Example(path, f"{scene}, {_label(entry)}", table))
    paragraphs = [
        f"Greedy captions of the largest size's final models for the first {EXAMPLE_IMAGES} caption-"
        "benchmark images, the same image asked in each language. Unseen-language captions that the "
        "language check reads as another language are marked [read as ..]."
    ] + notes
    return Section("Example captions", paragraphs, examples=examples)


def tower_verdict(towers: list[dict[str, Any]]) -> str:
    """Whether every vision tower (its config.json record) names enough object colours to feed the VLM."""
    if not towers:
        return "No vision tower record was found in this study's starts/."
    colour = {tower.get("size", "?"): tower.get("dense_head_accuracy", {}).get("colour", 0.0)
              for tower in towers}
    weak = {size: accuracy for size, accuracy in colour.items() if accuracy < WEAK_TOWER_COLOUR_ACCURACY}
    if not weak:
        return f"Here every tower reaches {WEAK_TOWER_COLOUR_ACCURACY:.0%} (table)."
    named = ", ".join(f"{size} ({accuracy:.2f})" for size, accuracy in weak.items())
    one = len(weak) == 1
    return (f"Here {named} {'stays' if one else 'stay'} below {WEAK_TOWER_COLOUR_ACCURACY:.0%}: the grid "
            f"points built on {'it' if one else 'them'} may be held back by what the image tells the "
            f"decoder, not by the decoder; a larger vision budget for "
            f"{'that size' if one else 'those sizes'} is the fix.")


def grid_section(plan: dict[str, Any], root: Path) -> Section:
    """How learning rate and vision budget were chosen, with the towers' measured accuracies."""
    grid = plan["grid"]
    towers = [tower for tower in map(_read_json, sorted((root / "starts").glob("vision-*/config.json")))
              if tower.get("size") in grid["sizes"]]  # not a tower cached for an earlier grid here
    paragraphs = [
        f"Preset '{plan['config']['preset']}'. Peak learning rate: {per_size(grid['lr'], grid['default_lr'])}"
        ". 1e-3 trained the world's small sizes from pre-trained starts fastest "
        "without loss spikes; the full preset runs sizes from world-s up at 5e-4. Vision pre-training "
        f"images: {per_size(grid['vision_samples'], grid['default_vision_samples'], '{:,}')}. A tower counts "
        f"as trained when its dense head names at least {WEAK_TOWER_COLOUR_ACCURACY:.0%} of object colours "
        "on fresh scenes (pretrain vision warns below that); the 32 px world-xxs tower needs several times "
        "the images of the 48-64 px towers to get there, hence its larger budget. "
        f"{tower_verdict(towers)} The Training section checks that no run was still falling steeply at its "
        "end."
    ]
    table = [["tower", "pre-training images", "dense colour accuracy", "linear probe colour (random tower)"]]
    for tower in towers:
        probe = tower.get("linear_probe_accuracy", {})
        table.append(
            [
                tower.get("size", "?"),
                f"{tower.get('pretraining', {}).get('samples', 0):,}",
                f"{tower.get('dense_head_accuracy', {}).get('colour', float('nan')):.2f}",
                f"{probe.get('pretrained', {}).get('colour', float('nan')):.2f} "
                f"({probe.get('random', {}).get('colour', float('nan')):.2f})",
            ]
        )
    return Section(
        "How learning rate and vision budget were chosen", paragraphs, table if len(table) > 1 else None
    )


def loss_table(results: list[dict[str, Any]]) -> Section:
    table = [["size", "start", "P", "T", "S", "C", "UC", "ST", "SC"]]
    table += [
        [
            row["size"],
            row["variant"],
            f"{row['P']:.3g}",
            "-" if row.get("T") is None else f"{row['T']:.2f}",
            f"{row['S']:,}",
            f"{row['C']:.3g}",
            f"{row['uc']:.3f}",
            f"{row['st']:.3f}",
            f"{row['sc']:.3f}",
        ]
        for row in results
    ]
    return Section(
        "Test losses of every checkpoint", ["From results.jsonl (the reference's loss measure)."], table
    )


def write_study_report(root: Path, fit_note: str = "") -> tuple[Path, Path, list[Finding]]:
    """OUT/report.md and OUT/report.html from the study directory `root`; returns them and the findings."""
    root = Path(root)
    plan = _read_json(root / "study.json")
    if not plan:
        raise FlorenzError(
            f"{root} has no study.json: not a study directory; run `florenz study --out {root}`"
        )
    results = read_json_lines(root / "results.jsonl", RERUN_FIX)
    fits = {} if fit_note else _read_json(root / "fits" / "fits.json")  # a failed refit: no stale fits
    figures = root / "figures"
    finals = final_evaluations(root, results)
    laws, law_section = law_findings(fits, fit_note, root / "fits" / "figures")
    prefix, prefix_table = prefix_findings(finals)
    downstream, downstream_figure = downstream_findings(finals, figures)
    prefix_png = prefix_figure(finals, figures)
    sections = [
        setup_section(plan, _read_json(root / "timings.json")),
        grid_section(plan, root),
        law_section,
        Section(
            "The language prefix",
            [
                "Unseen-language CIDEr x100 of each (size, start)'s final model without and "
                "with the caption prefix; the difference is paired per benchmark item and "
                "language; 'right language' is the share the language check reads as "
                "the asked language."
            ],
            prefix_table,
            [(prefix_png, "unseen-language CIDEr without and with the prefix")] if prefix_png else [],
        ),
        Section(
            "Downstream scores against test loss",
            [f.statement() for f in downstream],
            figures=[
                (downstream_figure, "the paper's figure 5: final models' scores against test cross-entropy")
            ]
            if downstream_figure
            else [],
        ),
        training_section(root, figures),
        loss_table(results),
        example_section(finals, Path(plan.get("world", root / "world")), figures),
    ]
    findings = laws + prefix + downstream
    markdown, page = write_report(
        root, "Florenz study: conditional emergence of multilingual captioning", findings, sections
    )
    return markdown, page, findings
