"""Benchmark items: the world's benchmarks and readers for the paper's real ones in their published layouts.

Every reader returns plain items (image, source or nothing, references) and checks every file first: a
missing one is a FlorenzError naming the file and where the reader looked. Layouts (under --data-root):
Multi30K, COCO Karpathy, DOCCI and Image-Paragraphs as in florenz.data.published (shared with
`florenz finetune-data`), with the Multi30K test images also in coco/{val2014,train2014}/, and

    CoMMuTE/en-{de,fr,ru,zh}/{src.en,correct.<lang>,incorrect.<lang>,img.order}, CoMMuTE/images/
    xm3600/captions.jsonl ({"image/key": ..., "<lang>": {"caption": [...]}}), xm3600/images/<key>.jpg
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from florenz.data import published
from florenz.data.published import find_image, read_json_rows, read_lines, same_length
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
    rows = published.multi30k_task1(Path(data_root) / "multi30k", split, ("en", lang), Path(data_root),
                                    _MULTI30K_IMAGE_DIRS)
    return [TranslationItem(f"{split}-{index}", image, sentences["en"], [sentences[lang]])
            for index, (image, sentences) in enumerate(_keep(rows, max_samples))]


def read_multi30k_captions(data_root: str | Path, lang: str, max_samples: int = 0) -> list[CaptionItem]:
    """Multi30K Task 2 test_2016: 1,000 Flickr30K images with five independent captions each."""
    rows = published.multi30k_task2(Path(data_root) / "multi30k", "test_2016", lang, Path(data_root),
                                    _MULTI30K_IMAGE_DIRS)
    return [CaptionItem(row.id, row.image, row.texts) for row in _keep(rows, max_samples)]


def read_commute(data_root: str | Path, lang: str, max_samples: int = 0) -> list[TranslationItem]:
    """CoMMuTE en -> lang: ambiguous English sentences, the correct and the incorrect translation."""
    root = Path(data_root) / "CoMMuTE"
    pair = root / f"en-{lang}"
    what = f"CoMMuTE en-{lang}"
    sources = read_lines(pair / "src.en", what)
    correct = read_lines(pair / f"correct.{lang}", what)
    incorrect = read_lines(pair / f"incorrect.{lang}", what)
    names = read_lines(pair / "img.order", what)
    same_length(what, sources=sources, correct=correct, incorrect=incorrect, images=names)
    rows = _keep(list(zip(sources, correct, incorrect, names)), max_samples)
    return [TranslationItem(f"commute-{lang}-{index}", find_image(name.strip(), root, ("images",), what),
                            source, [right], wrong)
            for index, (source, right, wrong, name) in enumerate(rows)]


def read_xm3600(data_root: str | Path, lang: str, max_samples: int = 0) -> list[CaptionItem]:
    """XM3600: 3,600 images, each with its captions in 36 languages (captions.jsonl + images/<key>.jpg)."""
    root = Path(data_root) / "xm3600"
    what = f"XM3600 {lang}"
    items = []
    for row in _keep(read_json_rows(root / "captions.jsonl", what), max_samples):
        key = row.get("image/key")
        captions = row.get(lang, {}).get("caption")
        if key is None or not captions:
            raise FlorenzError(f"{what}: a row of {root / 'captions.jsonl'} lacks 'image/key' or "
                               f"'{lang}.caption' ({sorted(row)[:5]}...); re-download captions.jsonl")
        items.append(CaptionItem(key, find_image(f"{key}.jpg", root, ("images",), what), list(captions)))
    return items


def read_coco_karpathy(data_root: str | Path, max_samples: int = 0) -> list[CaptionItem]:
    """COCO Karpathy test split (5,000 images, about five captions each) from dataset_coco.json."""
    rows = published.coco_karpathy(Path(data_root) / "coco", ("test",))
    return [CaptionItem(row.id, row.image, row.texts) for row in _keep(rows, max_samples)]


def read_docci(data_root: str | Path, max_samples: int = 0) -> list[CaptionItem]:
    """DOCCI test split: one long human description per image."""
    rows = published.docci(Path(data_root) / "docci", "test")
    return [CaptionItem(row.id, row.image, row.texts, "paragraph") for row in _keep(rows, max_samples)]


def read_image_paragraphs(data_root: str | Path, max_samples: int = 0) -> list[CaptionItem]:
    """Stanford Image-Paragraphs test split: one paragraph per Visual Genome image."""
    rows = published.image_paragraphs(Path(data_root) / "image_paragraphs", "test")
    return [CaptionItem(row.id, row.image, row.texts, "paragraph") for row in _keep(rows, max_samples)]
