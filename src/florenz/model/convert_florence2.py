"""Load a local Florence-2 checkpoint into FlorenzModel, from either of its two key layouts.

- transformers' native `Florence2ForConditionalGeneration` (transformers >= 4.56, e.g. the
  florence-community/Florence-2-* repositories): `model.vision_tower.*`, `model.multi_modal_projector.*`,
  `model.language_model.{shared,encoder,decoder}.*`, `lm_head`;
- the original remote-code layout (microsoft/Florence-2-*, `modeling_florence2.py`): `vision_tower.*` with
  `PreNorm`/`fn` wrappers, `image_projection` as a raw matrix, `image_pos_embed`, `visual_temporal_embed`,
  `language_model.model.{shared,encoder,decoder}.*`, `language_model.lm_head`,
  `language_model.final_logits_bias`.

Florence-2 shares one BART vocabulary between encoder and decoder; Florenz keeps two tables, and both start
from `shared` here (the remap of the decoder to Gemma-2's vocabulary is `remap.py`'s job). The converted
model computes what Florence-2 computes, so its decoder has no logit soft-cap (reference §9.2.9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from florenz.config import ConfigError, from_dict
from florenz.errors import FlorenzError
from florenz.model.checkpoint import load_state_dict_strict, load_weights, read_config, rename_keys
from florenz.model.config import ModelConfig
from florenz.model.florenz import FlorenzModel

# transformers' native layout: the names are ours, under other parents
NATIVE_KEYS: dict[str, str | None] = {
    "model.vision_tower": "vision_tower",
    "model.multi_modal_projector.image_projection": "image_projection",
    "model.multi_modal_projector.image_proj_norm": "image_proj_norm",
    "model.multi_modal_projector.image_position_embed": "image_position_embed",
    # a constant sinusoid table; Florenz recomputes the one row it uses (FlorenzModel.image_frame_embedding)
    "model.multi_modal_projector.visual_temporal_embed.pos_idx_to_embed": None,
    # the shared table, already copied into both embed_tokens by _untie_shared_embedding
    "model.language_model.shared.weight": None,
    "model.language_model.encoder": "encoder",
    "model.language_model.decoder": "decoder",
    # tied to the shared table; Florenz's head is tied to decoder.embed_tokens
    "lm_head.weight": None,
}


def _davit_block_keys(block: str, attention: str) -> dict[str, str]:
    """A remote-code DaViT block wraps each sub-step as PreNorm(norm, fn): unwrap to transformers' names."""
    source = target = f"vision_tower.blocks.{{}}.{{}}.{block}"
    return {
        f"{source}.conv1.fn.dw": f"{target}.conv1",
        f"{source}.{attention}.norm": f"{target}.norm1",
        f"{source}.{attention}.fn": f"{target}.{attention}",
        f"{source}.conv2.fn.dw": f"{target}.conv2",
        f"{source}.ffn.norm": f"{target}.norm2",
        f"{source}.ffn.fn.net": f"{target}.ffn",
    }


# the original remote-code layout (https://huggingface.co/microsoft/Florence-2-base/blob/main/modeling_florence2.py)
REMOTE_CODE_KEYS: dict[str, str | None] = {
    "vision_tower.convs.{}.proj": "vision_tower.convs.{}.conv",
    "vision_tower.convs.{}.norm": "vision_tower.convs.{}.norm",
    **_davit_block_keys("spatial_block", "window_attn"),
    **_davit_block_keys("channel_block", "channel_attn"),
    # DaViT's classifier head and pooled-feature norm: Florence-2 deletes them, older exports may keep them
    "vision_tower.head": None,
    "vision_tower.norms": None,
    # a raw (Cv, D) matrix used as x @ W; _transpose_image_projection turns it into nn.Linear's (D, Cv)
    "image_projection": "image_projection.weight",
    "image_proj_norm": "image_proj_norm",
    "image_pos_embed": "image_position_embed",
    "visual_temporal_embed.pos_idx_to_embed": None,  # constant, as in NATIVE_KEYS
    "language_model.model.shared.weight": None,  # copied into both embed_tokens, as in NATIVE_KEYS
    "language_model.model.encoder": "encoder",
    "language_model.model.decoder": "decoder",
    "language_model.lm_head.weight": None,  # tied to the shared table
    # an all-zero buffer, never trained; Florenz has none (§1.1), and _require_zero_logits_bias checks it
    "language_model.final_logits_bias": None,
}


def _layout(state_dict: dict[str, torch.Tensor], source: str) -> tuple[dict[str, str | None], str]:
    """The key map and the parent of `shared`/`encoder`/`decoder` for this checkpoint's layout."""
    if any(key.startswith("model.language_model.") for key in state_dict):
        return NATIVE_KEYS, "model.language_model"
    if any(key.startswith("language_model.model.") for key in state_dict):
        return REMOTE_CODE_KEYS, "language_model.model"
    raise FlorenzError(f"{source} holds neither transformers' Florence-2 keys (model.language_model.*) nor "
                       f"the remote-code ones (language_model.model.*); pass a Florence-2 checkpoint")


def _untie_shared_embedding(state_dict: dict[str, torch.Tensor], parent: str) -> dict[str, torch.Tensor]:
    """Give encoder and decoder each their own copy of the shared table, unless the file stores them."""
    tables = {f"{parent}.{part}.embed_tokens.weight": state_dict[f"{parent}.shared.weight"]
              for part in ("encoder", "decoder") if f"{parent}.{part}.embed_tokens.weight" not in state_dict}
    return {**state_dict, **{name: table.clone() for name, table in tables.items()}}


def _require_zero_logits_bias(state_dict: dict[str, torch.Tensor], source: str) -> None:
    bias = state_dict.get("language_model.final_logits_bias")
    if bias is not None and bias.any():
        raise FlorenzError(f"{source}: language_model.final_logits_bias is not zero, but Florenz has no "
                           f"final-logits bias; this is not a released Florence-2 checkpoint")


def _transpose_image_projection(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The remote code multiplies x @ W with W (Cv, D); nn.Linear stores W^T (D, Cv)."""
    return {**state_dict, "image_projection.weight": state_dict["image_projection.weight"].t().contiguous()}


def convert_florence2_state_dict(state_dict: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """A Florence-2 state dict (either layout) -> FlorenzModel keys and shapes."""
    key_map, parent = _layout(state_dict, source)
    if f"{parent}.shared.weight" not in state_dict:
        raise FlorenzError(f"{source} has no {parent}.shared.weight (the token embedding); copy the whole "
                           f"checkpoint")
    _require_zero_logits_bias(state_dict, source)
    converted = rename_keys(_untie_shared_embedding(state_dict, parent), key_map, source)
    return _transpose_image_projection(converted) if key_map is REMOTE_CODE_KEYS else converted


# Florence-2 settings that Florenz's BART layers and DaViT hard-code: another value is another model
TEXT_SETTINGS = {"activation_function": "gelu", "scale_embedding": False, "normalize_before": False,
                 "add_final_layer_norm": False}
VISION_SETTINGS = {
    "activation_function": "gelu", "qkv_bias": True, "in_channels": 3,
    # the remote-code config's spellings of the adapter: learned 2-D positions, a cosine frame table, and
    # [spatial mean ; grid] as the image tokens (one frame, so the temporal mean is the grid itself)
    "image_pos_embed.type": "learned_abs_2d", "visual_temporal_embedding.type": "COSINE",
    "image_feature_source": ["spatial_avg_pool", "temporal_avg_pool"],
}


def _require_supported(section: dict[str, Any], supported: dict[str, Any], name: str) -> None:
    """Refuse a config whose `section` sets one of `supported`'s (dotted) keys to another value."""
    for key, value in supported.items():
        outer, _, inner = key.partition(".")
        found = section.get(outer, value if not inner else {})
        found = found.get(inner, value) if inner and isinstance(found, dict) else found
        if found != value:
            raise FlorenzError(f"Florence-2 {name}.{key}={found!r} is not supported; Florenz implements "
                               f"{key}={value!r} only, so this checkpoint would compute another model")


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def florence2_model_config(florence2_config: dict[str, Any], image_size: int = 768) -> ModelConfig:
    """Map a Florence-2 config.json (either layout) to ModelConfig; absent entries keep the defaults,
    which are Florence-2's. 768 px is the resolution of Florence-2's processor."""
    vision, text = florence2_config["vision_config"], florence2_config["text_config"]
    _require_supported(text, TEXT_SETTINGS, "text_config")
    _require_supported(vision, VISION_SETTINGS, "vision_config")
    # where transformers and the remote code name a field differently, transformers' name comes first
    remote_grid = vision.get("image_pos_embed", {}).get("max_pos_embeddings")
    vision_fields = {
        "embed_dims": vision.get("embed_dim", vision.get("dim_embed")),
        "depths": vision.get("depths"), "num_heads": vision.get("num_heads"),
        "num_groups": vision.get("num_groups"), "patch_size": vision.get("patch_size"),
        "patch_stride": vision.get("patch_stride"), "patch_padding": vision.get("patch_padding"),
        "patch_prenorm": vision.get("patch_prenorm"), "window_size": vision.get("window_size"),
        "mlp_ratio": vision.get("mlp_ratio"), "drop_path_rate": vision.get("drop_path_rate"),
        "projection_dim": vision.get("projection_dim"),
        "max_grid_side": vision.get("max_position_embeddings", remote_grid),
    }
    shared = {"vocab_size": text.get("vocab_size"), "d_model": text.get("d_model"),
              "max_position_embeddings": text.get("max_position_embeddings"), "dropout": text.get("dropout"),
              "attention_dropout": text.get("attention_dropout"),
              "activation_dropout": text.get("activation_dropout")}
    encoder_fields = {**shared, "layers": text.get("encoder_layers"),
                      "attention_heads": text.get("encoder_attention_heads"),
                      "ffn_dim": text.get("encoder_ffn_dim"), "pad_token_id": text.get("pad_token_id")}
    decoder_fields = {**shared, "kind": "bart", "layers": text.get("decoder_layers"),
                      "attention_heads": text.get("decoder_attention_heads"),
                      "ffn_dim": text.get("decoder_ffn_dim")}
    model_fields = {
        "name": "custom", "image_size": image_size, "pad_token_id": text.get("pad_token_id"),
        "eos_token_id": text.get("eos_token_id"), "bos_token_id": text.get("bos_token_id"),
        "decoder_start_token_id": text.get("decoder_start_token_id"),
        "vision": _present(vision_fields), "encoder": _present(encoder_fields),
        # Florence-2 itself has no logit soft-cap; the reference's hard-coded 30 is its own addition (§9.2.9)
        "decoder": {**_present(decoder_fields), "final_logit_softcapping": None},
    }
    try:
        return from_dict(ModelConfig, _present(model_fields))
    except ConfigError as error:
        raise FlorenzError(f"the Florence-2 config does not map to a Florenz config: {error}") from None


def load_florence2(directory: str | Path, image_size: int = 768) -> FlorenzModel:
    """A FlorenzModel with a BART decoder holding the Florence-2 checkpoint in directory (either layout)."""
    config = florence2_model_config(
        read_config(directory, "florence2", "Florence2ForConditionalGeneration"), image_size)
    model = FlorenzModel(config)
    state_dict = convert_florence2_state_dict(load_weights(directory), str(directory))
    load_state_dict_strict(model, state_dict, str(directory))
    return model
