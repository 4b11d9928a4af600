"""What a world sample holds: scenes, their image and annotations, for every split of the world.

Every unit of work (a training shard, a test set, a benchmark, a corpus) draws from its own random stream,
seeded by (world seed, unit name, index), so its content never depends on which process makes it. Test and
benchmark samples are also checked against everything in training and against the unit's earlier samples:
a candidate whose image or any sentence occurs in training, or whose sentences repeat an earlier sample's,
is discarded and drawn again.

How texts are made (TextOptions, recorded in the world's manifest): every plan takes the world's variety;
captions are in the caption register, translation pairs (training and the seen-translation test set) in
the world's register, and attached to their own scene ("exact" pairing) or to the image of a similar scene
("similar": the text describes a scene that keeps a share `similarity` of the image's attributes, as
CLIP-matched bitext describes its image only roughly). The benchmarks stand in for human-made data sets and
keep exact pairing; Multi30K-like translation sources are captions, CoMMuTE-like sources follow the
register.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from florenz.errors import FlorenzError
from florenz.world.ambiguity import make_ambiguity_item
from florenz.world.languages import DETAIL_LEVELS, LANGUAGES
from florenz.world.realise import plan_description, realise
from florenz.world.render import encode_png, render_scene
from florenz.world.scene import Scene, sample_scene, similar_scene

# Test sets (reference §4.4 generalised to the six languages): set -> (task, languages).
TEST_SETS = {
    "uc": ("caption", ("fr", "es", "ru", "zh")),  # unseen captioning
    "st": ("translation", ("fr", "es", "ru", "zh")),  # seen translation
    "sc": ("caption", ("en", "de")),  # seen captioning
}
TRANSLATION_TARGETS = ("de", "fr", "es", "ru", "zh")
BENCHMARKS = ("translation", "caption", "caption_en", "ambiguity")
PAIRINGS = ("exact", "similar")
# Benchmarks stand in for Multi30K / XM3600 / COCO, whose texts are single sentences: no paragraphs.
BENCHMARK_DETAILS = ("short", "detailed")
_MAX_ATTEMPTS = 1000  # draws per held-out sample before giving up on finding one unseen in training


def stream_rng(seed: int, unit: str, index: int = 0) -> np.random.Generator:
    """The random stream of one unit of work, e.g. ("train", shard 3) or ("test/uc/fr", 0)."""
    unit_code = int.from_bytes(hashlib.blake2b(unit.encode(), digest_size=4).digest(), "little")
    return np.random.default_rng([seed, unit_code, index])


def _fingerprint(data: bytes) -> int:
    """A stable 64-bit fingerprint (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def image_key(png: bytes) -> int:
    """The fingerprint of an image (PNG encoding is deterministic: same pixels, same bytes)."""
    return _fingerprint(png)


def text_key(text: str) -> int:
    return _fingerprint(text.encode())


def annotation_texts(annotation: dict) -> list[str]:
    """Every sentence an annotation holds: target, source, references, incorrect."""
    texts = [annotation["target"], *annotation.get("references", ())]
    return texts + [annotation[key] for key in ("source", "incorrect") if key in annotation]


@dataclass(frozen=True)
class TextOptions:
    """How a world's texts are planned (module docstring): plan.VARIETIES, plan.REGISTERS, PAIRINGS."""

    variety: str = "high"
    register: str = "translation"  # of translation pairs; captions are always captions
    pairing: str = "exact"
    similarity: float = 0.7  # "similar" pairing: share of the image's attributes its text keeps
    # share of translation pairs in the caption register anyway: web bitext holds some image descriptions,
    # and a caption prefix the unseen languages' training targets never open with cannot unlock captioning
    caption_shaped: float = 0.2


@dataclass
class Sample:
    key: str
    png: bytes
    annotations: list[dict]


def caption(scene: Scene, lang: str, detail: str, rng: np.random.Generator, prefix: bool | None = None,
            variety: str = "high") -> dict:
    text = realise(plan_description(scene, detail, rng, prefix=prefix, variety=variety), lang, rng)
    return {"task": "caption", "lang": lang, "detail": detail, "target": text}


def translation(scene: Scene, lang: str, detail: str, rng: np.random.Generator, text: TextOptions) -> dict:
    """English source and target realised from one plan, so both say the same thing; under "similar"
    pairing the plan describes a scene similar to `scene`, the one the sample's image shows."""
    if text.pairing == "similar":
        scene = similar_scene(scene, text.similarity, rng)
    register = text.register
    if register == "translation" and text.caption_shaped and rng.random() < text.caption_shaped:
        register = "caption"
    plan = plan_description(scene, detail, rng, variety=text.variety, register=register)
    source = realise(plan, "en", rng)
    return {"task": "translation", "lang": lang, "detail": detail, "target": realise(plan, lang, rng),
            "source": source}


def training_shard(seed: int, shard: int, count: int, image_size: int, max_objects: int,
                   caption_languages: tuple[str, ...], translation_languages: tuple[str, ...],
                   captions_per_detail: int, translations_per_language: int,
                   text: TextOptions) -> list[Sample]:
    """`count` training images, each with every annotation the coverage allows."""
    rng = stream_rng(seed, "train", shard)
    samples = []
    for index in range(count):
        scene = sample_scene(rng, max_objects=max_objects)
        annotations, seen = [], set()
        for lang in caption_languages:
            for detail in DETAIL_LEVELS:
                for _ in range(captions_per_detail):
                    annotation = caption(scene, lang, detail, rng, variety=text.variety)
                    if (lang, annotation["target"]) not in seen:  # identical paraphrases add nothing
                        seen.add((lang, annotation["target"]))
                        annotations.append(annotation)
        for lang in translation_languages:
            for _ in range(translations_per_language):
                annotations.append(translation(scene, lang, str(rng.choice(DETAIL_LEVELS)), rng, text))
        png = encode_png(render_scene(scene, image_size))
        samples.append(Sample(f"{shard:06d}_{index:06d}", png, annotations))
    return samples


class Fingerprints:
    """Sorted 64-bit fingerprints of images and sentences (e.g. all of training), for membership tests."""

    def __init__(self, image_keys: np.ndarray, text_keys: np.ndarray) -> None:
        self.image_keys = np.unique(image_keys.astype(np.uint64))
        self.text_keys = np.unique(text_keys.astype(np.uint64))

    @staticmethod
    def _contains(sorted_keys: np.ndarray, keys: list[int]) -> bool:
        if not len(sorted_keys) or not keys:
            return False
        query = np.array(keys, dtype=np.uint64)
        found = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
        return bool(np.any(sorted_keys[found] == query))

    def is_new(self, png: bytes | None, texts: list[str]) -> bool:
        """True if neither the image (None: not checked) nor any of `texts` is among the fingerprints."""
        if png is not None and self._contains(self.image_keys, [image_key(png)]):
            return False
        return not self._contains(self.text_keys, [text_key(text) for text in texts])


@dataclass
class _HeldOut:
    """What a held-out unit must avoid: everything in training (`seen`) and its own earlier sentences."""

    seen: Fingerprints
    earlier: set[int] = field(default_factory=set)


def _checked_texts(annotation: dict) -> list[str]:
    """The sentences a held-out annotation must not share: all but an ambiguity item's incorrect one, which
    is a false translation on purpose and may well be a true one of some training scene."""
    return [text for text in annotation_texts(annotation) if text != annotation.get("incorrect")]


def _draw_unseen(make: Callable[[np.random.Generator], tuple[Scene, list[dict]]], rng: np.random.Generator,
                 held_out: _HeldOut, image_size: int, where: str) -> tuple[bytes, list[dict]]:
    """(PNG, annotations) drawn with `make` until neither the image nor a sentence is in training, and no
    sentence is one of the unit's earlier samples; remembers the sentences drawn."""
    for _ in range(_MAX_ATTEMPTS):
        scene, annotations = make(rng)
        texts = {text for annotation in annotations for text in _checked_texts(annotation)}
        keys = {text_key(text) for text in texts}
        if keys & held_out.earlier:
            continue
        png = encode_png(render_scene(scene, image_size))
        if held_out.seen.is_new(png, list(texts)):
            held_out.earlier |= keys
            return png, annotations
    raise FlorenzError(f"{where}: no scene/sentence unseen in training after {_MAX_ATTEMPTS} draws; "
                       "build fewer --samples or allow more --max-objects")


def _single(rng: np.random.Generator, task: str, lang: str, detail: str, max_objects: int, text: TextOptions
            ) -> tuple[Scene, list[dict]]:
    scene = sample_scene(rng, max_objects=max_objects)
    if task == "caption":
        return scene, [caption(scene, lang, detail, rng, variety=text.variety)]
    return scene, [translation(scene, lang, detail, rng, text)]


def make_test_set(seed: int, name: str, lang: str, count: int, image_size: int, max_objects: int,
                  seen: Fingerprints, text: TextOptions) -> list[Sample]:
    """Held-out samples of test set `name` ("uc", "st", "sc"), one annotation each, details mixed."""
    task, _ = TEST_SETS[name]
    rng = stream_rng(seed, f"test/{name}/{lang}")
    held_out = _HeldOut(seen)
    samples = []
    for index in range(count):
        make = partial(_single, task=task, lang=lang, detail=DETAIL_LEVELS[index % len(DETAIL_LEVELS)],
                       max_objects=max_objects, text=text)
        png, annotations = _draw_unseen(make, rng, held_out, image_size, f"test set {name}/{lang}")
        samples.append(Sample(f"{name}_{lang}_{index:06d}", png, annotations))
    return samples


def _translations(rng: np.random.Generator, detail: str, max_objects: int, variety: str
                  ) -> tuple[Scene, list[dict]]:
    """One English caption and its translation into every target (Multi30K-like)."""
    scene = sample_scene(rng, max_objects=max_objects)
    plan = plan_description(scene, detail, rng, prefix=False, variety=variety)
    source = realise(plan, "en", rng)
    return scene, [{"task": "translation", "lang": lang, "detail": detail, "target": realise(plan, lang, rng),
                    "source": source} for lang in TRANSLATION_TARGETS]


def _references(scene: Scene, lang: str, detail: str, count: int, rng: np.random.Generator,
                variety: str) -> dict:
    """A caption annotation whose target is the first of `count` distinct references, natural captions
    without the prefix phrase (fewer references if the plans run out of distinct wordings)."""
    references: list[str] = []
    for _ in range(4 * count):
        text = caption(scene, lang, detail, rng, prefix=False, variety=variety)["target"]
        if text not in references:
            references.append(text)
        if len(references) == count:
            break
    return {"task": "caption", "lang": lang, "detail": detail, "target": references[0],
            "references": references}


def _captions(rng: np.random.Generator, detail: str, max_objects: int, languages: tuple[str, ...],
              references: int, variety: str) -> tuple[Scene, list[dict]]:
    """One image captioned in each of `languages`, with several references each (XM3600/COCO-like)."""
    scene = sample_scene(rng, max_objects=max_objects)
    return scene, [_references(scene, lang, detail, references, rng, variety) for lang in languages]


def _ambiguity(rng: np.random.Generator, lang: str, index: int,
               text: TextOptions) -> tuple[Scene, list[dict]]:
    """An English sentence with an ambiguous word, its correct and incorrect translation (CoMMuTE-like)."""
    item = make_ambiguity_item(rng, lang, index, text.variety, text.register)
    return item.scene, [{"task": "translation", "lang": lang, "detail": "short", "target": item.correct,
                         "source": item.source, "incorrect": item.incorrect, "word": item.word,
                         "reading": item.reading}]


def benchmark(seed: int, name: str, count: int, image_size: int, max_objects: int, seen: Fingerprints,
              caption_references: int, caption_en_references: int, text: TextOptions) -> list[Sample]:
    """World benchmark `name` (one of BENCHMARKS): `count` images per language, one annotation per sample."""
    rng = stream_rng(seed, f"bench/{name}")
    held_out = _HeldOut(seen)
    samples = []
    for index in range(count):
        detail = BENCHMARK_DETAILS[index % len(BENCHMARK_DETAILS)]
        makers = {
            "translation": [partial(_translations, detail=detail, max_objects=max_objects,
                                    variety=text.variety)],
            "caption": [partial(_captions, detail=detail, max_objects=max_objects, languages=LANGUAGES,
                                references=caption_references, variety=text.variety)],
            "caption_en": [partial(_captions, detail=detail, max_objects=max_objects, languages=("en",),
                                   references=caption_en_references, variety=text.variety)],
            # each ambiguity item brings its own scene, made to show the reading; item i of every language
            # asks the same word where it can, readings balanced (ambiguity.word_and_reading)
            "ambiguity": [partial(_ambiguity, lang=lang, index=index, text=text)
                          for lang in TRANSLATION_TARGETS],
        }[name]
        for make in makers:
            png, annotations = _draw_unseen(make, rng, held_out, image_size, f"benchmark {name}")
            for annotation in annotations:
                samples.append(Sample(f"{name}_{index:06d}_{annotation['lang']}", png, [annotation]))
    return samples


def corpus_lines(seed: int, lang: str, count: int, max_objects: int, held_out: Fingerprints,
                 variety: str) -> list[str]:
    """Text-only lines in `lang` from random scenes, none of them a test or benchmark sentence."""
    rng = stream_rng(seed, f"corpus/{lang}")
    lines: list[str] = []
    for _ in range(20 * count):
        scene = sample_scene(rng, max_objects=max_objects)
        text = caption(scene, lang, str(rng.choice(DETAIL_LEVELS)), rng, variety=variety)["target"]
        if held_out.is_new(None, [text]):
            lines.append(" ".join(text.split()))  # one line per text, whatever whitespace it holds
            if len(lines) == count:
                return lines
    raise FlorenzError(f"corpus/{lang}: too few sentences outside the test sets; lower --corpus-sentences")
