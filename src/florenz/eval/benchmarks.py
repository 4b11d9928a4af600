"""Benchmark items: the world's benchmarks and readers for the paper's real ones in their published layouts.

Every reader returns plain items (image, source or nothing, references) and checks every file first: a
missing one is a FlorenzError naming the file and where the reader looked. Layouts (under --data-root):

    multi30k/data/task1/raw/{test_2016_flickr,test_2017_flickr,test_2017_mscoco}.{en,de,fr}[.gz]
    multi30k/data/task1/image_splits/<split>.txt          one image file name per line
    multi30k/data/task2/raw/test_2016.{1..5}.{en,de}[.gz]
    multi30k/data/task2/image_splits/test_2016_images.txt
    multi30k/{flickr30k-images,task1_test_2017,task1_test_2018}/, coco/{val2014,train2014}/   images
    CoMMuTE/en-{de,fr,ru,zh}/{src.en,correct.<lang>,incorrect.<lang>,img.order}, CoMMuTE/images/
    xm3600/captions.jsonl ({"image/key": ..., "<lang>": {"caption": [...]}}), xm3600/images/<key>.jpg
    coco/dataset_coco.json (Karpathy: images[].{filepath,filename,split,sentences[].raw}), coco/<filepath>/
    docci/docci_descriptions.jsonlines ({example_id, split, image_file, description}), docci/images/
    image_paragraphs/{paragraphs_v1.json,test_split.json}, image_paragraphs/images/<image_id>.jpg
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from florenz.data.shards import list_shards, read_shard
from florenz.errors import FlorenzError

MULTI30K_TRANSLATION_SPLITS = ("test_2016_flickr", "test_2017_flickr", "test_2017_mscoco")  # Table 4 mean
MULTI30K_TRANSLATION_LANGS = ("de", "fr")
MULTI30K_CAPTION_LANGS = ("en", "de")
COMMUTE_LANGS = ("de", "fr", "ru", "zh")
XM3600_LANGS = ("en", "de", "fr", "es", "ru", "zh")
_MULTI30K_IMAGE_DIRS = ("multi30k/flickr30k-images", "multi30k/task1_test_2017", "multi30k/task1_test_2018",
                        "coco/val2014", "coco/train2014")


@dataclass
class CaptionItem:
    id: str
    image: bytes | Path  # encoded image or its file
    references: list[str]
    detail: str = "short"  # the prompt's detail level


@dataclass
class TranslationItem:
    id: str
    image: bytes | Path
    source: str  # English
    references: list[str]
    incorrect: str = ""  # CoMMuTE: the translation with the ambiguous word read the other way


# --- files ----------------------------------------------------------------------------------------------

def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FlorenzError(f"{what}: {path} does not exist (looked in {path.parent}); put the benchmark's "
                           "files there in their published layout or pass another --data-root")
    return path


def _lines(path: Path, what: str) -> list[str]:
    """The lines of a text file, or of its .gz as the Multi30K repository ships it."""
    packed = path.with_name(path.name + ".gz")
    if not path.is_file() and packed.is_file():
        return gzip.decompress(packed.read_bytes()).decode("utf-8").splitlines()
    if not path.is_file():
        raise FlorenzError(f"{what}: neither {path} nor {packed.name} exists (looked in {path.parent}); "
                           "put the benchmark's files there in their published layout or pass another "
                           "--data-root")
    return path.read_text(encoding="utf-8").splitlines()


def _json(path: Path, what: str):
    try:
        return json.loads(_require(path, what).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FlorenzError(f"{what}: {path} is not valid JSON ({error}); re-download it") from None


def _json_lines(path: Path, what: str) -> list[dict]:
    rows = []
    for number, line in enumerate(_require(path, what).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise FlorenzError(f"{what}: {path} line {number} is not JSON ({error}); "
                                   "re-download it") from None
    return rows


def _same_length(what: str, **columns: list) -> None:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise FlorenzError(f"{what}: files disagree in line count {lengths}; re-download the benchmark")


def _find_image(name: str, root: Path, folders: tuple[str, ...], what: str) -> Path:
    for folder in folders:
        if (root / folder / name).is_file():
            return root / folder / name
    places = ", ".join(str(root / folder) for folder in folders)
    raise FlorenzError(f"{what}: image {name} not found; looked in {places}")


def _keep(items: list, max_samples: int) -> list:
    return items[:max_samples] if max_samples else items


# --- the world's benchmarks -----------------------------------------------------------------------------

def _bench_annotations(world: Path, name: str) -> list[tuple[str, bytes, dict]]:
    shards = list_shards(world / "bench" / name)
    if not shards:
        raise FlorenzError(f"world benchmark {name}: no shards in {world / 'bench' / name}; build the world "
                           "with `florenz world build` or pass another --world")
    return [(sample.key, sample.image, sample.annotations[0])
            for shard in shards for sample in read_shard(shard)]


def world_benchmarks(world: str | Path, max_samples: int = 0) -> dict[str, dict[str, list]]:
    """{"translation" | "caption" | "caption_en" | "ambiguity": {lang: items}} from WORLD/bench/."""
    world = Path(world)
    sets: dict[str, dict[str, list]] = {}
    for name in ("translation", "caption", "caption_en", "ambiguity"):
        by_lang: dict[str, list] = {}
        for key, image, annotation in _bench_annotations(world, name):
            lang = annotation["lang"]
            if annotation["task"] == "caption":
                item = CaptionItem(key, image, annotation.get("references") or [annotation["target"]],
                                   annotation.get("detail", "short"))
            else:
                item = TranslationItem(key, image, annotation["source"], [annotation["target"]],
                                       annotation.get("incorrect", ""))
            by_lang.setdefault(lang, []).append(item)
        sets[name] = {lang: _keep(items, max_samples) for lang, items in by_lang.items()}
    return sets


# --- the paper's benchmarks -----------------------------------------------------------------------------

def read_multi30k_translation(data_root: str | Path, split: str, lang: str,
                              max_samples: int = 0) -> list[TranslationItem]:
    """Multi30K Task 1 test split (test_2016_flickr, test_2017_flickr, test_2017_mscoco): en -> lang."""
    root = Path(data_root)
    base = root / "multi30k" / "data" / "task1"
    what = f"Multi30K task 1 {split} en-{lang}"
    sources = _lines(base / "raw" / f"{split}.en", what)
    targets = _lines(base / "raw" / f"{split}.{lang}", what)
    names = _lines(base / "image_splits" / f"{split}.txt", what)
    _same_length(what, sources=sources, targets=targets, images=names)
    items = [TranslationItem(f"{split}-{index}", _find_image(name.split("#")[0].strip(), root,
                                                             _MULTI30K_IMAGE_DIRS, what), source, [target])
             for index, (source, target, name) in enumerate(_keep(list(zip(sources, targets, names)),
                                                                  max_samples))]
    return items


def read_multi30k_captions(data_root: str | Path, lang: str, max_samples: int = 0) -> list[CaptionItem]:
    """Multi30K Task 2 test_2016: 1,000 Flickr30K images with five independent captions each."""
    root = Path(data_root)
    base = root / "multi30k" / "data" / "task2"
    what = f"Multi30K task 2 test_2016 {lang}"
    names = _lines(base / "image_splits" / "test_2016_images.txt", what)
    columns = [_lines(base / "raw" / f"test_2016.{number}.{lang}", what) for number in range(1, 6)]
    _same_length(what, images=names, **{f"captions_{n}": column for n, column in enumerate(columns, 1)})
    return [CaptionItem(f"test_2016-{index}", _find_image(name.strip(), root, _MULTI30K_IMAGE_DIRS, what),
                        [column[index] for column in columns])
            for index, name in enumerate(_keep(names, max_samples))]


def read_commute(data_root: str | Path, lang: str, max_samples: int = 0) -> list[TranslationItem]:
    """CoMMuTE en -> lang: ambiguous English sentences, the correct and the incorrect translation."""
    root = Path(data_root) / "CoMMuTE"
    pair = root / f"en-{lang}"
    what = f"CoMMuTE en-{lang}"
    sources = _lines(pair / "src.en", what)
    correct = _lines(pair / f"correct.{lang}", what)
    incorrect = _lines(pair / f"incorrect.{lang}", what)
    names = _lines(pair / "img.order", what)
    _same_length(what, sources=sources, correct=correct, incorrect=incorrect, images=names)
    rows = _keep(list(zip(sources, correct, incorrect, names)), max_samples)
    return [TranslationItem(f"commute-{lang}-{index}", _find_image(name.strip(), root, ("images",), what),
                            source, [right], wrong)
            for index, (source, right, wrong, name) in enumerate(rows)]


def read_xm3600(data_root: str | Path, lang: str, max_samples: int = 0) -> list[CaptionItem]:
    """XM3600: 3,600 images, each with its captions in 36 languages (captions.jsonl + images/<key>.jpg)."""
    root = Path(data_root) / "xm3600"
    what = f"XM3600 {lang}"
    items = []
    for row in _keep(_json_lines(root / "captions.jsonl", what), max_samples):
        key = row.get("image/key")
        captions = row.get(lang, {}).get("caption")
        if key is None or not captions:
            raise FlorenzError(f"{what}: a row of {root / 'captions.jsonl'} lacks 'image/key' or "
                               f"'{lang}.caption' ({sorted(row)[:5]}...); re-download captions.jsonl")
        items.append(CaptionItem(key, _find_image(f"{key}.jpg", root, ("images",), what), list(captions)))
    return items


def read_coco_karpathy(data_root: str | Path, max_samples: int = 0) -> list[CaptionItem]:
    """COCO Karpathy test split (5,000 images, about five captions each) from dataset_coco.json."""
    root = Path(data_root) / "coco"
    what = "COCO Karpathy test"
    images = [image for image in _json(root / "dataset_coco.json", what).get("images", [])
              if image.get("split") == "test"]
    return [CaptionItem(str(image.get("cocoid", image["filename"])),
                        _find_image(image["filename"], root, (image.get("filepath", ""),), what),
                        [sentence["raw"].strip() for sentence in image["sentences"]])
            for image in _keep(images, max_samples)]


def read_docci(data_root: str | Path, max_samples: int = 0) -> list[CaptionItem]:
    """DOCCI test split: one long human description per image."""
    root = Path(data_root) / "docci"
    what = "DOCCI test"
    rows = [row for row in _json_lines(root / "docci_descriptions.jsonlines", what)
            if row.get("split") == "test"]
    return [CaptionItem(row["example_id"], _find_image(row["image_file"], root, ("images",), what),
                        [row["description"]], "paragraph") for row in _keep(rows, max_samples)]


def read_image_paragraphs(data_root: str | Path, max_samples: int = 0) -> list[CaptionItem]:
    """Stanford Image-Paragraphs test split: one paragraph per Visual Genome image."""
    root = Path(data_root) / "image_paragraphs"
    what = "Image-Paragraphs test"
    test_ids = set(_json(root / "test_split.json", what))
    rows = [row for row in _json(root / "paragraphs_v1.json", what) if row["image_id"] in test_ids]
    return [CaptionItem(str(row["image_id"]), _find_image(f"{row['image_id']}.jpg", root, ("images",), what),
                        [" ".join(row["paragraph"].split())], "paragraph")
            for row in _keep(rows, max_samples)]
