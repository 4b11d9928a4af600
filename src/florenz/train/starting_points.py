"""Starting points of a study: the configs of their three steps, and a cache so a grid makes each part once.

A starting point is a composed VLM checkpoint (`florenz init`) made of a pre-trained vision tower and adapter
(`florenz pretrain vision`), a pre-trained decoder (`florenz pretrain decoder`) and a random encoder. A study
asks for (world, size, variant) and gets its directory; the parts are cached separately under CACHE:

    CACHE/vision-<hash>/                     shared by both variants, and by sizes with the same vision
                                             config (world-xs and world-xs-gemma)
    CACHE/decoder-<size>-<langs>-<hash>/     the trainer's run directory of the LM pre-training
    CACHE/init-<size>-<langs>-<hash>/        the composed checkpoint and its initial losses (T)

Each hash is a sha256 over what decides that part: the world's manifest hash (the manifest lists the sha256 of
every file of the world), the size's config (only its vision part for the tower), the recipe (the step's
config without paths), the hashes of the parts it is built from, and the florenz version. An entry is reused
only when complete: vision and init entries appear by an atomic rename of a finished temporary directory, and
a decoder entry counts once `decoder_pretraining.json` is written after training (an interrupted decoder run
resumes where it stopped).

This module stays free of torch so that the CLI can build its flags from these configs quickly; the steps
themselves are imported when a part has to be made.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

from florenz.config import ConfigError, option, to_dict
from florenz.errors import FlorenzError
from florenz.files import sha256_of_file
from florenz.model.config import ModelConfig
from florenz.model.sizes import get_size
from florenz.world.languages import LANGUAGES

# The paper's two decoder kinds: near-monolingual like Florence-2's (A) and multilingual like Gemma-2's (B).
VARIANTS = {"A": "en", "B": "all"}
_PATH_FIELDS = ("world", "size", "langs", "out", "overwrite")  # set per cache entry, not part of a recipe
DECODER_METADATA = "decoder_pretraining.json"
STARTING_POINT = "starting_point.json"


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
    precision: Literal["auto", "bf16", "fp32"] = option(
        "auto", "bf16 autocast with fp32 weights, or fp32; auto: bf16 where the hardware has native bf16")
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
    precision: Literal["auto", "bf16", "fp32"] = option(
        "auto", "bf16 autocast with fp32 weights, or fp32; auto: bf16 where the hardware has native bf16")

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


# --- worlds, parts and outputs ------------------------------------------------------------------------

@dataclass(frozen=True)
class WorldInfo:
    """What starting points need to know of a built world."""

    path: Path
    manifest: dict[str, Any]
    manifest_sha256: str  # the manifest lists the sha256 of every file, so this fingerprints the world

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    def tokenizer_sha256(self) -> str:
        return file_sha256(self.path / "tokenizer.json")


def file_sha256(path: Path) -> str:
    if not path.is_file():
        raise FlorenzError(f"{path} does not exist; rebuild the world with `florenz world build`")
    return sha256_of_file(path)


def read_world(world_dir: str | Path) -> WorldInfo:
    """The manifest of a built world and its hash; FlorenzError naming the directory if it is not one."""
    path = Path(world_dir)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise FlorenzError(f"{path} is not a Florenz world (no manifest.json); build one with "
                           f"`florenz world build --out {path}`")
    text = manifest_path.read_bytes()
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as error:
        raise FlorenzError(f"{manifest_path} is not valid JSON ({error}); rebuild the world") from None
    if "config" not in manifest:
        raise FlorenzError(f"{manifest_path} has no 'config' entry; rebuild the world with this version")
    return WorldInfo(path, manifest, hashlib.sha256(text).hexdigest())


def vision_signature(config: ModelConfig) -> dict[str, Any]:
    """Everything the vision tower and adapter depend on: two sizes with equal signatures share a tower."""
    return {"vision": to_dict(config.vision), "image_size": config.image_size}


def check_output_directory(out: Path, marker: str, expected: str, overwrite: bool, verb: str) -> None:
    """Refuse an --out holding anything but an earlier output of the same kind (replaced with overwrite):
    `marker` is the file whose "model_type" names that kind."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    kind = None
    if (out / marker).is_file():
        try:
            kind = json.loads((out / marker).read_text(encoding="utf-8")).get("model_type")
        except (OSError, json.JSONDecodeError):
            kind = None
    if kind != expected:
        raise FlorenzError(f"{out} is not empty and holds no output of `{verb}`; choose a new or empty --out "
                           f"(nothing there was changed)")
    if not overwrite:
        raise FlorenzError(f"{out} already holds an output of `{verb}`; pass --overwrite to replace it or "
                           f"choose another --out (nothing there was changed)")


# --- the cache --------------------------------------------------------------------------------------------

def content_hash(inputs: dict[str, Any]) -> str:
    """A short, stable hash of JSON-ready inputs (key order does not matter)."""
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _recipe(config: Any) -> dict[str, Any]:
    return {key: value for key, value in to_dict(config).items() if key not in _PATH_FIELDS}


def starting_point(world_dir: str | Path, size: str, variant: str, cache_dir: str | Path,
                   vision: VisionPretrainConfig | None = None, decoder: DecoderPretrainConfig | None = None,
                   init_seed: int = 0, eval_samples: int = 0) -> Path:
    """The composed starting point of `size` on a world, for a decoder variant ("A" = English only,
    "B" = all languages, or a language list such as "en,de"); each part is made only if not cached.

    vision, decoder: pre-training recipes (their world, size, langs, out and overwrite fields are set here).
    """
    # the steps import torch; they are needed only when a part is missing
    from florenz.train.init import init
    from florenz.train.pretrain_decoder import pretrain_decoder
    from florenz.train.pretrain_vision import pretrain_vision

    world = read_world(world_dir)
    model_config = get_size(size)
    langs = corpus_languages(VARIANTS.get(variant, variant))
    langs_tag = "all" if set(langs) == set(LANGUAGES) else "-".join(langs)
    cache = Path(cache_dir)
    common = {"world": world.manifest_sha256, "florenz": version("florenz")}

    vision_recipe = replace(vision or VisionPretrainConfig(), world=str(world.path), size=size,
                            overwrite=False)
    vision_key = content_hash({**common, "part": "vision", **vision_signature(model_config),
                               "recipe": _recipe(vision_recipe)})
    vision_dir = cache / f"vision-{vision_key}"
    if not (vision_dir / "config.json").is_file():
        pretrain_vision(replace(vision_recipe, out=str(vision_dir)))

    decoder_recipe = replace(decoder or DecoderPretrainConfig(), world=str(world.path), size=size,
                             langs=",".join(langs))
    decoder_key = content_hash({**common, "part": "decoder", "model": to_dict(model_config),
                                "langs": list(langs), "recipe": _recipe(decoder_recipe)})
    decoder_dir = cache / f"decoder-{size}-{langs_tag}-{decoder_key}"
    if not (decoder_dir / DECODER_METADATA).is_file():
        pretrain_decoder(replace(decoder_recipe, out=str(decoder_dir)))

    init_key = content_hash({**common, "part": "init", "vision": vision_key, "decoder": decoder_key,
                             "seed": init_seed, "eval_samples": eval_samples})
    init_dir = cache / f"init-{size}-{langs_tag}-{init_key}"
    if not (init_dir / STARTING_POINT).is_file():
        init(InitConfig(vision=str(vision_dir), decoder=str(decoder_dir), out=str(init_dir),
                        world=str(world.path), seed=init_seed, eval_samples=eval_samples))
    return init_dir
