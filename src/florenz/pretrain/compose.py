"""`florenz init`: compose the initial VLM checkpoint from a pre-trained vision tower and decoder; record T.

The world's counterpart of `florenz prepare`: the paper starts every run from Florence-2's pre-trained DaViT
and adapter (frozen), a freshly combined encoder, and a pre-trained decoder of some multilinguality. Here:
- the model config is the decoder run's own (a ladder size);
- `vision_tower.*` and the adapter (`image_position_embed.*`, `image_projection.*`, `image_proj_norm.*`) come
  from a `florenz pretrain vision` checkpoint, `decoder.*` from a `florenz pretrain decoder` run, and the
  encoder starts random (seeded); every key of each part must be there with its shape, or nothing is loaded;
- the two parts must fit together: the same vision config and image side, the vision tower pre-trained on
  images like the world's, and the decoder pre-trained with the world's tokenizer (the same ids).

T, the paper's initial multilinguality, is the composed model's cross-entropy on the world's unseen-captioning
test split before any VLM training; the losses on all three splits (UC, ST, SC) are written to
`starting_point.json` beside `config.json` + `model.safetensors`, and printed. Rerunning with the same parts
(the same files at the same paths), world, seed and eval samples does nothing; anything else needs
--overwrite or another --out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from florenz.config import ConfigError, from_dict
from florenz.data.tokenizer import load_tokenizer
from florenz.data.world import WorldInfo, read_world
from florenz.errors import FlorenzError
from florenz.eval.losses import split_losses
from florenz.files import sha256_of_file, write_directory_atomically
from florenz.model.accounting import VISION_MODULES
from florenz.model.checkpoint import load_state_dict_strict, load_weights, read_config, tied_aliases
from florenz.model.config import ModelConfig
from florenz.pretrain.config import (
    DECODER_METADATA,
    STARTING_POINT,
    InitConfig,
    claimed_output,
    vision_signature,
)
from florenz.pretrain.decoder import read_decoder_metadata
from florenz.pretrain.vision import read_vision_checkpoint

STARTING_POINT_TYPE = "florenz-starting-point"


def _describe(signature: dict[str, Any]) -> str:
    vision = signature["vision"]
    return (f"DaViT widths {list(vision['embed_dims'])}, depths {list(vision['depths'])}, projection "
            f"{vision['projection_dim']}, {signature['image_size']} px")


def _check_parts(config: InitConfig, model_config: ModelConfig, vision_meta: dict[str, Any],
                 decoder_meta: dict[str, Any], world_dir: Path) -> dict[str, Any]:
    """FlorenzError naming both sides if the vision tower, the decoder and the world do not fit together."""
    vision_side = {"vision": vision_meta.get("vision"), "image_size": vision_meta.get("image_size")}
    decoder_side = json.loads(json.dumps(vision_signature(model_config)))  # tuples as lists, as in the file
    if vision_side != decoder_side:
        raise FlorenzError(
            f"vision checkpoint {config.vision} was pre-trained for size {vision_meta.get('size')} "
            f"({_describe(vision_side)}) but decoder run {config.decoder} is size {model_config.name} "
            f"({_describe(decoder_side)}); pre-train the tower for it: `florenz pretrain vision --size "
            f"{model_config.name}`")
    world = read_world(world_dir)
    seen = vision_meta["world"]
    if (seen["image_size"], seen["max_objects"]) != (world.config["image_size"], world.config["max_objects"]):
        raise FlorenzError(
            f"vision checkpoint {config.vision} was pre-trained on world {seen['path']} "
            f"({seen['image_size']} px, up to {seen['max_objects']} objects) but world {world.path} renders "
            f"{world.config['image_size']} px scenes of up to {world.config['max_objects']} objects; "
            f"pre-train the tower on {world.path}")
    trained_with = decoder_meta["world"]
    tokenizer_sha = world.tokenizer_sha256()
    if trained_with["tokenizer_sha256"] != tokenizer_sha:
        raise FlorenzError(
            f"decoder run {config.decoder} was pre-trained with the tokenizer of world "
            f"{trained_with['path']} ({trained_with['vocab_size']} entries, sha256 "
            f"{trained_with['tokenizer_sha256'][:12]}) but world {world.path} has another vocabulary "
            f"({load_tokenizer(world.path).get_vocab_size()} entries, sha256 {tokenizer_sha[:12]}): the same "
            f"ids would mean other words. Pre-train the decoder on {world.path}")
    return {"path": str(world.path), "manifest_sha256": world.manifest_sha256}


def _part(tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], source: str,
          part: str) -> None:
    """FlorenzError listing missing, unexpected and wrongly shaped keys of one part against the model."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [f"{key}: {tuple(tensors[key].shape)} vs model {tuple(expected[key].shape)}"
              for key in sorted(set(expected) & set(tensors)) if tensors[key].shape != expected[key].shape]
    if missing or unexpected or shapes:
        found = (("missing", missing), ("unexpected", unexpected), ("wrong shapes", shapes))
        problems = "; ".join(f"{label} ({len(keys)}): {', '.join(keys[:6])}" for label, keys in found if keys)
        raise FlorenzError(f"{source} does not fit the {part} of the composed model: {problems}; it was "
                           f"written for another model config")


def compose(config: InitConfig) -> tuple[Any, dict[str, Any]]:
    """The composed FlorenzModel (vision + adapter pre-trained, encoder random, decoder pre-trained) and a
    description of its parts; raises before building anything if the parts do not fit together."""
    from florenz.model.florenz import MODEL_TYPE, FlorenzModel

    vision_meta, vision_tensors = read_vision_checkpoint(config.vision)
    decoder_meta = read_decoder_metadata(config.decoder)
    try:
        model_config = from_dict(ModelConfig, read_config(config.decoder, MODEL_TYPE, FlorenzModel.__name__))
    except ConfigError as error:
        raise FlorenzError(f"{Path(config.decoder) / 'config.json'}: {error}") from None
    world = _check_parts(config, model_config, vision_meta, decoder_meta,
                         Path(config.world or decoder_meta["world"]["path"]))
    decoder_tensors = {key: value for key, value in load_weights(config.decoder).items()
                       if key.startswith("decoder.")}

    torch.manual_seed(config.seed)
    model = FlorenzModel(model_config)
    aliases = tied_aliases(model)
    state = {key: value for key, value in model.state_dict().items() if key not in aliases}
    _part(vision_tensors, {k: v for k, v in state.items() if k.split(".", 1)[0] in VISION_MODULES},
          f"vision checkpoint {config.vision}", "vision tower and adapter")
    _part(decoder_tensors, {k: v for k, v in state.items() if k.startswith("decoder.")},
          f"decoder run {config.decoder}", "decoder")
    load_state_dict_strict(model, {**state, **vision_tensors, **decoder_tensors},
                           f"{config.vision} + {config.decoder}")
    parts = {
        "world": world,
        "vision": {"path": str(config.vision), "size": vision_meta["size"],
                   "linear_probe_accuracy": vision_meta.get("linear_probe_accuracy")},
        "decoder": {"path": str(config.decoder), "size": decoder_meta["size"], "langs": decoder_meta["langs"],
                    "final_loss": decoder_meta.get("final_loss")},
    }
    return model, parts


def read_starting_point(directory: str | Path) -> dict[str, Any]:
    """starting_point.json of a composed checkpoint (its parts and initial losses)."""
    path = Path(directory) / STARTING_POINT
    if not path.is_file():
        raise FlorenzError(f"{directory} is not a starting point (no {STARTING_POINT}); make one with "
                           f"`florenz init --out {directory}`")
    return json.loads(path.read_text(encoding="utf-8"))


def _world_of(config: InitConfig) -> WorldInfo:
    """The world whose test splits give T: --world, or the one the decoder was pre-trained on."""
    return read_world(config.world or read_decoder_metadata(config.decoder)["world"]["path"])


def _settings(config: InitConfig, world: WorldInfo) -> dict[str, Any]:
    """What a starting point is made from; the parts' records change whenever a part is made again."""
    read_vision_checkpoint(config.vision)  # clear errors for a missing or wrong part, before hashing it
    read_decoder_metadata(config.decoder)
    return {"vision": str(Path(config.vision).resolve()),
            "vision_config_sha256": sha256_of_file(Path(config.vision) / "config.json"),
            "decoder": str(Path(config.decoder).resolve()),
            "decoder_metadata_sha256": sha256_of_file(Path(config.decoder) / DECODER_METADATA),
            "world_manifest_sha256": world.manifest_sha256, "seed": config.seed,
            "eval_samples": config.eval_samples}


def _losses_with_progress(model: nn.Module, world: WorldInfo, config: InitConfig) -> dict[str, float]:
    """split_losses on UC/ST/SC with a progress bar fed by the model's forward calls."""
    sizes = [counts["samples"] for name, counts in world.manifest["counts"].items()
             if name.startswith("test/")]
    total = sum(min(size, config.eval_samples or size) for size in sizes)
    with tqdm(total=total, unit="sample", desc="init: losses on UC/ST/SC", dynamic_ncols=True) as bar:
        def count(module: nn.Module, args: tuple, logits: torch.Tensor) -> None:  # None: output unchanged
            bar.update(logits.shape[0])

        hook = model.register_forward_hook(count)
        try:
            return split_losses(model, world.path, max_samples_per_set=config.eval_samples,
                                batch_size=config.batch_size)
        finally:
            hook.remove()


def init(config: InitConfig) -> Path:
    """Compose the starting point, measure its losses on UC/ST/SC, and write both to `config.out`."""
    out = Path(config.out)
    world = _world_of(config)
    settings = _settings(config, world)
    with claimed_output(out, "init", STARTING_POINT, STARTING_POINT_TYPE, settings, config.overwrite,
                        "the same parts and settings; --overwrite composes again") as finished:
        if finished:
            return out
        model, parts = compose(config)
        losses = _losses_with_progress(model, world, config)
        record = {
            "model_type": STARTING_POINT_TYPE,
            "size": model.config.name,
            "langs": parts["decoder"]["langs"],
            **parts,
            "seed": config.seed,
            "eval_samples": config.eval_samples,
            "settings": settings,
            "T": losses["uc"],  # the paper's initial multilinguality: UC loss before VLM training
            "losses": losses,
        }

        def write(directory: Path) -> None:
            model.save_pretrained(directory)
            (directory / STARTING_POINT).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

        write_directory_atomically(out, write)
    print(f"florenz init: {record['size']}, decoder on {','.join(record['langs'])}: T = {losses['uc']:.3f} "
          f"(UC), ST {losses['st']:.3f}, SC {losses['sc']:.3f} -> {out}")
    return out
