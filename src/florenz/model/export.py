"""`florenz export`: a BART-kind Florenz run as a transformers `Florence2ForConditionalGeneration` directory.

The key map is the inverse of `convert_florence2.NATIVE_KEYS`. What is not a rename:
- Florence-2 shares one BART vocabulary: its `shared` table feeds the encoder (as our encoder's
  `embed_tokens`), the decoder has `decoder.embed_tokens`, and `lm_head` is written untied as a copy of the
  decoder's table (our head is tied to it), so both configs say `tie_word_embeddings: false`;
- transformers finds the image tokens by a placeholder id in the prompt (`image_token_id`);
- the one frame row Florenz uses of Florence-2's sinusoidal frame table is written as a 1-row table.
Settings transformers' Florence-2 cannot express (two vocabularies, two position tables, a logit soft-cap,
a Gemma-2 decoder) are refused by name, so an export computes what the run computes (tested on logits).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from florenz.config import to_dict
from florenz.errors import FlorenzError
from florenz.files import check_output_directory, write_atomically, write_directory_atomically
from florenz.model.checkpoint import CONFIG_NAME, WEIGHTS_NAME, rename_keys
from florenz.model.config import BartDecoderConfig, ExportConfig, ModelConfig
from florenz.model.convert_florence2 import NATIVE_KEYS
from florenz.model.florenz import FlorenzModel

FLORENZ_TO_NATIVE = {florenz: native for native, florenz in NATIVE_KEYS.items() if florenz is not None}
FRAME_TABLE_KEY = "model.multi_modal_projector.visual_temporal_embed.pos_idx_to_embed"
SHARED_KEY = "model.language_model.shared.weight"
LM_HEAD_KEY = "lm_head.weight"


def _check_exportable(config: ModelConfig, run: str, image_token_id: int, drop_softcap: bool) -> None:
    """Refuse, naming the setting, a model that transformers' Florence-2 would compute differently."""
    decoder, encoder = config.decoder, config.encoder
    if not isinstance(decoder, BartDecoderConfig):
        raise FlorenzError(f"{run} has a Gemma-2 decoder ({config.name}); transformers' Florence-2 has a "
                           f"BART decoder, so only BART-kind runs export")
    shared = {"vocab_size": (encoder.vocab_size, decoder.vocab_size),
              "d_model": (encoder.d_model, decoder.d_model),
              "max_position_embeddings": (encoder.max_position_embeddings, decoder.max_position_embeddings),
              "pad_token_id": (encoder.pad_token_id, config.pad_token_id)}
    different = {name: pair for name, pair in shared.items() if pair[0] != pair[1]}
    if different:
        raise FlorenzError(f"{run}: transformers' Florence-2 has one value for each of {sorted(different)}, "
                           f"but this model's encoder and decoder differ ({different}); it cannot be "
                           f"exported")
    if decoder.final_logit_softcapping is not None and not drop_softcap:
        raise FlorenzError(f"{run}: the decoder soft-caps its logits at {decoder.final_logit_softcapping} "
                           f"(cap·tanh(z/cap)), which transformers' Florence-2 cannot express; pass "
                           f"--drop-softcap to export the uncapped logits z (greedy decoding picks the same "
                           f"tokens, probabilities and beam scores differ)")
    if not 0 <= image_token_id < encoder.vocab_size or image_token_id == encoder.pad_token_id:
        raise FlorenzError(f"--image-token-id {image_token_id} must be a prompt id below "
                           f"{encoder.vocab_size} other than the padding id {encoder.pad_token_id}; pick one "
                           f"your prompts never contain")


def florence2_config(config: ModelConfig, image_token_id: int) -> dict[str, Any]:
    """The transformers Florence2Config (as config.json) of a BART-kind ModelConfig."""
    vision, encoder, decoder = config.vision, config.encoder, config.decoder
    vision_config = {
        "model_type": "florence_vision", "embed_dim": list(vision.embed_dims), "depths": list(vision.depths),
        "num_heads": list(vision.num_heads), "num_groups": list(vision.num_groups),
        "patch_size": list(vision.patch_size), "patch_stride": list(vision.patch_stride),
        "patch_padding": list(vision.patch_padding), "patch_prenorm": list(vision.patch_prenorm),
        "window_size": vision.window_size, "mlp_ratio": vision.mlp_ratio,
        "drop_path_rate": vision.drop_path_rate, "projection_dim": vision.projection_dim,
        "max_position_embeddings": vision.max_grid_side,
        "max_temporal_embeddings": 1,  # Florenz uses frame 0 only
        "activation_function": "gelu", "qkv_bias": True, "in_channels": 3,
    }
    text_config = {
        "model_type": "bart", "vocab_size": encoder.vocab_size, "d_model": encoder.d_model,
        "encoder_layers": encoder.layers, "decoder_layers": decoder.layers,
        "encoder_attention_heads": encoder.attention_heads,
        "decoder_attention_heads": decoder.attention_heads,
        "encoder_ffn_dim": encoder.ffn_dim, "decoder_ffn_dim": decoder.ffn_dim,
        "max_position_embeddings": encoder.max_position_embeddings,
        # one dropout each in BART: the encoder's (dropout only acts in training)
        "dropout": encoder.dropout, "attention_dropout": encoder.attention_dropout,
        "activation_dropout": encoder.activation_dropout, "activation_function": "gelu",
        "scale_embedding": False, "pad_token_id": config.pad_token_id, "eos_token_id": config.eos_token_id,
        "bos_token_id": config.bos_token_id, "decoder_start_token_id": config.decoder_start_token_id,
        "forced_eos_token_id": None, "tie_word_embeddings": False, "is_encoder_decoder": True,
    }
    return {"model_type": "florence2", "architectures": ["Florence2ForConditionalGeneration"],
            "vision_config": vision_config, "text_config": text_config, "image_token_id": image_token_id,
            "tie_word_embeddings": False, "is_encoder_decoder": True, "dtype": "float32",
            "florenz_config": to_dict(config)}  # where it came from, ignored by transformers


def florence2_state_dict(model: FlorenzModel) -> dict[str, torch.Tensor]:
    """The model's weights under transformers' Florence-2 names, float32 and contiguous."""
    state = rename_keys(model.state_dict(), FLORENZ_TO_NATIVE, "the Florenz model")
    state[SHARED_KEY] = model.encoder.embed_tokens.weight.detach()
    state[LM_HEAD_KEY] = model.decoder.embed_tokens.weight.detach()
    state[FRAME_TABLE_KEY] = model.image_frame_embedding[None]  # (1, Cv): frame 0
    return {name: tensor.detach().float().contiguous().clone() for name, tensor in state.items()}


def export(config: ExportConfig) -> int:
    """Write config.run as a transformers Florence-2 directory in config.out."""
    out = Path(config.out)
    check_output_directory(out, CONFIG_NAME, "florence2", config.overwrite, "export")
    model = FlorenzModel.from_pretrained(config.run)
    _check_exportable(model.config, config.run, config.image_token_id, config.drop_softcap)
    hf_config = florence2_config(model.config, config.image_token_id)
    weights = save(florence2_state_dict(model), metadata={"format": "pt"})

    def write(directory: Path) -> None:
        write_atomically(directory / WEIGHTS_NAME, weights)
        write_atomically(directory / CONFIG_NAME, json.dumps(hf_config, indent=2) + "\n")

    write_directory_atomically(out, write)
    print(f"export: wrote {out} (transformers Florence2ForConditionalGeneration; image placeholder id "
          f"{config.image_token_id})")
    return 0
