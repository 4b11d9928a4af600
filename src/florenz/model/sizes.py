"""The size ladder: the paper's four sizes and the CPU-trainable sizes of the embedded world.

Every named size is one `ModelConfig` in `SIZES`, with its source in a comment. The paper's sizes are
built from the upstream `config.json` files (reference §1.2–1.8); their parameter counts come out at
0.43B, 1.04B, 3.49B and 11.22B (checked in tests/model/test_sizes.py against the reference's table).

The world sizes share one design (architecture.md, "The vision tower on the world"):
- a DaViT of 2–3 stages with total stride 8, so 32/48/64 px images give 17/37/65 image tokens;
- encoder and decoder vocabularies of 2,048, the world tokenizer's size (<pad>=0, <eos>=1, <bos>=2);
- dropout 0.0: study runs are short and under-trained, like the paper's single pass over its data, a
  regime where dropout only slows learning at a fixed budget and adds noise to the fitted losses;
- drop-path 0.0: the tower is pre-trained once per world and then frozen, run in eval mode.
"""

from __future__ import annotations

import copy

from florenz.config import ConfigError
from florenz.model.config import (
    BartDecoderConfig,
    EncoderConfig,
    Gemma2DecoderConfig,
    ModelConfig,
    VisionConfig,
)

# --- the paper's sizes ------------------------------------------------------------------------------

# https://huggingface.co/microsoft/Florence-2-base/blob/main/config.json (vision_config): DaViT-B
_FLORENCE2_BASE_VISION = VisionConfig(
    embed_dims=(128, 256, 512, 1024), depths=(1, 1, 9, 1), num_heads=(4, 8, 16, 32),
    num_groups=(4, 8, 16, 32), projection_dim=768)

# https://huggingface.co/microsoft/Florence-2-large/blob/main/config.json (vision_config): DaViT-L
_FLORENCE2_LARGE_VISION = VisionConfig(
    embed_dims=(256, 512, 1024, 2048), depths=(1, 1, 9, 1), num_heads=(8, 16, 32, 64),
    num_groups=(8, 16, 32, 64), projection_dim=1024)

# Florence-2's BART tokenizer plus its 1,024 added task tokens has 51,289 ids (reference §1.5). The
# reference pads the Florence sizes' encoder table to 51,328 rows that are never looked up; we keep
# 51,289 for every size, so the pretrained table is copied as is (0.03M parameters fewer).
_FLORENCE2_ENCODER_VOCAB = 51289

# Florence-2-base text_config: 6 layers, d 768, 12 heads, FFN 3072, 1,024 positions
_FLORENCE2_BASE_ENCODER = EncoderConfig(
    vocab_size=_FLORENCE2_ENCODER_VOCAB, d_model=768, layers=6, attention_heads=12, ffn_dim=3072,
    max_position_embeddings=1024)

# Florence-2-large text_config: 12 layers, d 1024, 16 heads, FFN 4096, 4,096 positions
_FLORENCE2_LARGE_ENCODER = EncoderConfig(
    vocab_size=_FLORENCE2_ENCODER_VOCAB, d_model=1024, layers=12, attention_heads=16, ffn_dim=4096,
    max_position_embeddings=4096)

# The decoder's targets use the Gemma-2 tokenizer (256,000 ids). The reference sizes this table to a
# magic 257,024 whose last 1,024 rows are never targets yet stay in the softmax (defect §9.2.17); we use
# the tokenizer's 256,000.
_GEMMA2_VOCAB = 256000

# https://huggingface.co/google/gemma-2-2b/blob/main/config.json
_GEMMA2_2B_DECODER = Gemma2DecoderConfig(
    vocab_size=_GEMMA2_VOCAB, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
    num_attention_heads=8, num_key_value_heads=4, head_dim=256, query_pre_attn_scalar=256)

# https://huggingface.co/google/gemma-2-9b/blob/main/config.json
_GEMMA2_9B_DECODER = Gemma2DecoderConfig(
    vocab_size=_GEMMA2_VOCAB, hidden_size=3584, intermediate_size=14336, num_hidden_layers=42,
    num_attention_heads=16, num_key_value_heads=8, head_dim=256, query_pre_attn_scalar=256)

# Pre-training resolution of the paper: 224 px, 1 + 7² = 50 image tokens (reference §1.10).
PAPER_IMAGE_SIZE = 224


# --- the world's sizes --------------------------------------------------------------------------------

_WORLD_VOCAB = 2048  # the world tokenizer's size (`florenz world build` trains it with 2,048 entries)
_WORLD_POSITIONS = 256  # longest [image ; prompt] or target sequence: 65 image + 128 prompt tokens fit


def _world_vision(embed_dims: tuple[int, ...], depths: tuple[int, ...], head_dim: int, window_size: int,
                  projection_dim: int) -> VisionConfig:
    """A tiny DaViT: stem of stride 4, then stride 2, then (third stage) stride 1, so total stride 8."""
    stages = len(embed_dims)
    heads = tuple(dim // head_dim for dim in embed_dims)
    return VisionConfig(
        embed_dims=embed_dims, depths=depths, num_heads=heads, num_groups=heads,
        patch_size=(7, 3, 3)[:stages], patch_stride=(4, 2, 1)[:stages], patch_padding=(3, 1, 1)[:stages],
        patch_prenorm=(False, True, True)[:stages], window_size=window_size, drop_path_rate=0.0,
        projection_dim=projection_dim, max_grid_side=16)


def _world_encoder(d_model: int, layers: int, heads: int) -> EncoderConfig:
    return EncoderConfig(
        vocab_size=_WORLD_VOCAB, d_model=d_model, layers=layers, attention_heads=heads, ffn_dim=4 * d_model,
        max_position_embeddings=_WORLD_POSITIONS, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, pad_token_id=0)


def _world_bart_decoder(d_model: int, layers: int, heads: int) -> BartDecoderConfig:
    return BartDecoderConfig(
        vocab_size=_WORLD_VOCAB, d_model=d_model, layers=layers, attention_heads=heads, ffn_dim=4 * d_model,
        max_position_embeddings=_WORLD_POSITIONS, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0)


def _world_gemma2_decoder(hidden_size: int, layers: int, heads: int, kv_heads: int) -> Gemma2DecoderConfig:
    head_dim = hidden_size // heads
    # the sliding window equals the longest target, so like the paper's 4,096 it never binds
    return Gemma2DecoderConfig(
        vocab_size=_WORLD_VOCAB, hidden_size=hidden_size, intermediate_size=4 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
        query_pre_attn_scalar=head_dim, sliding_window=_WORLD_POSITIONS,
        max_position_embeddings=_WORLD_POSITIONS)


# Vision tower and prompt encoder of each world size; a "-gemma" size shares them with its BART sibling,
# as the paper's 3.5B/11.2B share Florence-2-large's.
_WORLD_XXS = dict(vision=_world_vision((16, 32), (1, 1), 16, 4, 64), encoder=_world_encoder(64, 2, 2),
                  image_size=32)
_WORLD_XS = dict(vision=_world_vision((32, 64), (1, 1), 16, 6, 128), encoder=_world_encoder(128, 2, 4),
                 image_size=48)
_WORLD_S = dict(vision=_world_vision((32, 64), (1, 2), 16, 8, 256), encoder=_world_encoder(256, 3, 4),
                image_size=64)
_WORLD_M = dict(vision=_world_vision((48, 96, 192), (1, 1, 2), 24, 8, 384),
                encoder=_world_encoder(384, 4, 6), image_size=64)
_WORLD_L = dict(vision=_world_vision((64, 128, 256), (1, 2, 2), 32, 8, 512),
                encoder=_world_encoder(512, 6, 8), image_size=64)


SIZES: dict[str, ModelConfig] = {
    # paper 0.4B = microsoft/Florence-2-base, decoder re-sized to Gemma-2's vocabulary (reference §1.2, §2.2)
    "florenz-0.4b": ModelConfig(
        name="florenz-0.4b", vision=_FLORENCE2_BASE_VISION, encoder=_FLORENCE2_BASE_ENCODER,
        decoder=BartDecoderConfig(vocab_size=_GEMMA2_VOCAB, d_model=768, layers=6, attention_heads=12,
                                  ffn_dim=3072, max_position_embeddings=1024),
        image_size=PAPER_IMAGE_SIZE),
    # paper 1.0B = microsoft/Florence-2-large, decoder re-sized to Gemma-2's vocabulary (reference §1.2, §2.2)
    "florenz-1.0b": ModelConfig(
        name="florenz-1.0b", vision=_FLORENCE2_LARGE_VISION, encoder=_FLORENCE2_LARGE_ENCODER,
        decoder=BartDecoderConfig(vocab_size=_GEMMA2_VOCAB, d_model=1024, layers=12, attention_heads=16,
                                  ffn_dim=4096, max_position_embeddings=4096),
        image_size=PAPER_IMAGE_SIZE),
    # paper 3.5B = Florence-2-large vision + encoder, google/gemma-2-2b + cross-attention in every layer
    "florenz-3.5b": ModelConfig(
        name="florenz-3.5b", vision=_FLORENCE2_LARGE_VISION, encoder=_FLORENCE2_LARGE_ENCODER,
        decoder=_GEMMA2_2B_DECODER, image_size=PAPER_IMAGE_SIZE),
    # paper 11.2B = Florence-2-large vision + encoder, google/gemma-2-9b + cross-attention in every layer
    "florenz-11.2b": ModelConfig(
        name="florenz-11.2b", vision=_FLORENCE2_LARGE_VISION, encoder=_FLORENCE2_LARGE_ENCODER,
        decoder=_GEMMA2_9B_DECODER, image_size=PAPER_IMAGE_SIZE),
    # world sizes (this file's docstring): widths double-ish per rung, ~0.5M to ~50M parameters
    "world-xxs": ModelConfig(name="world-xxs", decoder=_world_bart_decoder(64, 2, 2), **_WORLD_XXS),
    "world-xs": ModelConfig(name="world-xs", decoder=_world_bart_decoder(128, 2, 4), **_WORLD_XS),
    "world-s": ModelConfig(name="world-s", decoder=_world_bart_decoder(256, 3, 4), **_WORLD_S),
    "world-m": ModelConfig(name="world-m", decoder=_world_bart_decoder(384, 4, 6), **_WORLD_M),
    "world-l": ModelConfig(name="world-l", decoder=_world_bart_decoder(512, 6, 8), **_WORLD_L),
    # the Gemma kind on the world: a deeper decoder than the BART sibling, as Gemma-2 is beside Florence-2
    "world-xs-gemma": ModelConfig(name="world-xs-gemma", decoder=_world_gemma2_decoder(128, 4, 4, 2),
                                  **_WORLD_XS),
    "world-s-gemma": ModelConfig(name="world-s-gemma", decoder=_world_gemma2_decoder(256, 6, 4, 2),
                                 **_WORLD_S),
    "world-m-gemma": ModelConfig(name="world-m-gemma", decoder=_world_gemma2_decoder(384, 8, 6, 2),
                                 **_WORLD_M),
}

PAPER_SIZES = ("florenz-0.4b", "florenz-1.0b", "florenz-3.5b", "florenz-11.2b")


def get_size(name: str) -> ModelConfig:
    """A fresh copy of the named size's config (callers may change it without touching the ladder)."""
    if name not in SIZES:
        raise ConfigError(f"unknown model size {name!r}; choose one of {', '.join(SIZES)} "
                          f"(`florenz model list` shows them)")
    return copy.deepcopy(SIZES[name])
