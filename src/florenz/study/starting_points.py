"""The content-hash cache of starting points: a study grid makes each part once.

A study asks for (world, size, variant) and gets the directory of a composed starting point
(florenz.pretrain); the parts are cached separately under CACHE:

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
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from florenz.config import to_dict
from florenz.data.world import read_world
from florenz.model.sizes import get_size
from florenz.pretrain.config import (
    DECODER_METADATA,
    STARTING_POINT,
    VARIANTS,
    DecoderPretrainConfig,
    InitConfig,
    VisionPretrainConfig,
    corpus_languages,
    vision_signature,
)
from florenz.world.languages import LANGUAGES

_PATH_FIELDS = ("world", "size", "langs", "out", "overwrite")  # set per cache entry, not part of a recipe


def content_hash(inputs: dict[str, Any]) -> str:
    """A short, stable hash of JSON-ready inputs (key order does not matter)."""
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _recipe(config: Any) -> dict[str, Any]:
    return {key: value for key, value in to_dict(config).items() if key not in _PATH_FIELDS}


def vision_part(world_dir: str | Path, size: str, cache_dir: str | Path,
                vision: VisionPretrainConfig | None = None) -> tuple[str, Path]:
    """(cache key, directory) of the pre-trained vision tower of `size`, made only if not cached; the two
    decoder variants of a size share it, so a parallel study makes it once, before their starting points."""
    from florenz.pretrain.vision import pretrain_vision  # imports torch; needed only when the part is missing

    world = read_world(world_dir)
    recipe = replace(vision or VisionPretrainConfig(), world=str(world.path), size=size, overwrite=False)
    key = content_hash({"world": world.manifest_sha256, "florenz": version("florenz"), "part": "vision",
                        **vision_signature(get_size(size)), "recipe": _recipe(recipe)})
    directory = Path(cache_dir) / f"vision-{key}"
    if not (directory / "config.json").is_file():
        pretrain_vision(replace(recipe, out=str(directory)))
    return key, directory


def starting_point(world_dir: str | Path, size: str, variant: str, cache_dir: str | Path,
                   vision: VisionPretrainConfig | None = None, decoder: DecoderPretrainConfig | None = None,
                   init_seed: int = 0, eval_samples: int = 0) -> Path:
    """The composed starting point of `size` on a world, for a decoder variant ("A" = English only,
    "B" = all languages, or a language list such as "en,de"); each part is made only if not cached.

    vision, decoder: pre-training recipes (their world, size, langs, out and overwrite fields are set here).
    """
    # the steps import torch; they are needed only when a part is missing
    from florenz.pretrain.compose import init
    from florenz.pretrain.decoder import pretrain_decoder

    world = read_world(world_dir)
    model_config = get_size(size)
    langs = corpus_languages(VARIANTS.get(variant, variant))
    langs_tag = "all" if set(langs) == set(LANGUAGES) else "-".join(langs)
    cache = Path(cache_dir)
    common = {"world": world.manifest_sha256, "florenz": version("florenz")}

    vision_key, vision_dir = vision_part(world.path, size, cache, vision)
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
