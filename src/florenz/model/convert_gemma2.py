"""Gemma-2 checkpoints (transformers' `Gemma2ForCausalLM`: config.json + safetensors) -> `Gemma2Decoder`.

Loading renames keys by `GEMMA2_TO_FLORENZ`, copies each layer's post_attention_layernorm into the new
post_encoder_attention_layernorm (reference §2.3) and keeps the fresh cross-attention q/k/v/o (N(0, 0.02))
and the closed gates; every other key and shape must match. `FLORENZ_TO_GEMMA2` is the inverse map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from florenz.errors import FlorenzError
from florenz.model.checkpoint import load_state_dict_strict, load_weights, read_config, rename_keys
from florenz.model.config import Gemma2DecoderConfig
from florenz.model.decoder_gemma2 import Gemma2Decoder

MODEL_TYPE = "gemma2"
ARCHITECTURE = "Gemma2ForCausalLM"

GEMMA2_TO_FLORENZ: dict[str, str | None] = {
    "model.embed_tokens.weight": "embed_tokens.weight",
    "model.layers.{}.input_layernorm.weight": "layers.{}.input_layernorm.weight",
    "model.layers.{}.self_attn.q_proj.weight": "layers.{}.self_attn.q_proj.weight",
    "model.layers.{}.self_attn.k_proj.weight": "layers.{}.self_attn.k_proj.weight",
    "model.layers.{}.self_attn.v_proj.weight": "layers.{}.self_attn.v_proj.weight",
    "model.layers.{}.self_attn.o_proj.weight": "layers.{}.self_attn.o_proj.weight",
    "model.layers.{}.post_attention_layernorm.weight": "layers.{}.post_attention_layernorm.weight",
    "model.layers.{}.pre_feedforward_layernorm.weight": "layers.{}.pre_feedforward_layernorm.weight",
    "model.layers.{}.mlp.gate_proj.weight": "layers.{}.mlp.gate_proj.weight",
    "model.layers.{}.mlp.up_proj.weight": "layers.{}.mlp.up_proj.weight",
    "model.layers.{}.mlp.down_proj.weight": "layers.{}.mlp.down_proj.weight",
    "model.layers.{}.post_feedforward_layernorm.weight": "layers.{}.post_feedforward_layernorm.weight",
    "model.norm.weight": "norm.weight",
    # tied to model.embed_tokens (tie_word_embeddings is checked); transformers omits it, some exports keep it
    "lm_head.weight": None,
}
FLORENZ_TO_GEMMA2 = {florenz: gemma for gemma, florenz in GEMMA2_TO_FLORENZ.items() if florenz is not None}

# HF Gemma-2 settings that this decoder hard-codes: a checkpoint with other values is another architecture
_FIXED_SETTINGS = {"hidden_activation": "gelu_pytorch_tanh", "attention_bias": False,
                   "tie_word_embeddings": True, "use_bidirectional_attention": None}


def _alternating_layer_types(num_layers: int) -> list[str]:
    return ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(num_layers)]


def gemma2_decoder_config(hf_config: dict[str, Any], cross_attention_every: int = 1,
                          cross_attention_prenorm: bool = False) -> Gemma2DecoderConfig:
    """A Gemma-2 config.json (transformers 4 or 5 spelling) -> Gemma2DecoderConfig with cross-attention."""
    unsupported = {key: hf_config[key] for key, value in _FIXED_SETTINGS.items()
                   if key in hf_config and hf_config[key] != value}
    rope = hf_config.get("rope_parameters") or {"rope_type": "default",
                                                "rope_theta": hf_config.get("rope_theta", 10000.0)}
    if rope.get("rope_type", "default") != "default":
        unsupported["rope_parameters"] = rope
    layers = hf_config["num_hidden_layers"]
    layer_types = hf_config.get("layer_types") or _alternating_layer_types(layers)
    if layer_types != _alternating_layer_types(layers):
        unsupported["layer_types"] = layer_types
    if unsupported:
        raise FlorenzError(f"this Gemma-2 config sets {unsupported}, which Gemma2Decoder does not implement "
                           f"(it needs {_FIXED_SETTINGS}, default RoPE, sliding attention on even layers); "
                           f"pass a standard Gemma-2 checkpoint")
    try:
        return Gemma2DecoderConfig(
            vocab_size=hf_config["vocab_size"], hidden_size=hf_config["hidden_size"],
            intermediate_size=hf_config["intermediate_size"], num_hidden_layers=layers,
            num_attention_heads=hf_config["num_attention_heads"],
            num_key_value_heads=hf_config["num_key_value_heads"], head_dim=hf_config["head_dim"],
            query_pre_attn_scalar=hf_config["query_pre_attn_scalar"],
            attn_logit_softcapping=hf_config["attn_logit_softcapping"],
            final_logit_softcapping=hf_config["final_logit_softcapping"],
            sliding_window=hf_config["sliding_window"], rope_theta=rope["rope_theta"],
            rms_norm_eps=hf_config["rms_norm_eps"],
            max_position_embeddings=hf_config["max_position_embeddings"],
            cross_attention_every=cross_attention_every, cross_attention_prenorm=cross_attention_prenorm)
    except KeyError as error:
        raise FlorenzError(f"the Gemma-2 config.json lacks {error}; pass a complete Gemma-2 config") from None


def copy_post_attention_norms(state: dict[str, torch.Tensor], decoder: Gemma2Decoder) -> None:
    """PostEncNorm of each cross-attention layer starts as a copy of that layer's post_attention_layernorm
    (reference §2.3), so the gated block's output is scaled like the self-attention's."""
    for index, layer in enumerate(decoder.layers):
        if layer.has_cross_attention:
            state[f"layers.{index}.post_encoder_attention_layernorm.weight"] = \
                state[f"layers.{index}.post_attention_layernorm.weight"].clone()


def load_gemma2_weights(decoder: Gemma2Decoder, directory: str | Path) -> None:
    """Load a Gemma-2 checkpoint into decoder; its cross-attention q/k/v/o, gates (and query pre-norms)
    keep their initialisation. Raises FlorenzError naming unmapped, missing or wrongly shaped keys."""
    source = str(directory)
    hf_state = load_weights(directory)
    state = rename_keys(hf_state, GEMMA2_TO_FLORENZ, source)
    expected = (_to_gemma2(name) for name in decoder.state_dict())
    missing = sorted({name for name in expected if name is not None} - set(hf_state))
    if missing:
        raise FlorenzError(f"cannot load {source}: missing keys ({len(missing)}): {', '.join(missing)}; "
                           f"the checkpoint is incomplete or has fewer layers than its config.json says")
    copy_post_attention_norms(state, decoder)
    current = decoder.state_dict()
    fresh = {name: current[name] for name in decoder.cross_attention_parameter_names() if name not in state}
    load_state_dict_strict(decoder, state | fresh, source)


def _to_gemma2(name: str) -> str | None:
    """A Florenz decoder key -> its Gemma-2 key, or None for the parts Gemma-2 lacks (cross-attention)."""
    parts = name.split(".")
    template = ".".join("{}" if part.isdigit() else part for part in parts)
    gemma = FLORENZ_TO_GEMMA2.get(template)
    return None if gemma is None else gemma.format(*(part for part in parts if part.isdigit()))


def load_gemma2(directory: str | Path, encoder_hidden_size: int, cross_attention_every: int = 1,
                cross_attention_prenorm: bool = False) -> Gemma2Decoder:
    """A Gemma2Decoder built from directory's config.json, with its weights and closed cross-attention."""
    config = gemma2_decoder_config(read_config(directory, MODEL_TYPE, ARCHITECTURE), cross_attention_every,
                                   cross_attention_prenorm)
    decoder = Gemma2Decoder(config, encoder_hidden_size)
    load_gemma2_weights(decoder, directory)
    return decoder
