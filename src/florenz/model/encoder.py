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

from florenz.errors import FlorenzError
from florenz.model.config import EncoderConfig

# BART's learned position tables start at row 2, a fairseq legacy kept by every BART checkpoint
POSITION_OFFSET = 2


def normal_init_(module: nn.Module, std: float = 0.02) -> None:
    """BART's init (`init_std` 0.02): Linear and Embedding weights ~ N(0, std), biases and padding rows 0."""
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Embedding)):
            nn.init.normal_(sub.weight, std=std)
        if isinstance(sub, nn.Linear) and sub.bias is not None:
            nn.init.zeros_(sub.bias)
        if isinstance(sub, nn.Embedding) and sub.padding_idx is not None:
            nn.init.zeros_(sub.weight[sub.padding_idx])


def learned_positions(table: nn.Embedding, start: int, length: int, what: str) -> torch.Tensor:
    """Rows for positions start..start+length-1 of a BART position table: (length, D)."""
    limit = table.num_embeddings - POSITION_OFFSET
    if start + length > limit:
        raise FlorenzError(f"{what} of {start + length} tokens exceeds max_position_embeddings={limit}; "
                           f"shorten the input or raise max_position_embeddings in the model config")
    return table.weight[POSITION_OFFSET + start: POSITION_OFFSET + start + length]


class BartAttention(nn.Module):
    """Multi-head attention with biases and scale hd^-0.5; keys/values are projected separately so that
    a decoder can cache them."""

    def __init__(self, d_model: int, num_heads: int, dropout: float, kv_dim: int | None = None) -> None:
        super().__init__()
        if d_model % num_heads:
            raise FlorenzError(f"width {d_model} is not divisible by {num_heads} attention heads; "
                               f"choose a head count that divides the width")
        self.num_heads = num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(kv_dim or d_model, d_model)
        self.v_proj = nn.Linear(kv_dim or d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        return x.view(B, T, self.num_heads, D // self.num_heads).transpose(1, 2)  # (B, nh, T, hd)

    def keys_values(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of states (B, S, Dkv), each (B, nh, S, hd)."""
        return self._heads(self.k_proj(states)), self._heads(self.v_proj(states))

    def forward(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        """Queries from x (B, T, D) attend keys/values (B, nh, S, hd); mask is boolean, True = attend."""
        B, T, D = x.shape
        out = F.scaled_dot_product_attention(
            self._heads(self.q_proj(x)), keys, values, attn_mask=mask, is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hd)
        return self.out_proj(out.transpose(1, 2).reshape(B, T, D))


def feed_forward(fc1: nn.Linear, fc2: nn.Linear, x: torch.Tensor, activation_dropout: float,
                 training: bool) -> torch.Tensor:
    """fc1 -> GELU -> dropout -> fc2; Florence-2's activation_function is "gelu", the exact erf form."""
    return fc2(F.dropout(F.gelu(fc1(x)), activation_dropout, training))


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

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B, S, D)
        keys, values = self.self_attn.keys_values(x)
        attended = self.self_attn(x, keys, values, mask)
        x = self.self_attn_layer_norm(x + F.dropout(attended, self.dropout, self.training))
        hidden = feed_forward(self.fc1, self.fc2, x, self.activation_dropout, self.training)
        return self.final_layer_norm(x + F.dropout(hidden, self.dropout, self.training))


class BartEncoder(nn.Module):
    """Learned positions over the whole [image ; prompt] sequence, embedding LayerNorm, post-LN layers."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
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
        for layer in self.layers:
            x = layer(x, mask)
        return x
