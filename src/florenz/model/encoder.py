"""The prompt encoder: a BART-style post-LN transformer over [image tokens ; prompt tokens] (reference §1.6).

Parameter names match transformers' `BartEncoder` (`embed_positions`, `layernorm_embedding`,
`layers.{i}.self_attn.{q,k,v,out}_proj`, `self_attn_layer_norm`, `fc1`, `fc2`, `final_layer_norm`).
The encoder has its own prompt embedding table; Florence-2 shares one with its decoder, we do not (§1.5).

Shapes: `B` batch, `N` image tokens, `L` prompt tokens, `S = N + L` encoder length, `T` query length,
`D` width, `nh` heads, `hd` head dim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from florenz.model.attention import Kernel, resolve_attention
from florenz.model.bart import (
    POSITION_OFFSET,
    BartAttention,
    feed_forward,
    learned_positions,
    normal_init_,
)
from florenz.model.config import EncoderConfig


class BartEncoderLayer(nn.Module):
    """Post-LN: x = LN(x + SelfAttn(x)); x = LN(x + FFN(x))."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.self_attn = BartAttention(config.d_model, config.attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.fc1 = nn.Linear(config.d_model, config.ffn_dim)
        self.fc2 = nn.Linear(config.ffn_dim, config.d_model)
        self.final_layer_norm = nn.LayerNorm(config.d_model)
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor, kernel: Kernel) -> torch.Tensor:  # (B, S, D)
        keys, values = self.self_attn.keys_values(x)
        attended = self.self_attn(x, keys, values, mask, False, kernel)
        x = self.self_attn_layer_norm(x + F.dropout(attended, self.dropout, self.training))
        hidden = feed_forward(self.fc1, self.fc2, x, self.activation_dropout, self.training)
        return self.final_layer_norm(x + F.dropout(hidden, self.dropout, self.training))


class BartEncoder(nn.Module):
    """Learned positions over the whole [image ; prompt] sequence, embedding LayerNorm, post-LN layers."""

    def __init__(self, config: EncoderConfig, attention: str = "auto") -> None:
        super().__init__()
        self.config = config
        self.attention = attention  # ModelConfig.attention: auto, eager or fused
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.embed_positions = nn.Embedding(config.max_position_embeddings + POSITION_OFFSET, config.d_model)
        self.layernorm_embedding = nn.LayerNorm(config.d_model)
        self.layers = nn.ModuleList(BartEncoderLayer(config) for _ in range(config.layers))
        normal_init_(self)

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Embedded [image ; prompt] (B, S, D) and its mask (B, S) (1 = token, 0 = padding) -> (B, S, D)."""
        S = inputs_embeds.shape[1]
        x = inputs_embeds + learned_positions(self.embed_positions, 0, S, "the [image ; prompt] sequence")
        x = F.dropout(self.layernorm_embedding(x), self.config.dropout, self.training)
        mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, S): every query sees the unpadded keys
        kernel = resolve_attention(self.attention, x.device, "bart")
        for layer in self.layers:
            x = layer(x, mask, kernel)
        return x
