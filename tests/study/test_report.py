"""The study report from a small synthetic study directory (no training): verdicts follow the numbers, the
prefix effect matches pycocoevalcap's CIDEr-D per item, a missing fit is a note, the HTML renders in
Chromium."""

import copy
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from florenz.data.shards import ShardSample, write_shard
from florenz.errors import FlorenzError
from florenz.study.findings import (
    final_evaluations,
    law_findings,
    prefix_differences,
    right_language_differences,
    tower_verdict,
    write_study_report,
)
from florenz.study.report import coefficient_verdict, find_cjk_font, per_size

CHROMIUM = Path("/usr/bin/chromium")
LANGS = ("en", "de", "fr", "es", "ru", "zh")
UNSEEN = ("fr", "es", "ru", "zh")
SCENES = ("caption_000000", "caption_000001", "caption_000002")
REFERENCES = {
    "en": ["The image shows a red circle.", "There is a red circle."],
    "de": ["Das Bild zeigt einen roten Kreis.", "Zu sehen ist ein roter Kreis."],
    "fr": ["La photo montre un cercle rouge.", "On voit un cercle rouge."],
    "es": ["La imagen muestra un círculo rojo.", "Se ve un círculo rojo."],
    "ru": ["На картинке изображен красный круг.", "Виден красный круг."],
    "zh": ["图为一个红色的圆。", "可以看到一个红色的圆。"],
}
# (size, P, variant, T, UC loss at the final budget, unseen prefix-CIDEr): lower loss, higher CIDEr
MODELS = [
    ("world-xxs", 5.7e5, "A", 7.5, 4.0, 5.0),
    ("world-xxs", 5.7e5, "B", 6.6, 3.6, 12.0),
    ("world-xs", 2.3e6, "A", 7.4, 3.1, 21.0),
    ("world-xs", 2.3e6, "B", 6.5, 2.5, 33.0),
]
LAW2 = {
    "b1": {"value": -0.2, "low": -0.3, "high": -0.1, "p": 0.001},
    "b2": {"value": -0.05, "low": -0.08, "high": -0.02, "p": 0.01},
    "b3": {"value": 0.4, "low": 0.1, "high": 0.7, "p": 0.02},
}


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _prediction_rows(scene_index: int, lang: str, model_index: int) -> list[dict]:
    """Without prefix the model answers in German; with it, in the asked language (zh only on scene 0)."""
    refs = REFERENCES[lang]
    plain = "Das Bild zeigt einen roten Kreis." if model_index % 2 else "ein Kreis"
    right = lang != "zh" or scene_index == 0
    continuation = refs[scene_index % 2].split(" ", 3)[-1] if lang != "zh" else "一个红色的圆。"
    prefixed = continuation if right else "einen roten Kreis."
    rows = []
    for name, prediction, prefix, detected in (
        ("caption", plain, "", "de"),
        ("caption_prefix", prefixed, "PREFIX", lang if right else "de"),
    ):
        row = {
            "set": f"{name}/{lang}",
            "id": f"{SCENES[scene_index]}_{lang}",
            "lang": lang,
            "prediction": prediction,
            "full": f"{prefix} {prediction}".strip(),
            "prefix": prefix,
            "finished": True,
            "references": refs,
        }
        if lang in UNSEEN:
            row["detected_language"] = detected
        rows.append(row)
    return rows


def make_study(root: Path, law2: dict | None = None) -> Path:
    """A finished study as `florenz study` lays it out: plan, results, fits, runs' eval, bench images."""
    world = root / "world"
    write_shard(
        world / "bench" / "caption" / "000000.tar",
        [
            ShardSample(
                f"{scene}_{lang}",
                _png((60 * i, 200, 40)),
                [{"task": "caption", "lang": lang, "target": REFERENCES[lang][0]}],
            )
            for i, scene in enumerate(SCENES)
            for lang in LANGS
        ],
    )
    plan = {
        "config": {
            "preset": "custom",
            "grid_file": "grid.yaml",
            "schedule": "wsd",
            "workers": 2,
            "threads": 1,
            "launcher": "local",
        },
        "grid": {
            "sizes": ["world-xxs", "world-xs"],
            "budgets": [1000, 2000],
            "variants": ["A", "B"],
            "lr": {},
            "default_lr": 0.001,
            "vision_samples": {"world-xxs": 128000},
            "default_vision_samples": 32000,
            "decoder_samples": 1024,
            "batch_size": 16,
            "world_samples": 200,
        },
        "world": str(world),
    }
    (root / "study.json").write_text(json.dumps(plan))
    results = []
    for index, (size, P, variant, T, uc, cider) in enumerate(MODELS):
        run = root / "runs" / f"{size}-{variant}"
        (run / "eval").mkdir(parents=True)
        for S, loss in ((1000, uc + 0.5), (2000, uc)):
            results.append(
                {
                    "size": size,
                    "variant": variant,
                    "run": run.name,
                    "P": P,
                    "T": T,
                    "S": S,
                    "C": 6 * P * S,
                    "uc": loss,
                    "st": loss - 1,
                    "sc": loss - 1.5,
                }
            )
        rows = [
            row
            for lang in LANGS
            for scene in range(len(SCENES))
            for row in _prediction_rows(scene, lang, index)
        ]
        (run / "eval" / "world.predictions.jsonl").write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
        )
        scores = {
            "caption_cider/unseen": 1.0,
            "caption_prefix_cider/unseen": cider,
            "caption_right_language/unseen": 0.0,
            "caption_prefix_right_language/unseen": 75.0,
            "translation_bleu/mean": 40 - 5 * uc,
        }
        scores.update({f"caption_right_language/{lang}": 0.0 for lang in UNSEEN})
        (run / "eval" / "world.json").write_text(json.dumps({"task": "world", "scores": scores}))
        (run / "metrics.jsonl").write_text(
            "".join(
                json.dumps({"seen_samples": s, "loss": 8 / (1 + s / 500)}) + "\n"
                for s in range(100, 2100, 100)
            )
        )
    (root / "results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in results))
    if law2 is not None:
        fits = {
            split: {"law2": {"variables": ["P", "S", "T"], "log_linear": copy.deepcopy(law2)}}
            for split in ("uc", "st", "sc")
        }
        (root / "fits").mkdir()
        (root / "fits" / "fits.json").write_text(json.dumps({**fits, "notes": []}))
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The synthetic study and its rendered report (built once: the font subset takes a few seconds)."""
    root = make_study(tmp_path_factory.mktemp("study"), LAW2)
    markdown, page, findings = write_study_report(root)
    return root, markdown, page, findings


def _with(coefficient: str, low: float, high: float) -> dict:
    law2 = copy.deepcopy(LAW2)
    law2[coefficient].update(value=(low + high) / 2, low=low, high=high)
    return {
        split: {"law2": {"variables": ["P", "S", "T"], "log_linear": law2}} for split in ("uc", "st", "sc")
    }


@pytest.mark.parametrize(("coefficient", "expected_sign"), [("b1", -1), ("b2", -1), ("b3", +1)])
def test_law_verdicts_follow_the_fitted_coefficients(coefficient, expected_sign):
    index = ("b1", "b2", "b3").index(coefficient)
    paper_side = sorted((0.1 * expected_sign, 0.3 * expected_sign))
    other_side = sorted((-0.1 * expected_sign, -0.3 * expected_sign))
    for (low, high), verdict in (
        (paper_side, "holds"),
        (other_side, "reversed"),
        ((-0.2, 0.1), "not resolved"),
    ):
        findings, section = law_findings(_with(coefficient, low, high), "", Path("/nonexistent"))
        assert findings[index].verdict == verdict, (coefficient, low, high)
        assert any(row[:2] == ["UC", coefficient] and row[4] == verdict for row in section.table)


def test_a_missing_or_failed_fit_is_a_note_not_a_crash(tmp_path):
    root = make_study(tmp_path)  # no fits/
    findings, section = law_findings(
        {}, "split uc, law 1: 2 points on the Pareto frontier, needs 4", tmp_path
    )
    assert [f.verdict for f in findings] == ["not measured"] * 3
    assert "needs 4" in findings[0].evidence and "needs 4" in section.paragraphs[0]
    markdown, page, _ = write_study_report(root)
    text = markdown.read_text(encoding="utf-8")
    assert "fits/fits.json is absent" in text and page.is_file()


def test_report_states_the_verdicts_computed_from_the_numbers(report):
    root, markdown, page, findings = report
    text = markdown.read_text(encoding="utf-8")
    verdicts = {f.claim: f.verdict for f in findings}
    assert verdicts["UC loss falls as the model grows (P)"] == "holds"
    assert verdicts["a lower T (a more multilingual decoder start) lowers UC loss"] == "holds"
    for finding in findings:
        assert finding.statement() in text
    assert "wsd (one run per size and start" in text  # the schedule used
    assert "world-xxs 128,000; other sizes 32,000" in text  # the vision budget, and why
    assert "at least 80% of object colours" in text


def _pycocoevalcap_items(hypotheses: list[str], references: list[list[str]], lang: str) -> np.ndarray:
    """Per-item CIDEr-D x100 by pycocoevalcap on the same tokens (it splits on spaces)."""
    from pycocoevalcap.cider.cider import Cider

    from florenz.eval.metrics import tokenize_for_cider

    def join(text: str) -> str:
        return " ".join(tokenize_for_cider(text, lang))

    gts = {i: [join(ref) for ref in refs] for i, refs in enumerate(references)}
    res = {i: [join(hyp)] for i, hyp in enumerate(hypotheses)}
    return 100 * np.asarray(Cider().compute_score(gts, res)[1])


def test_prefix_effect_is_paired_per_item_as_pycocoevalcap_scores_it(report):
    root, *_ = report
    results = [json.loads(line) for line in (root / "results.jsonl").read_text().splitlines()]
    entry = final_evaluations(root, results)[0]
    expected = []
    for lang in UNSEEN:
        rows = {row["set"]: {} for row in entry["predictions"]}
        for row in entry["predictions"]:
            rows[row["set"]][row["id"]] = row
        ids = sorted(rows[f"caption/{lang}"])
        references = [rows[f"caption/{lang}"][i]["references"] for i in ids]
        scores = [
            _pycocoevalcap_items([rows[f"{name}/{lang}"][i]["prediction"] for i in ids], references, lang)
            for name in ("caption", "caption_prefix")
        ]
        expected.append(scores[1] - scores[0])
    np.testing.assert_allclose(
        np.sort(prefix_differences(entry)), np.sort(np.concatenate(expected)), atol=1e-9
    )
    # by construction: 3 of 4 unseen languages always answer right with the prefix, zh only on scene 0
    assert right_language_differences(entry).mean() == pytest.approx((3 * 3 + 1) / 12)


def test_figure5_correlation_is_pearsons_r_of_loss_and_score(report):
    root, _, _, findings = report
    finding = next(f for f in findings if "UC test loss" in f.claim)
    loss = [uc for *_, uc, _ in MODELS]
    cider = [c for *_, c in MODELS]
    r = np.corrcoef(loss, cider)[0, 1]
    assert f"Pearson r = {r:+.2f}" in finding.evidence
    assert finding.verdict == "holds"  # r ~ -0.99 over 4 models: the interval stays below 0


def test_example_images_are_files_beside_report_md_and_embedded_in_html(report):
    root, markdown, page, _ = report
    text, html = markdown.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")
    images = sorted((root / "figures" / "examples").glob("*.png"))
    assert len(images) == 2 * 2  # the largest size's two starts x two images
    for image in images:
        assert f"]({image.relative_to(root).as_posix()})" in text
        decoded = Image.open(image)
        assert decoded.width >= 192 and decoded.getpixel((0, 0)) in {(0, 200, 40), (60, 200, 40)}
    assert "一个红色的圆" in text and "红色的圆" in html
    assert (
        html.count('src="data:image/png;base64,') == len(images) + 3
    )  # + prefix, figure-5, training figures
    assert 'src="figures/' not in html  # self-contained


def test_a_directory_without_study_json_is_refused(tmp_path):
    with pytest.raises(FlorenzError, match="no study.json"):
        write_study_report(tmp_path)


def test_coefficient_verdict_reads_the_interval_not_the_value():
    assert coefficient_verdict({"value": -5.0, "low": -6.0, "high": 0.5}, -1) == "not resolved"
    assert coefficient_verdict({"value": 0.01, "low": 0.001, "high": 0.02}, +1) == "holds"
    assert coefficient_verdict({"value": None, "low": None, "high": None}, +1) == "not measured"


def test_report_opens_in_headless_chromium(report):
    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        pytest.skip(
            "/usr/bin/chromium is absent and not installed here; `make test` installs it "
            "(apt-get install -y chromium fonts-noto-cjk)"
        )
    from playwright.sync_api import sync_playwright

    root, _, page, _ = report
    errors = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium")),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.on(
                "console", lambda message: errors.append(message.text) if message.type == "error" else None
            )
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.goto(page.as_uri(), wait_until="load")
            widths = tab.evaluate("[...document.images].map(image => image.naturalWidth)")
            fonts = tab.evaluate("document.fonts.ready.then(set => [...set].map(f => [f.family, f.status]))")
            tab.screenshot(path=str(root / "report.png"), full_page=True)
        finally:
            browser.close()
    assert len(widths) == 7 and all(width > 0 for width in widths), widths
    assert errors == []
    if find_cjk_font() is not None:
        assert ["'Florenz CJK'", "loaded"] in fonts or ["Florenz CJK", "loaded"] in fonts, fonts
    assert (root / "report.png").stat().st_size > 10_000


def test_per_size_settings_read_as_words_not_json():
    assert per_size({}, 0.001) == "all sizes 0.001"
    assert per_size({"world-xxs": 128000}, 32000, "{:,}") == "world-xxs 128,000; other sizes 32,000"


def test_tower_verdict_names_the_towers_under_the_colour_threshold_and_only_those():
    def tower(size: str, colour: float) -> dict:
        return {"size": size, "dense_head_accuracy": {"colour": colour, "shape": 0.5}}

    assert "every tower reaches 80%" in tower_verdict([tower("world-xs", 0.98), tower("world-xxs", 0.81)])
    weak = tower_verdict([tower("world-xs", 0.76), tower("world-xxs", 0.81)])
    assert "world-xs (0.76) stays below 80%" in weak and "world-xxs" not in weak
    assert "no vision tower" in tower_verdict([]).lower()
