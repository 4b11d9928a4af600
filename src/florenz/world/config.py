"""Configuration of `florenz world build`."""

from __future__ import annotations

from dataclasses import dataclass

from florenz.config import option
from florenz.world.realise.plan import REGISTERS, VARIETIES
from florenz.world.samples import PAIRINGS, TextOptions
from florenz.world.scene import MAX_OBJECTS

# Fields that say where and how to build, not what: a world is the same whatever their values.
NON_CONTENT_FIELDS = ("out", "workers", "overwrite")


@dataclass
class WorldConfig:
    out: str = option("runs/world", "output directory of the world")
    samples: int = option(20000, "number of training images (each carries several annotations)")
    seed: int = option(0, "seed of everything random in the world")
    image_size: int = option(96, "side of the rendered images in pixels")
    coverage: str = option("paper", "task:language pairs in training, e.g. 'caption:en;translation:de,fr', "
                                    "or a YAML/JSON file; 'paper' = caption:en,de;translation:de,fr,es,ru,zh")
    max_objects: int = option(4, f"most objects in a scene (scene complexity), 1 to {MAX_OBJECTS}; from 5 "
                                 "on, crowds of 5+ look-alike objects occur")
    variety: str = option("high", "richness of every text: 'low' = one skeleton per sentence kind in a "
                                  "fixed order (the first world), 'high' = varied forms, order, joins and "
                                  "references")
    register: str = option("translation", "register of translation pairs: 'translation' = statements about "
                                          "the scene as bitext is written, 'caption' = shaped like captions")
    caption_shaped_pairs: float = option(0.2, "with --register translation: share of translation pairs "
                                              "shaped like captions anyway (web bitext holds some image "
                                              "descriptions); with none, no unseen-language training target "
                                              "opens with the caption prefix, and the prefix cannot work")
    pairing: str = option("exact", "how translation pairs meet images: 'exact' = the pair describes its "
                                   "image, 'similar' = it describes a similar scene (as CLIP-matched bitext)")
    pairing_similarity: float = option(0.7, "with --pairing similar: share of the image's attributes (each "
                                            "group's shape, colour, size and cells, the background) its "
                                            "translation pair keeps, in [0, 1]")
    captions_per_detail: int = option(2, "captions per training image, language and detail level "
                                         "(short, detailed, paragraph), each from its own plan: paraphrases")
    translations_per_language: int = option(1, "translation pairs per training image and target language")
    test_samples: int = option(500, "samples per language in each test set (UC, ST, SC)")
    benchmark_samples: int = option(200, "images per language in each world benchmark")
    caption_references: int = option(3, "references per image and language in the six-language caption "
                                        "benchmark (XM3600-like)")
    caption_en_references: int = option(5, "references per image in the English caption benchmark "
                                           "(COCO-like)")
    corpus_sentences: int = option(20000, "lines per language in the text-only corpus for LM pre-training")
    vocab_size: int = option(2048, "most entries of the BPE tokenizer, special tokens included")
    shard_size: int = option(1000, "samples per shard")
    workers: int = option(0, "worker processes; 0 = all CPU cores")
    overwrite: bool = option(False, "replace an existing world in --out (files that are not the world's are "
                                    "never touched)")

    def __post_init__(self) -> None:
        at_least = {"samples": 1, "image_size": 16, "max_objects": 1, "captions_per_detail": 1,
                    "translations_per_language": 1, "test_samples": 1, "benchmark_samples": 1,
                    "caption_references": 1, "caption_en_references": 1, "corpus_sentences": 1,
                    "vocab_size": 300, "shard_size": 1, "workers": 0}
        for name, least in at_least.items():
            if getattr(self, name) < least:
                raise ValueError(f"{name} is {getattr(self, name)}; use {least} or more")
        if self.max_objects > MAX_OBJECTS:
            raise ValueError(f"max_objects is {self.max_objects}; a scene holds at most {MAX_OBJECTS} "
                             f"objects (one per cell of a 3x3 grid, one cell free); use --max-objects "
                             f"{MAX_OBJECTS} or fewer")
        for name, valid in (("variety", VARIETIES), ("register", REGISTERS), ("pairing", PAIRINGS)):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name} is {getattr(self, name)!r}; choose from {', '.join(valid)}")
        if not 0 <= self.caption_shaped_pairs <= 1:
            raise ValueError(f"caption_shaped_pairs is {self.caption_shaped_pairs}; use a share in [0, 1]")
        if not 0 <= self.pairing_similarity <= 1:
            raise ValueError(f"pairing_similarity is {self.pairing_similarity}; use a share of attributes "
                             "kept in [0, 1]")

    @property
    def text(self) -> TextOptions:
        """How this world's texts are planned."""
        return TextOptions(self.variety, self.register, self.pairing, self.pairing_similarity,
                           self.caption_shaped_pairs)
