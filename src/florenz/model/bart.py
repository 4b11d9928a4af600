"""The pieces BART's encoder and decoder share: attention, feed-forward, learned positions and init.

Shapes: `B` batch, `T` query length, `S` key length, `D` width, `nh` heads, `hd` head dim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from florenz.errors import FlorenzError
from florenz.model.attention import Kernel

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

    def forward(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
                is_causal: bool, kernel: Kernel) -> torch.Tensor:
        """Queries from x (B, T, D) attend keys/values (B, nh, S, hd); mask boolean (True = attend) or
        additive, broadcastable to (B, nh, T, S); is_causal aligns top-left; kernel "eager" or "sdpa"."""
        query = self._heads(self.q_proj(x))  # (B, nh, T, hd)
        dropout = self.dropout if self.training else 0.0
        return self.out_proj(attend(query, keys, values, mask, is_causal, dropout, kernel))


def attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
           is_causal: bool, dropout: float, kernel: Kernel) -> torch.Tensor:
    """Attention of query (B, nh, T, hd) over keys/values (B, nh, S, hd) with BartAttention.forward's mask
    and kernel, heads merged: (B, T, nh·hd)."""
    B, nh, T, hd = query.shape
    if kernel == "eager":
        out = eager_attention(query, keys, values, mask, is_causal, dropout)
    else:
        out = F.scaled_dot_product_attention(query, keys, values, attn_mask=mask, is_causal=is_causal,
                                             dropout_p=dropout)  # (B, nh, T, hd)
    return out.transpose(1, 2).reshape(B, T, nh * hd)


def eager_attention(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
                    is_causal: bool, dropout: float) -> torch.Tensor:
    """softmax(q·kᵀ · hd^-0.5 + mask) · v written out, the reference for SDPA: query (B, nh, T, hd),
    keys/values (B, nh, S, hd), mask as BartAttention.forward's -> (B, nh, T, hd)."""
    T, S = query.shape[2], keys.shape[2]
    scores = (query * query.shape[-1] ** -0.5) @ keys.transpose(-1, -2)  # (B, nh, T, S)
    if is_causal:
        mask = torch.ones(T, S, dtype=torch.bool, device=query.device).tril()
    if mask is not None and mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask, float("-inf"))
    elif mask is not None:
        scores = scores + mask
    probs = F.dropout(torch.softmax(scores, dim=-1), dropout)
    return probs @ values


def feed_forward(fc1: nn.Linear, fc2: nn.Linear, x: torch.Tensor, activation_dropout: float,
                 training: bool) -> torch.Tensor:
    """fc1 -> GELU -> dropout -> fc2; Florence-2's activation_function is "gelu", the exact erf form."""
    return fc2(F.dropout(F.gelu(fc1(x)), activation_dropout, training))
