"""Parameter and compute accounting: P, Pt, the freezing policy, forward FLOPs F and training compute C.

The paper's compute measure (reference §5.3) is C = S · F · (1 + Pt/P): S seen samples, F the forward cost
of one sample, P all parameters and Pt the trainable ones; (1 + Pt/P) is the paper's factor for the
forward and the backward pass together. Two fixes to the reference:
- Pt is the set that training really updates (`apply_freezing`), not a count with the Florence-2 decoder
  frozen (§9.2.2);
- F is in FLOPs, counted as 2 × multiply-accumulates of every matmul and convolution (attention score and
  value products included, masked or padded positions too, since they are computed); norms, softmax,
  activations and embedding lookups are not counted. The reference's fvcore count is in MACs: F_ref = F/2.

Everything here is derived from a `ModelConfig` alone and checked in tests against the module's own
parameter count and a measured `torch.utils.flop_counter` count.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from florenz.model.config import (
    BartDecoderConfig,
    EncoderConfig,
    Gemma2DecoderConfig,
    ModelConfig,
    VisionConfig,
)

if TYPE_CHECKING:  # torch stays out of the import, so `florenz model list` and `--help` start fast
    from torch import nn

# Submodules of FlorenzModel that form the frozen image side: the DaViT and the image adapter (§1.11).
VISION_MODULES = ("vision_tower", "image_projection", "image_proj_norm", "image_position_embed")


# --- parameters ---------------------------------------------------------------------------------------

def _linear(fan_in: int, fan_out: int, bias: bool = True) -> int:
    return fan_in * fan_out + (fan_out if bias else 0)


def _layer_norm(width: int) -> int:
    return 2 * width


def vision_parameters(vision: VisionConfig) -> int:
    """DaViT: per stage a patch conv + LayerNorm, then (spatial, channel) block pairs."""
    total = 0
    in_channels = 3
    for dim, depth, kernel, prenorm in zip(vision.embed_dims, vision.depths, vision.patch_size,
                                           vision.patch_prenorm):
        total += in_channels * dim * kernel * kernel + dim  # patch conv
        total += _layer_norm(in_channels if prenorm else dim)
        hidden = int(dim * vision.mlp_ratio)
        block = (2 * (dim * 9 + dim)  # two 3x3 depthwise position convs
                 + 2 * _layer_norm(dim)
                 + _linear(dim, 3 * dim) + _linear(dim, dim)  # window or channel attention
                 + _linear(dim, hidden) + _linear(hidden, dim))
        total += 2 * depth * block  # one spatial and one channel block per depth step
        in_channels = dim
    return total


def adapter_parameters(vision: VisionConfig) -> int:
    """Image adapter: 2-D row/column position tables, projection (no bias), LayerNorm."""
    width = vision.embed_dims[-1]
    return (vision.max_grid_side * width + _linear(width, vision.projection_dim, bias=False)
            + _layer_norm(vision.projection_dim))


def _bart_layer(d_model: int, ffn_dim: int, cross_width: int | None) -> int:
    attention = 4 * _linear(d_model, d_model)
    cross = 0 if cross_width is None else (2 * _linear(d_model, d_model) + 2 * _linear(cross_width, d_model)
                                           + _layer_norm(d_model))
    return attention + _layer_norm(d_model) + cross + _linear(d_model, ffn_dim) + _linear(ffn_dim, d_model) \
        + _layer_norm(d_model)


def encoder_parameters(encoder: EncoderConfig) -> int:
    """BART encoder: prompt embedding, positions (+2 rows), embedding LayerNorm, post-LN layers."""
    d = encoder.d_model
    return (encoder.vocab_size * d + (encoder.max_position_embeddings + 2) * d + _layer_norm(d)
            + encoder.layers * _bart_layer(d, encoder.ffn_dim, None))


def bart_decoder_parameters(decoder: BartDecoderConfig, encoder_width: int) -> int:
    """BART decoder; the LM head is tied to the embedding and counted once."""
    return (decoder.vocab_size * decoder.d_model + (decoder.max_position_embeddings + 2) * decoder.d_model
            + _layer_norm(decoder.d_model)
            + decoder.layers * _bart_layer(decoder.d_model, decoder.ffn_dim, encoder_width))


def gemma2_cross_attention_parameters(decoder: Gemma2DecoderConfig, encoder_width: int) -> int:
    """All gated cross-attention blocks: q/k/v/o (no bias), the scalar gate, PostEncNorm (and the optional
    query pre-norm) per block."""
    query_width = decoder.num_attention_heads * decoder.head_dim
    key_width = decoder.num_key_value_heads * decoder.head_dim
    norms = 2 if decoder.cross_attention_prenorm else 1
    H = decoder.hidden_size
    block = 2 * H * query_width + 2 * encoder_width * key_width + 1 + norms * H
    return _cross_attention_layers(decoder) * block


def _cross_attention_layers(decoder: Gemma2DecoderConfig) -> int:
    return math.ceil(decoder.num_hidden_layers / decoder.cross_attention_every)


def gemma2_decoder_parameters(decoder: Gemma2DecoderConfig, encoder_width: int) -> int:
    """Gemma-2 (RMSNorm weights only, no biases, tied head) plus its cross-attention blocks."""
    H = decoder.hidden_size
    query_width = decoder.num_attention_heads * decoder.head_dim
    key_width = decoder.num_key_value_heads * decoder.head_dim
    layer = 2 * H * query_width + 2 * H * key_width + 3 * H * decoder.intermediate_size + 4 * H
    return (decoder.vocab_size * H + decoder.num_hidden_layers * layer + H
            + gemma2_cross_attention_parameters(decoder, encoder_width))


def parameter_breakdown(config: ModelConfig) -> dict[str, int]:
    """Parameters per part: vision, adapter, encoder, decoder (with its embedding and cross-attention)."""
    decoder = config.decoder
    width = config.encoder.d_model
    if isinstance(decoder, Gemma2DecoderConfig):
        decoder_total = gemma2_decoder_parameters(decoder, width)
        cross = gemma2_cross_attention_parameters(decoder, width)
        embedding = decoder.vocab_size * decoder.hidden_size
    else:
        decoder_total = bart_decoder_parameters(decoder, width)
        cross = decoder.layers * (_bart_layer(decoder.d_model, decoder.ffn_dim, width)
                                  - _bart_layer(decoder.d_model, decoder.ffn_dim, None))
        embedding = decoder.vocab_size * decoder.d_model
    return {"vision": vision_parameters(config.vision), "adapter": adapter_parameters(config.vision),
            "encoder": encoder_parameters(config.encoder), "decoder": decoder_total,
            "decoder_embedding": embedding, "decoder_cross_attention": cross}


def parameter_counts(config: ModelConfig, train_vision: bool = False) -> tuple[int, int]:
    """(P, Pt) from the config alone, under the paper's freezing policy (see `apply_freezing`)."""
    parts = parameter_breakdown(config)
    total = parts["vision"] + parts["adapter"] + parts["encoder"] + parts["decoder"]
    trainable = parts["encoder"]
    if isinstance(config.decoder, Gemma2DecoderConfig):
        trainable += parts["decoder_embedding"] + parts["decoder_cross_attention"]
    else:
        trainable += parts["decoder"]
    if train_vision:
        trainable += parts["vision"] + parts["adapter"]
    return total, trainable


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(P, Pt) of a built model; a tied/shared tensor is one parameter and counts once."""
    parameters = list(model.parameters())  # `parameters()` yields each shared Parameter once
    return (sum(p.numel() for p in parameters), sum(p.numel() for p in parameters if p.requires_grad))


# --- freezing -----------------------------------------------------------------------------------------

def trained_decoder_parameter_names(decoder: nn.Module) -> set[str]:
    """The decoder parameters training updates (§1.11): the BART kind trains whole (`freeze_decoder=False`
    for Florence-2); the Gemma kind trains its new cross-attention blocks (the decoder's own list) and the
    embedding, tied to the LM head, while all of Gemma-2's own layers stay frozen."""
    if decoder.config.kind == "gemma2":
        return set(decoder.cross_attention_parameter_names()) | {"embed_tokens.weight"}
    return {name for name, _ in decoder.named_parameters()}


def apply_freezing(model: nn.Module, train_vision: bool = False) -> None:
    """Set `requires_grad` by the paper's policy (reference §1.11) and put the frozen vision side in eval.

    Vision tower and image adapter: frozen and in eval mode (no drop-path, §9.2.12) unless `train_vision`.
    Encoder (embeddings and positions included): trained. Decoder: BART kind trained whole; Gemma kind
    trains only its gated cross-attention blocks and the (tied) embedding / LM head.
    """
    trained_decoder = trained_decoder_parameter_names(model.decoder)
    for name, parameter in model.named_parameters():
        module, _, rest = name.partition(".")
        if module in VISION_MODULES:
            parameter.requires_grad_(train_vision)
        elif module == "decoder":
            parameter.requires_grad_(rest in trained_decoder)
        else:
            parameter.requires_grad_(True)
    for module_name in VISION_MODULES:
        getattr(model, module_name).train(train_vision and model.training)


# --- forward FLOPs ------------------------------------------------------------------------------------

def _padded(side: int, window: int) -> int:
    return -(-side // window) * window


def vision_flops(vision: VisionConfig, image_size: int) -> float:
    """DaViT + adapter forward FLOPs for one image; window attention runs on the zero-padded map (§1.3)."""
    flops = 0.0
    side, in_channels = image_size, 3
    stages = zip(vision.embed_dims, vision.depths, vision.num_groups, vision.patch_size, vision.patch_stride,
                 vision.patch_padding)
    for dim, depth, groups, kernel, stride, padding in stages:
        side = (side + 2 * padding - kernel) // stride + 1
        tokens = side * side
        flops += 2 * tokens * dim * in_channels * kernel * kernel  # patch conv
        padded_tokens = _padded(side, vision.window_size) ** 2
        window_tokens = vision.window_size ** 2
        hidden = int(dim * vision.mlp_ratio)
        position_convs = 2 * 2 * tokens * dim * 9  # two depthwise 3x3 convs per block
        mlp = 2 * 2 * tokens * dim * hidden
        spatial = (position_convs + mlp + 2 * padded_tokens * 4 * dim * dim  # qkv + proj on padded windows
                   + 2 * 2 * padded_tokens * window_tokens * dim)  # scores + values within each window
        channel = (position_convs + mlp + 2 * tokens * 4 * dim * dim
                   + 2 * 2 * tokens * dim * (dim // groups))  # a (C/g × C/g) product per group
        flops += depth * (spatial + channel)
        in_channels = dim
    image_tokens = 1 + side * side
    return flops + 2 * image_tokens * vision.embed_dims[-1] * vision.projection_dim  # projection


def encoder_flops(encoder: EncoderConfig, sequence: int) -> float:
    """BART encoder over S = N + L tokens."""
    d = encoder.d_model
    attention = 2 * sequence * 4 * d * d + 2 * 2 * sequence * sequence * d
    return encoder.layers * (attention + 2 * 2 * sequence * d * encoder.ffn_dim)


def bart_decoder_flops(decoder: BartDecoderConfig, encoder_width: int, sequence: int, target: int) -> float:
    """BART decoder over T target tokens attending to S encoder tokens, with its LM head."""
    d = decoder.d_model
    self_attention = 2 * target * 4 * d * d + 2 * 2 * target * target * d
    cross_attention = (2 * target * 2 * d * d + 2 * sequence * 2 * encoder_width * d
                       + 2 * 2 * target * sequence * d)
    mlp = 2 * 2 * target * d * decoder.ffn_dim
    return decoder.layers * (self_attention + cross_attention + mlp) + 2 * target * d * decoder.vocab_size


def gemma2_decoder_flops(decoder: Gemma2DecoderConfig, encoder_width: int, sequence: int,
                         target: int) -> float:
    """Gemma-2 over T target tokens (sliding windows are masks: full T×T scores), cross-attention, LM head."""
    H = decoder.hidden_size
    query_width = decoder.num_attention_heads * decoder.head_dim
    key_width = decoder.num_key_value_heads * decoder.head_dim
    self_attention = (2 * target * (2 * H * query_width + 2 * H * key_width)
                      + 2 * 2 * target * target * query_width)
    mlp = 2 * target * 3 * H * decoder.intermediate_size
    cross_attention = (2 * target * 2 * H * query_width + 2 * sequence * 2 * encoder_width * key_width
                       + 2 * 2 * target * sequence * query_width)
    return (decoder.num_hidden_layers * (self_attention + mlp)
            + _cross_attention_layers(decoder) * cross_attention + 2 * target * H * decoder.vocab_size)


def forward_flops_breakdown(config: ModelConfig, image_size: int | None = None, prompt_tokens: int = 128,
                            target_tokens: int = 128) -> dict[str, float]:
    """Forward FLOPs of one sample per part: vision (with adapter), encoder, decoder (with LM head)."""
    image_size = config.image_size if image_size is None else image_size
    sequence = config.vision.num_image_tokens(image_size) + prompt_tokens
    decoder = config.decoder
    width = config.encoder.d_model
    if isinstance(decoder, Gemma2DecoderConfig):
        decoder_flops = gemma2_decoder_flops(decoder, width, sequence, target_tokens)
    else:
        decoder_flops = bart_decoder_flops(decoder, width, sequence, target_tokens)
    return {"vision": vision_flops(config.vision, image_size),
            "encoder": encoder_flops(config.encoder, sequence), "decoder": decoder_flops}


def forward_flops(config: ModelConfig, image_size: int | None = None, prompt_tokens: int = 128,
                  target_tokens: int = 128) -> float:
    """F: forward FLOPs (2 × MACs) of one sample at the given lengths; defaults follow the paper's
    measurement (reference §5.3: the model's image size, 128 prompt and 128 target tokens)."""
    return sum(forward_flops_breakdown(config, image_size, prompt_tokens, target_tokens).values())


def training_compute(seen_samples: float, flops_per_sample: float, parameters: int,
                     trainable_parameters: int) -> float:
    """C = S · F · (1 + Pt/P) in FLOPs (reference §5.3), with Pt the parameters training really updates."""
    return seen_samples * flops_per_sample * (1 + trainable_parameters / parameters)
