"""`florenz eval`: result files, scores recomputed from the predictions, skipping, and clean errors."""

import json
from pathlib import Path

import pytest
import sacrebleu
from PIL import Image

from florenz.cli import main
from florenz.eval.language_check import detect_language

FAST = ["--max-new-tokens", "4", "--max-samples", "1"]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _eval(run, tiny_world, *flags):
    return main(["eval", str(run), "--tokenizer", str(tiny_world), "--world", str(tiny_world), *FAST, *flags])


def test_world_eval_writes_scores_that_follow_from_its_predictions(random_run, tiny_world, tmp_path, capsys):
    assert _eval(random_run, tiny_world, "--out", str(tmp_path)) == 0
    scores = json.loads((tmp_path / "world.json").read_text())["scores"]
    rows = _rows(tmp_path / "world.predictions.jsonl")
    for lang in ("de", "fr", "es", "ru", "zh"):
        [row] = [r for r in rows if r["set"] == f"translation/{lang}"]
        expected = sacrebleu.corpus_bleu([row["prediction"]], [[row["references"][0]]],
                                         tokenize="zh" if lang == "zh" else "13a").score
        assert scores[f"translation_bleu/{lang}"] == pytest.approx(expected)
    for name in ("caption", "caption_prefix"):
        for lang in ("fr", "es", "ru", "zh"):  # unseen: every caption is language-checked
            [row] = [r for r in rows if r["set"] == f"{name}/{lang}"]
            assert row["detected_language"] == detect_language(row["prediction"])
            assert scores[f"{name}_right_language/{lang}"] == 100.0 * (row["detected_language"] == lang)
        assert "caption_right_language/en" not in scores  # seen languages are not checked
        assert scores[f"{name}_cider/unseen"] == pytest.approx(
            sum(scores[f"{name}_cider/{lang}"] for lang in ("fr", "es", "ru", "zh")) / 4)
        assert scores[f"{name}_cider/seen"] == pytest.approx(
            (scores[f"{name}_cider/en"] + scores[f"{name}_cider/de"]) / 2)
    prefixed = [r for r in rows if r["set"].startswith("caption_prefix/")]
    assert all(r["full"].startswith(r["prefix"]) and r["prefix"] for r in prefixed)
    for row in (r for r in rows if r["set"].startswith("ambiguity/")):
        assert row["correct"] == (row["correct_loss"] < row["incorrect_loss"])
    assert "caption_en_cider/en" in scores and "ambiguity_accuracy/mean" in scores
    assert "translation_bleu/mean" in capsys.readouterr().out  # the table


def test_finished_tasks_are_skipped_and_other_settings_need_overwrite(random_run, tiny_world, tmp_path,
                                                                      capsys):
    assert _eval(random_run, tiny_world, "--out", str(tmp_path)) == 0
    written = (tmp_path / "world.json").stat().st_mtime_ns
    capsys.readouterr()
    assert _eval(random_run, tiny_world, "--out", str(tmp_path)) == 0
    assert "skipped" in capsys.readouterr().err
    assert (tmp_path / "world.json").stat().st_mtime_ns == written
    assert _eval(random_run, tiny_world, "--out", str(tmp_path), "--beam", "2") == 2
    assert "other settings" in capsys.readouterr().err
    assert (tmp_path / "world.json").stat().st_mtime_ns == written
    assert _eval(random_run, tiny_world, "--out", str(tmp_path), "--beam", "2", "--overwrite") == 0
    assert json.loads((tmp_path / "world.json").read_text())["settings"]["generation"]["beam"] == 2


def _commute(root: Path) -> None:
    images = root / "CoMMuTE" / "images"
    images.mkdir(parents=True)
    for colour in ("blue", "red"):
        Image.new("RGB", (32, 32), colour).save(images / f"{colour}.jpg")
    for lang, (right, wrong) in {"de": ("ein Kreis", "ein Quadrat"), "fr": ("un cercle", "un carré"),
                                 "ru": ("круг", "квадрат"), "zh": ("一个圆", "一个正方形")}.items():
        pair = root / "CoMMuTE" / f"en-{lang}"
        pair.mkdir()
        files = {"src.en": ["a circle", "a box"], f"correct.{lang}": [right, wrong],
                 f"incorrect.{lang}": [wrong, right], "img.order": ["blue.jpg", "red.jpg"]}
        for name, lines in files.items():
            (pair / name).write_text("\n".join(lines) + "\n")


def test_commute_eval_reads_the_published_layout_and_scores_ambiguity(random_run, tiny_world, tmp_path):
    _commute(tmp_path / "data")
    assert main(["eval", str(random_run), "--tasks", "commute", "--data-root", str(tmp_path / "data"),
                 "--out", str(tmp_path / "out"), "--tokenizer", str(tiny_world),
                 "--max-new-tokens", "4"]) == 0
    scores = json.loads((tmp_path / "out" / "commute.json").read_text())["scores"]
    rows = _rows(tmp_path / "out" / "commute.predictions.jsonl")
    for lang in ("de", "fr", "ru", "zh"):
        judged = [r["correct"] for r in rows if r["set"] == f"ambiguity/{lang}"]
        assert len(judged) == 2 and scores[f"ambiguity_accuracy/{lang}"] == 100 * sum(judged) / 2
        translated = [r for r in rows if r["set"] == f"translation/{lang}"]
        expected = sacrebleu.corpus_bleu([r["prediction"] for r in translated],
                                         [[r["references"][0] for r in translated]],
                                         tokenize="zh" if lang == "zh" else "13a").score
        assert scores[f"translation_bleu/{lang}"] == pytest.approx(expected)


def test_missing_benchmark_files_stop_eval_before_anything_is_written(random_run, tiny_world, tmp_path,
                                                                      capsys):
    code = main(["eval", str(random_run), "--tasks", "world,xm3600", "--data-root", str(tmp_path / "none"),
                 "--out", str(tmp_path / "out"), "--tokenizer", str(tiny_world), "--world", str(tiny_world)])
    assert code == 2
    assert f"{tmp_path / 'none' / 'xm3600' / 'captions.jsonl'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_prefix_results_of_real_captioning_tasks_are_kept_apart(random_run, tiny_world, tmp_path):
    root = tmp_path / "data" / "xm3600"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (32, 32), "green").save(root / "images" / "k1.jpg")
    row = {"image/key": "k1", **{lang: {"caption": ["x"]} for lang in ("en", "de", "fr", "es", "ru", "zh")}}
    (root / "captions.jsonl").write_text(json.dumps(row) + "\n")
    flags = ["eval", str(random_run), "--tasks", "xm3600", "--data-root", str(tmp_path / "data"), "--out",
             str(tmp_path / "out"), "--tokenizer", str(tiny_world), "--max-new-tokens", "3"]
    assert main(flags) == 0 and main([*flags, "--prefix"]) == 0
    assert json.loads((tmp_path / "out" / "xm3600.json").read_text())["settings"]["prefix"] is False
    assert json.loads((tmp_path / "out" / "xm3600-prefix.json").read_text())["settings"]["prefix"] is True
    prefixed = _rows(tmp_path / "out" / "xm3600-prefix.predictions.jsonl")
    assert {r["prefix"] for r in prefixed if r["lang"] == "fr"} == {"La photo montre"}
