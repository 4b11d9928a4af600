"""`florenz finetune-data`: world-made datasets in the published layouts -> the paper's fine-tuning mixture.

The world's scenes and sentences are written into the exact files of Multi30K, COCO Karpathy, DOCCI and
Stanford Image-Paragraphs, so the real readers are what is tested; what each test expects comes from what the
fixture wrote, never from the code under test. Machine translation uses a tiny random NLLB model (an
NllbTokenizer over a character vocabulary, built offline) and is checked against a direct generate call.
"""

import gzip
import json
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    M2M100Config,
    M2M100ForConditionalGeneration,
    NllbTokenizer,
)

from florenz.cli import main
from florenz.data.finetune import finetune_data, finish_translation
from florenz.data.finetune_config import FinetuneDataConfig
from florenz.data.loader import AnnotationBalancer, target_distribution
from florenz.data.shards import list_shards, read_shard
from florenz.data.tokenizer import load_tokenizer
from florenz.errors import FlorenzError
from florenz.train.metrics import read_metrics
from florenz.world.realise import plan_description, realise
from florenz.world.render import render_scene
from florenz.world.scene import sample_scene
from tests.published import write_lines

IMAGE_SIZE = 32  # world-xxs
# short generations keep the tests fast: a random model never ends a text early
MT = {"mt_batch_size": 16, "mt_max_length_short": 12, "mt_max_length_long": 20}


# --- the world written in the published layouts ---------------------------------------------------------


class WorldLayouts:
    """Writes world scenes as JPEG files and their sentences into the datasets' files; records what it wrote
    as {image file name: {"captions": {lang: [...]}, "translations": {lang: [(en, xx)]}}} for the tests."""

    def __init__(self, root: Path, seed: int = 0) -> None:
        self.root = root
        self.rng = np.random.default_rng(seed)
        self.truth: dict[str, dict] = {}

    def image(self, path: Path) -> tuple[Path, object]:
        scene = sample_scene(self.rng, max_objects=3)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(render_scene(scene, IMAGE_SIZE)).save(path, format="JPEG", quality=95)
        self.truth[path.name] = {"captions": {}, "translations": {}}
        return path, scene

    def text(self, scene, detail: str, langs: tuple[str, ...]) -> dict[str, str]:
        """One content plan realised in each of `langs`: the same meaning in every language."""
        plan = plan_description(scene, detail, self.rng)
        return {lang: realise(plan, lang, self.rng) for lang in langs}

    def multi30k(self, images: int = 5) -> Path:
        base = self.root / "multi30k"
        names, captions, parallel = [], {"en": [[] for _ in range(5)], "de": [[] for _ in range(5)]}, []
        for index in range(images):
            path, scene = self.image(base / "flickr30k-images" / f"{1000 + index}.jpg")
            names.append(path.name)
            for lang in ("en", "de"):
                texts = [self.text(scene, "short", (lang,))[lang] for _ in range(5)]  # independent captions
                for number, text in enumerate(texts):
                    captions[lang][number].append(text)
                self.truth[path.name]["captions"][lang] = texts
            sentence = self.text(scene, "short", ("en", "de", "fr"))
            parallel.append(sentence)
            self.truth[path.name]["translations"] = {lang: [(sentence["en"], sentence[lang])]
                                                     for lang in ("de", "fr")}
        write_lines(base / "data" / "task2" / "image_splits" / "train_images.txt", names)
        for lang in ("en", "de"):
            for number in range(5):
                write_lines(base / "data" / "task2" / "raw" / f"train.{number + 1}.{lang}",
                            captions[lang][number], packed=True)
        write_lines(base / "data" / "task1" / "image_splits" / "train.txt", names)
        for lang in ("en", "de", "fr"):
            write_lines(base / "data" / "task1" / "raw" / f"train.{lang}", [row[lang] for row in parallel],
                        packed=True)
        # Multi30K tests on COCO image 3, so that image must stay out of training
        write_lines(base / "data" / "task1" / "image_splits" / "test_2017_mscoco.txt",
                    ["COCO_train2014_000000000003.jpg#2"])
        return base

    def coco(self) -> Path:
        base = self.root / "coco"
        entries = []
        for index, split in enumerate(("train", "train", "restval", "train", "test")):
            folder = "val2014" if split in ("restval", "test") else "train2014"
            path, scene = self.image(base / folder / f"COCO_{folder}_{index:012d}.jpg")
            texts = [self.text(scene, "short", ("en",))["en"] for _ in range(6)]  # COCO has 5-7 captions
            self.truth[path.name]["captions"]["en"] = texts
            entries.append({"filepath": folder, "filename": path.name, "split": split, "cocoid": index,
                            "sentences": [{"raw": text + " ", "tokens": text.split()} for text in texts]})
        (base / "dataset_coco.json").write_text(json.dumps({"images": entries, "dataset": "coco"}))
        return base

    def docci(self) -> Path:
        base = self.root / "docci"
        rows = []
        for index, split in enumerate(("train", "train", "test")):
            path, scene = self.image(base / "images" / f"{split}_{index:05d}.jpg")
            text = self.text(scene, "paragraph", ("en",))["en"]
            self.truth[path.name]["captions"]["en"] = [text]
            rows.append({"example_id": f"{split}_{index:05d}", "split": split, "image_file": path.name,
                         "description": text})
        write_lines(base / "docci_descriptions.jsonlines", [json.dumps(row) for row in rows])
        return base

    def paragraphs(self) -> Path:
        base = self.root / "image_paragraphs"
        entries = []
        for image_id in (2400001, 2400002, 2400003):
            # Visual Genome's own folders, as the paragraph's URL names them
            path, scene = self.image(base / "images" / "VG_100K_2" / f"{image_id}.jpg")
            text = self.text(scene, "detailed", ("en",))["en"]
            self.truth[path.name]["captions"]["en"] = [text]
            entries.append({"url": f"https://cs.stanford.edu/people/rak248/VG_100K_2/{image_id}.jpg",
                            "image_id": image_id, "paragraph": text.replace(". ", ".\n ")})
        (base / "paragraphs_v1.json").write_text(json.dumps(entries))
        (base / "train_split.json").write_text(json.dumps([2400001, 2400002]))
        (base / "test_split.json").write_text(json.dumps([2400003]))
        return base


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    world = WorldLayouts(tmp_path_factory.mktemp("published"))
    dirs = {"multi30k": world.multi30k(), "coco": world.coco(), "docci": world.docci(),
            "paragraphs": world.paragraphs()}
    return {name: str(path) for name, path in dirs.items()}, world.truth


@pytest.fixture
def copied_layouts(layouts, tmp_path):
    """A private copy of the layouts that a test may break."""
    dirs, _ = layouts
    root = Path(dirs["multi30k"]).parent
    shutil.copytree(root, tmp_path / "published")
    return {name: str(tmp_path / "published" / Path(path).name) for name, path in dirs.items()}


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory):
    """A random 1-layer NLLB (M2M100 architecture) with an NllbTokenizer over single characters and the six
    language codes."""
    directory = tmp_path_factory.mktemp("nllb") / "nllb-tiny"
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "▁": 4}
    for char in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-äöüéèàçñ":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault("▁" + char, len(vocab))
    codes = ["eng_Latn", "deu_Latn", "fra_Latn", "spa_Latn", "rus_Cyrl", "zho_Hans"]
    tokenizer = NllbTokenizer(vocab=vocab, merges=[], additional_special_tokens=codes)
    torch.manual_seed(0)
    config = M2M100Config(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                          decoder_ffn_dim=32, max_position_embeddings=300, pad_token_id=1, bos_token_id=0,
                          eos_token_id=2, decoder_start_token_id=2)
    model = M2M100ForConditionalGeneration(config)
    # no end, padding or bare space: every translation is non-empty text and runs to max_length
    silent = ["<s>", "</s>", "<pad>", "<unk>", "<mask>", "▁"]
    model.generation_config.suppress_tokens = tokenizer.convert_tokens_to_ids(silent)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def shard_annotations(out: Path) -> dict[str, list[dict]]:
    return {sample.key: sample.annotations
            for shard in list_shards(out / "train") for sample in read_shard(shard)}


def by_image(annotations: dict[str, list[dict]], name: str) -> list[dict]:
    stem = Path(name).stem
    found = [value for key, value in annotations.items() if key.endswith(f"_{stem}")]
    assert len(found) == 1, f"{name}: {len(found)} samples"
    return found[0]


def pairs(annotations: list[dict], lang: str) -> list[tuple[str, str]]:
    """(English source, target) of the en->lang translations."""
    return [(item["source"], item["target"]) for item in annotations
            if item["task"] == "translation" and item["lang"] == lang]


def make_config(dirs: dict, out: Path, **overrides) -> FinetuneDataConfig:
    return FinetuneDataConfig(out=str(out), **{**dirs, "shard_size": 4, **overrides})


# --- the mixture without translation ----------------------------------------------------------------------

def test_without_mt_the_human_pairs_of_the_train_splits_are_written_and_the_missing_ones_named(
        layouts, tmp_path, capsys):
    dirs, truth = layouts
    out = finetune_data(make_config(dirs, tmp_path / "ft"))
    annotations = shard_annotations(out)
    # train splits only: COCO's test image, DOCCI's and Image-Paragraphs' test images and the COCO image
    # Multi30K tests on are not in training
    assert len(annotations) == 5 + 3 + 2 + 2
    for name in ("COCO_val2014_000000000004.jpg", "COCO_train2014_000000000003.jpg", "test_00002.jpg",
                 "2400003.jpg"):
        assert not any(key.endswith(Path(name).stem) for key in annotations)
    for name in ("1000.jpg", "1004.jpg"):  # Multi30K: both tasks on one image
        got = by_image(annotations, name)
        for lang in ("en", "de"):
            assert sorted(a["target"] for a in got if a["task"] == "caption" and a["lang"] == lang) == \
                sorted(truth[name]["captions"][lang])
        for lang in ("de", "fr"):
            assert pairs(got, lang) == truth[name]["translations"][lang]
    coco = by_image(annotations, "COCO_val2014_000000000002.jpg")  # restval is training data
    assert [a["target"] for a in coco] == truth["COCO_val2014_000000000002.jpg"]["captions"]["en"]
    assert {a["detail"] for a in coco} == {"short"}
    docci = by_image(annotations, "train_00001.jpg")
    assert docci == [{"task": "caption", "lang": "en", "detail": "paragraph",
                      "target": truth["train_00001.jpg"]["captions"]["en"][0]}]
    paragraph = by_image(annotations, "2400002.jpg")  # newlines of the published paragraph collapsed
    assert [(a["detail"], a["target"]) for a in paragraph] == [
        ("detailed", truth["2400002.jpg"]["captions"]["en"][0])]

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["coverage"] == "caption:en,de;translation:de,fr"
    assert manifest["missing_pairs"] == ["caption-fr", "caption-es", "caption-ru", "caption-zh",
                                         "translation-es", "translation-ru", "translation-zh"]
    expected = Counter(f"{a['task']}-{a['lang']}" for values in annotations.values() for a in values)
    assert manifest["counts"]["train"]["annotations"] == dict(sorted(expected.items()))
    assert manifest["counts"]["images_by_dataset"] == {"coco": 3, "docci": 2, "multi30k": 5, "paragraphs": 2}
    assert manifest["excluded_images"] == {"coco_in_multi30k_test_2017_mscoco": 1}
    assert manifest["translation"] is None
    printed = capsys.readouterr().out
    assert "missing pairs (give --mt to translate them): caption-fr" in printed


def test_omitted_datasets_are_named_and_a_rerun_needs_overwrite(layouts, tmp_path, capsys):
    dirs, _ = layouts
    out = tmp_path / "ft"
    assert main(["finetune-data", "--docci", dirs["docci"], "--out", str(out)]) == 0
    assert "from docci (left out: multi30k, coco, paragraphs)" in capsys.readouterr().out
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    with pytest.raises(FlorenzError, match="already holds a fine-tuning mixture; pass --overwrite"):
        finetune_data(FinetuneDataConfig(out=str(out), coco=dirs["coco"]))
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    finetune_data(FinetuneDataConfig(out=str(out), coco=dirs["coco"], overwrite=True))
    assert json.loads((out / "manifest.json").read_text())["counts"]["images_by_dataset"] == {"coco": 4}


def test_an_out_that_holds_something_else_is_refused_untouched(layouts, tiny_world, tmp_path):
    dirs, _ = layouts
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    for out in (tmp_path / "notes", Path(tiny_world)):  # a world is never replaced by a mixture
        with pytest.raises(FlorenzError, match="holds no fine-tuning mixture"):
            finetune_data(FinetuneDataConfig(out=str(out), docci=dirs["docci"], overwrite=True))
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    assert (Path(tiny_world) / "manifest.json").is_file() and not (Path(tiny_world) / "mt_cache").exists()


# --- bad input ----------------------------------------------------------------------------------------------

def test_a_missing_file_is_named_with_the_layout(copied_layouts, tmp_path):
    raw = Path(copied_layouts["multi30k"]) / "data" / "task2" / "raw"
    (raw / "train.3.de.gz").unlink()
    with pytest.raises(FlorenzError, match=r"train\.3\.de.*does not exist|neither .*train\.3\.de"):
        finetune_data(make_config(copied_layouts, tmp_path / "ft"))
    assert not (tmp_path / "ft").exists()


@pytest.mark.parametrize("damage, message", [
    ("docci_not_json", r"docci_descriptions\.jsonlines line 2 is not JSON .*expected docci/docci_desc"),
    ("docci_no_description", r"docci_descriptions\.jsonlines line 1 lacks \['description'\]; expected"),
    ("multi30k_empty_line", r"train\.en\.gz line 3 is empty; expected multi30k/data/task1/raw/<split>"),
    ("multi30k_short_file", r"Multi30K task 1 train: files disagree in line count"),
    ("coco_no_sentences", r"dataset_coco\.json images\[1\] lacks .*sentences\[\]\.raw'; expected coco/"),
    ("paragraphs_not_json", r"paragraphs_v1\.json is not valid JSON \(.*line 1 column .*expected image_par"),
    ("image_missing", r"image train_00000\.jpg not found; looked in .*docci/images"),
])
def test_a_malformed_file_is_named_with_its_line_and_the_layout(copied_layouts, tmp_path, damage, message):
    docci = Path(copied_layouts["docci"])
    task1 = Path(copied_layouts["multi30k"]) / "data" / "task1" / "raw"
    lines = (docci / "docci_descriptions.jsonlines").read_text().splitlines()
    if damage == "docci_not_json":
        lines[1] = lines[1][:-1]
        (docci / "docci_descriptions.jsonlines").write_text("\n".join(lines) + "\n")
    elif damage == "docci_no_description":
        row = json.loads(lines[0])
        del row["description"]
        (docci / "docci_descriptions.jsonlines").write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    elif damage in ("multi30k_empty_line", "multi30k_short_file"):
        english = gzip.decompress((task1 / "train.en.gz").read_bytes()).decode().splitlines()
        english = english[:2] + [""] + english[3:] if damage == "multi30k_empty_line" else english[:-1]
        (task1 / "train.en.gz").write_bytes(gzip.compress(("\n".join(english) + "\n").encode()))
    elif damage == "coco_no_sentences":
        data = json.loads((Path(copied_layouts["coco"]) / "dataset_coco.json").read_text())
        del data["images"][1]["sentences"]
        (Path(copied_layouts["coco"]) / "dataset_coco.json").write_text(json.dumps(data))
    elif damage == "paragraphs_not_json":
        (Path(copied_layouts["paragraphs"]) / "paragraphs_v1.json").write_text("[{")
    else:
        (docci / "images" / "train_00000.jpg").unlink()
    with pytest.raises(FlorenzError, match=message):
        finetune_data(make_config(copied_layouts, tmp_path / "ft"))
    assert not (tmp_path / "ft").exists()


def test_an_image_that_does_not_decode_is_skipped_and_counted(copied_layouts, tmp_path, capsys):
    broken = Path(copied_layouts["docci"]) / "images" / "train_00000.jpg"
    broken.write_bytes(broken.read_bytes()[:40])  # a truncated JPEG
    out = finetune_data(make_config(copied_layouts, tmp_path / "ft"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["skipped_images"] == {"count": 1, "files": [str(broken)]}
    assert manifest["counts"]["images_by_dataset"]["docci"] == 1
    assert len(shard_annotations(out)) == 11
    assert f"skipped 1 images that do not decode: {broken}" in capsys.readouterr().out


def test_an_mt_directory_of_another_kind_is_refused(layouts, tmp_path):
    dirs, _ = layouts
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "config.json").write_text(json.dumps({"model_type": "clip"}))
    with pytest.raises(FlorenzError, match="holds a 'clip' model, not NLLB or M2M100"):
        finetune_data(FinetuneDataConfig(out=str(tmp_path / "ft"), docci=dirs["docci"],
                                         mt=str(tmp_path / "clip")))
    assert not (tmp_path / "ft").exists()


# --- machine translation ------------------------------------------------------------------------------------

def test_the_punctuation_fix_of_the_reference():
    assert finish_translation(" Ein Hund  rennt ", "de") == "Ein Hund rennt."
    assert finish_translation("Qui court ?", "fr") == "Qui court ?"
    assert finish_translation("Wow!", "es") == "Wow!"
    assert finish_translation("一只狗在跑.", "zh") == "一只狗在跑。"
    assert finish_translation("一只狗在跑", "zh") == "一只狗在跑。"
    assert finish_translation("谁在跑？", "zh") == "谁在跑？"  # not '？。' (reference §9.2.22)
    assert finish_translation("  ", "ru") == ""


@pytest.fixture(scope="module")
def translated(layouts, tiny_nllb, tmp_path_factory):
    """The full mixture with every language filled by the tiny NLLB, counting generate calls."""
    dirs, _ = layouts
    out = tmp_path_factory.mktemp("translated") / "ft"
    calls = []
    original = M2M100ForConditionalGeneration.generate

    def counted(self, *args, **kwargs):
        calls.append(len(kwargs["input_ids"]))
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(M2M100ForConditionalGeneration, "generate", counted)
        finetune_data(make_config(dirs, out, mt=str(tiny_nllb), **MT))
        first = json.loads((out / "manifest.json").read_text())
        first_calls = list(calls)
        calls.clear()
        # the rerun also writes its shards in two processes: the same bytes as one
        finetune_data(make_config(dirs, out, mt=str(tiny_nllb), **MT, workers=2, overwrite=True))
    return out, first, first_calls, json.loads((out / "manifest.json").read_text()), calls


def test_mt_fills_all_eleven_pairs_and_a_rerun_translates_nothing(translated, layouts):
    out, first, first_calls, second, second_calls = translated
    _, truth = layouts
    # the distinct texts to translate per (language, short or long), from what the fixture wrote: Multi30K's
    # captions into fr/es/ru/zh and its task 1 sentences into es/ru/zh; the first five captions of COCO's
    # training images and the training paragraphs of DOCCI and Image-Paragraphs into all five
    wanted: dict[tuple[str, str], set[str]] = {}
    for number in range(1000, 1005):
        texts = truth[f"{number}.jpg"]
        for lang in ("fr", "es", "ru", "zh"):
            wanted.setdefault((lang, "short"), set()).update(texts["captions"]["en"])
        for lang in ("es", "ru", "zh"):
            wanted[(lang, "short")].add(texts["translations"]["de"][0][0])
    for name, length in [(f"COCO_{folder}_{index:012d}.jpg", "short")
                         for index, folder in enumerate(("train2014", "train2014", "val2014"))] + \
            [("train_00000.jpg", "long"), ("train_00001.jpg", "long"), ("2400001.jpg", "long"),
             ("2400002.jpg", "long")]:
        for lang in ("de", "fr", "es", "ru", "zh"):
            wanted.setdefault((lang, length), set()).update(truth[name]["captions"]["en"][:5])
    expected = sum(len(texts) for texts in wanted.values())
    assert first["translation"]["empty_dropped"] == 0
    assert first["translation"]["translated"] == expected and first["translation"]["from_cache"] == 0
    assert sum(first_calls) == expected and max(first_calls) <= 16
    assert second_calls == [] and second["translation"]["translated"] == 0
    assert second["translation"]["from_cache"] == expected
    assert second["files"] == first["files"] and len(first["files"]) == 3  # the same shards, byte for byte
    assert first["missing_pairs"] == [] and len(first["categories"]) == 11
    annotations = shard_annotations(out)
    coco = by_image(annotations, "COCO_train2014_000000000000.jpg")
    english = truth["COCO_train2014_000000000000.jpg"]["captions"]["en"]
    for lang in ("de", "fr", "es", "ru", "zh"):
        assert sorted(a["source"] for a in coco if a["task"] == "translation" and a["lang"] == lang) == \
            sorted(english[:5])  # the first five captions, as the reference
        assert len([a for a in coco if a["task"] == "caption" and a["lang"] == lang]) == 5
    multi30k = by_image(annotations, "1002.jpg")
    assert {a["lang"] for a in multi30k if a["task"] == "caption"} == {"en", "de", "fr", "es", "ru", "zh"}
    assert [a["target"] for a in multi30k if a["task"] == "caption" and a["lang"] == "de"] == \
        truth["1002.jpg"]["captions"]["de"]  # human German is kept, not replaced by MT


def test_a_translation_equals_a_direct_beam_search_of_the_model(translated, layouts, tiny_nllb):
    out, *_ = translated
    _, truth = layouts
    paragraph = truth["train_00001.jpg"]["captions"]["en"][0]
    tokenizer = AutoTokenizer.from_pretrained(tiny_nllb)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_nllb)
    tokenizer.src_lang = "eng_Latn"
    inputs = tokenizer([paragraph], return_tensors="pt")
    output = model.generate(**inputs, forced_bos_token_id=tokenizer.convert_tokens_to_ids("deu_Latn"),
                            num_beams=4, max_length=MT["mt_max_length_long"], length_penalty=1.0,
                            do_sample=False)
    raw = " ".join(tokenizer.decode(output[0], skip_special_tokens=True).split())
    expected = raw if raw.endswith((".", "!", "?")) else raw + "."
    docci = by_image(shard_annotations(out), "train_00001.jpg")
    assert pairs(docci, "de") == [(paragraph, expected)]
    assert [a["target"] for a in docci if a["task"] == "caption" and a["lang"] == "de"] == [expected]


def test_training_balances_the_mixture_uniformly_over_its_pairs(translated):
    out, first, *_ = translated
    balancer = AnnotationBalancer(target_distribution("task-lang", first["categories"]), seed=0)
    samples = [sample for shard in list_shards(out / "train") for sample in read_shard(shard)]
    for index in range(11 * 12):
        balancer.choose(samples[index % len(samples)].annotations, index, "test")
    assert set(balancer.counts.values()) == {12}  # every image holds all 11 pairs: exactly uniform


# --- fine-tuning a world run --------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_world_run_fine_tunes_on_a_world_made_mixture(layouts, tiny_world, tmp_path, capsys):
    dirs, _ = layouts
    common = ["--batch-size", "8", "--precision", "fp32", "--save-every", "0", "--log-every", "1",
              "--loader.max-prompt-tokens", "48", "--loader.max-target-tokens", "32"]
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_world), "--out", str(run), "--size", "world-xxs",
                 "--steps", "12", "--optim.lr", "5e-3", "--optim.warmup-steps", "2", *common]) == 0
    mixture = tmp_path / "ft-data"
    assert main(["finetune-data", *[arg for name, path in dirs.items() for arg in (f"--{name}", path)],
                 "--out", str(mixture), "--tokenizer", str(tiny_world)]) == 0
    assert f"florenz train --init RUN --data {mixture} --optim.lr 5e-5" in capsys.readouterr().out
    tuned = tmp_path / "tuned"
    assert main(["train", "--init", str(run), "--data", str(mixture), "--out", str(tuned), "--steps", "4",
                 "--optim.lr", "5e-5", "--optim.weight-decay", "0.05", "--optim.schedule", "cosine",
                 "--optim.warmup-steps", "1", *common]) == 0
    rows = read_metrics(tuned / "metrics.jsonl")
    assert len(rows) == 4 and all(math.isfinite(row["loss"]) and row["lr"] <= 5e-5 + 1e-12 for row in rows)
    # the run's weights were loaded: far below a fresh model's loss of ln(vocabulary)
    assert rows[0]["loss"] < math.log(load_tokenizer(tiny_world).get_vocab_size()) - 1.0
    train_config = json.loads((tuned / "train_config.json").read_text())
    assert train_config["optim"]["weight_decay"] == 0.05 and train_config["init"] == str(run)
