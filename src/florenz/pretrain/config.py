"""The configs of the three steps that make a starting point: `pretrain vision`, `pretrain decoder`, `init`.

A starting point is a composed VLM checkpoint (`florenz init`) made of a pre-trained vision tower and adapter
(`florenz pretrain vision`), a pre-trained decoder (`florenz pretrain decoder`) and a random encoder; the
study caches them by content hash (florenz.study.starting_points).

This module stays free of torch so that the CLI can build its flags from these configs quickly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from florenz.config import ConfigError, describe_changes, option, to_dict
from florenz.errors import FlorenzError
from florenz.files import check_output_directory, nothing_to_do, owned_directory, read_json
from florenz.model.config import ModelConfig
from florenz.train.config import precision_option
from florenz.world.languages import LANGUAGES

# The paper's two decoder kinds: near-monolingual like Florence-2's (A) and multilingual like Gemma-2's (B).
VARIANTS = {"A": "en", "B": "all"}
DECODER_METADATA = "decoder_pretraining.json"
STARTING_POINT = "starting_point.json"
# Dense-head colour accuracy below which a vision pre-training is reported as too weak to help the VLM.
WEAK_TOWER_COLOUR_ACCURACY = 0.8


# --- the steps' configs -----------------------------------------------------------------------------------

@dataclass
class VisionPretrainConfig:
    """Pre-training of one size's vision tower and image adapter on a world."""

    world: str = option("runs/world", "world directory (florenz world build): image size, scenes, seed")
    size: str = option("world-xs", "model size from the ladder whose tower and adapter are pre-trained")
    out: str = option("runs/vision", "output directory: config.json + model.safetensors")
    samples: int = option(32000, "training budget in seen images")
    batch_size: int = option(64, "images per optimizer step")
    scenes: int = option(8192, "scenes rendered once and revisited over epochs (memory: scenes x 3 x side² "
                               "float32)")
    lr: float = option(3e-3, "peak learning rate (AdamW, warm-up then cosine to 0)")
    weight_decay: float = option(0.05, "decoupled weight decay")
    warmup_steps: int = option(30, "linear warm-up steps")
    probe_scenes: int = option(2000, "fresh scenes for the linear probe: 3/4 fit the probe, 1/4 score it")
    seed: int = option(0, "seed of the initial weights, the scene streams and the batch order")
    precision: Literal["auto", "bf16", "fp32"] = precision_option()
    overwrite: bool = option(False, "replace a vision checkpoint in --out (nothing else is replaced)")

    def __post_init__(self) -> None:
        at_least = {"samples": 1, "batch_size": 1, "scenes": 1, "probe_scenes": 8, "warmup_steps": 0}
        for name, least in at_least.items():
            if getattr(self, name) < least:
                raise ValueError(f"{name} is {getattr(self, name)}; use {least} or more")
        if self.lr <= 0:
            raise ValueError(f"lr is {self.lr}; use a positive learning rate")


@dataclass
class DecoderPretrainConfig:
    """Language-model pre-training of one size's decoder on a world's corpus."""

    world: str = option("runs/world", "world directory (florenz world build) whose corpus/{lang}.txt is read")
    size: str = option("world-xs", "model size from the ladder whose decoder is pre-trained")
    langs: str = option("all", "corpus languages: 'en' (near-monolingual, like Florence-2's decoder), 'all' "
                               "(multilingual, like Gemma-2's) or a list such as 'en,de'")
    out: str = option("runs/decoder", "run directory (the trainer's layout); an unfinished one is resumed")
    samples: int = option(8000, "training budget in corpus lines")
    batch_size: int = option(32, "lines per optimizer step")
    lr: float = option(1e-3, "peak learning rate (AdamW, warm-up then cosine to 0)")
    warmup_steps: int = option(20, "linear warm-up steps")
    seed: int = option(0, "seed of the initial weights and the line order")
    precision: Literal["auto", "bf16", "fp32"] = precision_option()

    def __post_init__(self) -> None:
        if self.samples < 1 or self.batch_size < 1:
            raise ValueError(f"samples ({self.samples}) and batch_size ({self.batch_size}) must be positive")


def corpus_languages(langs: str) -> tuple[str, ...]:
    """'all' or 'en,de' -> ('en', 'de'); ConfigError naming an unknown code."""
    chosen = LANGUAGES if langs == "all" else tuple(lang.strip() for lang in langs.split(",") if lang.strip())
    unknown = [lang for lang in chosen if lang not in LANGUAGES]
    if unknown or not chosen:
        raise ConfigError(f"--langs {langs!r}: unknown or no language(s) {unknown}; use 'all' or codes from "
                          f"{', '.join(LANGUAGES)}")
    return chosen


@dataclass
class InitConfig:
    """Composition of an initial VLM checkpoint (a starting point) and its initial losses."""

    vision: str = option(help="vision checkpoint directory (florenz pretrain vision)")
    decoder: str = option(help="decoder pre-training run directory (florenz pretrain decoder)")
    out: str = option("runs/init", "output directory: config.json, model.safetensors, starting_point.json")
    world: str = option("", "world whose test splits give T and whose tokenizer the decoder must share; "
                            "empty: the world the decoder was pre-trained on")
    seed: int = option(0, "seed of the parts that start random (the encoder)")
    eval_samples: int = option(0, "samples per test set used for T; 0: all of them")
    batch_size: int = option(32, "samples per forward pass while measuring T")
    overwrite: bool = option(False, "replace an existing starting point in --out (nothing else is replaced)")

    def __post_init__(self) -> None:
        if self.eval_samples < 0 or self.batch_size < 1:
            raise ValueError(f"eval_samples ({self.eval_samples}) must be >= 0 and batch_size "
                             f"({self.batch_size}) >= 1")


def vision_signature(config: ModelConfig) -> dict[str, Any]:
    """Everything the vision tower and adapter depend on: two sizes with equal signatures share a tower."""
    return {"vision": to_dict(config.vision), "image_size": config.image_size}


def already_made(out: Path, marker: str, model_type: str, settings: dict[str, Any], overwrite: bool,
                 fix: str) -> bool:
    """Whether `out` holds the output that `settings` make, by the "settings" its `marker` file records: a
    rerun then has nothing to do. FlorenzError naming the changes if it holds one made with other settings
    (unless `overwrite`); anything else in `out` is left to check_output_directory."""
    path = out / marker
    if overwrite or not path.is_file():
        return False
    record = read_json(path, "delete it or choose another --out")
    if record.get("model_type") != model_type:
        return False
    recorded, asked = record.get("settings", {}), json.loads(json.dumps(settings))  # as JSON reads back
    if recorded == asked:
        return True
    raise FlorenzError(f"{out} holds an output made with other settings "
                       f"({describe_changes(recorded, asked)}); {fix} (nothing there was changed)")


@contextmanager
def claimed_output(out: Path, verb: str, marker: str, model_type: str, settings: dict[str, Any],
                   overwrite: bool, finished_detail: str) -> Iterator[bool]:
    """Own `out` while a verb writes it (files.owned_directory) under the rerun convention; yield whether
    it is finished already: its `marker` records `model_type` made with equal `settings`.

        with claimed_output(out, "init", STARTING_POINT, ..., "the same settings") as finished:
            if finished:
                return out  # "nothing to do" is printed
            ...write out...

    FlorenzError if `out` holds this output made with other settings, or anything else, unless `overwrite`
    (which replaces an output of this kind only)."""
    with owned_directory(out, verb):
        if already_made(out, marker, model_type, settings, overwrite,
                        "pass --overwrite to replace it or choose another --out"):
            print(nothing_to_do(verb, out, finished_detail))
            yield True
            return
        check_output_directory(out, marker, model_type, overwrite, f"florenz {verb}")
        yield False


@dataclass
class ClipPretrainConfig:
    """Contrastive pre-training of a tiny transformers CLIPModel on a world's images and English captions
    (the model `florenz align` pairs bitext with images by)."""

    world: str = option("runs/world", "world directory (florenz world build): training images, English "
                                      "captions, tokenizer")
    out: str = option("runs/clip", "output directory: a transformers CLIPModel with its tokenizer and image "
                                   "processor")
    samples: int = option(32000, "training budget in seen image-caption pairs")
    # measured on a 3,000-image world at 15,360 pairs, 1 thread: batch 32 held-out caption->image top-1 0.015
    # (loss 3.04 of ln 32 = 3.47); batch 256 at lr 1e-3 or 2e-3 0.010 (loss 5.41 of 5.55), batch 64 at 2e-3
    # still at chance after 3,840 pairs: on CPU the number of steps, not the negatives, limits the escape
    # from the chance plateau (batch 32 at 32,000 pairs: 0.085)
    batch_size: int = option(32, "pairs per step: each image's caption is told apart from the batch's others")
    images: int = option(0, "the world's first N training images; 0: all of them (memory: N x 3 x "
                            "image_size² bytes)")
    image_size: int = option(32, "side of the CLIP input image in pixels (a multiple of patch_size)")
    # measured on a 3,000-image world: 4 px patches (64 tokens) learn in 250 steps what 8 px ones do not
    patch_size: int = option(4, "side of a vision-transformer patch in pixels")
    width: int = option(64, "hidden width of both towers")
    # measured side by side in one process (3,000-image world, 1 thread, held-out caption->image top-1 of
    # 200, chance 0.005): 1 layer at 32,000 pairs 79-83 CPU-s, top-1 0.155 / 0.28 (seeds 0 / 1); 2 layers
    # 135 CPU-s, 0.09. Fewer pairs stay on the chance plateau more often: 16,000 pairs 0.025 (1 layer),
    # 0.03 (2 layers); lr 2e-3 with 50 warm-up steps 0.01-0.04 (1 layer), 0.09 (2 layers, 16,000 pairs)
    layers: int = option(1, "transformer layers of each tower")
    heads: int = option(4, "attention heads of each tower")
    projection_dim: int = option(64, "width of the shared image-text embedding")
    max_text_tokens: int = option(48, "caption tokens kept, <bos>/<eos> included (the text tower's "
                                      "positions)")
    # measured: 3e-3 and above collapse to chance-level loss (every caption scored alike), 1e-3 learns
    lr: float = option(1e-3, "peak learning rate (AdamW, warm-up then cosine to 0)")
    weight_decay: float = option(0.05, "decoupled weight decay")
    warmup_steps: int = option(20, "linear warm-up steps")
    eval_images: int = option(500, "test images (the world's seen-captioning English set) for the retrieval "
                                   "accuracy printed at the end")
    seed: int = option(0, "seed of the initial weights and the batch order")
    threads: int = option(0, "CPU threads (torch.set_num_threads); 0: torch's default")
    overwrite: bool = option(False, "replace a CLIP model in --out (nothing else is replaced)")

    def __post_init__(self) -> None:
        at_least = {"samples": 1, "batch_size": 2, "images": 0, "image_size": 8, "patch_size": 1, "width": 8,
                    "layers": 1, "heads": 1, "projection_dim": 2, "max_text_tokens": 4, "warmup_steps": 0,
                    "eval_images": 2, "threads": 0}
        for name, least in at_least.items():
            if getattr(self, name) < least:
                raise ValueError(f"{name} is {getattr(self, name)}; use {least} or more")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size "
                             f"{self.patch_size}; choose sizes that divide")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}; choose one that "
                             f"is")
        if self.lr <= 0:
            raise ValueError(f"lr is {self.lr}; use a positive learning rate")
