"""Decoder A: Florence-2's BART decoder with a tied, optionally soft-capped LM head (reference §1.7).

Parameter names match transformers' `BartDecoder`: `embed_tokens`, `embed_positions`, `layernorm_embedding`,
`layers.{i}.{self_attn,encoder_attn}.{q,k,v,out}_proj`, `self_attn_layer_norm`, `encoder_attn_layer_norm`,
`fc1`, `fc2`, `final_layer_norm`. There is no `final_logits_bias` (Florence-2's is an all-zero buffer).

Shapes: `B` batch, `S` encoder length, `T` new decoder tokens, `P` tokens already cached, `D` width,
`De` encoder width, `nh` heads, `hd` head dim, `V` vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from florenz.model.attention import Kernel, resolve_attention
from florenz.model.bart import (
    POSITION_OFFSET,
    BartAttention,
    attend,
    feed_forward,
    learned_positions,
    normal_init_,
)
from florenz.model.cache import KVCache
from florenz.model.config import BartDecoderConfig
from florenz.model.lm_head import lm_head


def _additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """attention_mask (B, S), 1 = attend -> (B, 1, 1, S): 0 where attended, -inf where not."""
    blocked = attention_mask[:, None, None, :] == 0
    return torch.zeros(blocked.shape, dtype=dtype, device=blocked.device).masked_fill_(blocked, float("-inf"))


class BartStepWeights(NamedTuple):
    """One layer's weights as a generation step reads them: (bias, transposed (in, out) weight view) pairs
    of the projections for torch.addmm (an F.linear call is twice its dispatch cost), q/k/v stacked into one
    (the one copy), and the LayerNorms' (weight, bias)."""

    qkv: tuple[torch.Tensor, torch.Tensor]  # ((3D,), (D, 3D)): q_proj, k_proj, v_proj
    out: tuple[torch.Tensor, torch.Tensor]
    self_norm: tuple[torch.Tensor, torch.Tensor]
    cross_q: tuple[torch.Tensor, torch.Tensor]
    cross_out: tuple[torch.Tensor, torch.Tensor]
    cross_norm: tuple[torch.Tensor, torch.Tensor]
    fc1: tuple[torch.Tensor, torch.Tensor]
    fc2: tuple[torch.Tensor, torch.Tensor]
    final_norm: tuple[torch.Tensor, torch.Tensor]
    eps: float  # the LayerNorms'


class BartDecoderLayer(nn.Module):
    """Post-LN: causal self-attention, cross-attention over the encoder output (skipped without one), FFN."""

    def __init__(self, config: BartDecoderConfig, encoder_hidden_size: int) -> None:
        super().__init__()
        self.self_attn = BartAttention(config.d_model, config.attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.encoder_attn = BartAttention(config.d_model, config.attention_heads, config.attention_dropout,
                                          kv_dim=encoder_hidden_size)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.fc1 = nn.Linear(config.d_model, config.ffn_dim)
        self.fc2 = nn.Linear(config.ffn_dim, config.d_model)
        self.final_layer_norm = nn.LayerNorm(config.d_model)
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout

    def _residual(self, norm: nn.LayerNorm, x: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
        return norm(x + F.dropout(branch, self.dropout, self.training))

    def forward(self, x: torch.Tensor, self_mask: torch.Tensor | None, is_causal: bool,
                encoder_hidden_states: torch.Tensor | None, encoder_mask: torch.Tensor | None,
                kernel: Kernel) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D); self_mask (T, T) or None with is_causal; kernel "eager" or "sdpa"."""
        attended = self.self_attn(x, *self.self_attn.keys_values(x), self_mask, is_causal, kernel)
        x = self._residual(self.self_attn_layer_norm, x, attended)
        if encoder_hidden_states is not None:
            encoder_kv = self.encoder_attn.keys_values(encoder_hidden_states)
            attended = self.encoder_attn(x, *encoder_kv, encoder_mask, False, kernel)
            x = self._residual(self.encoder_attn_layer_norm, x, attended)
        hidden = feed_forward(self.fc1, self.fc2, x, self.activation_dropout, self.training)
        return self._residual(self.final_layer_norm, x, hidden)

    def step_weights(self) -> BartStepWeights:
        """This layer's weights as step reads them; a generation prepares them once."""
        attention, cross = self.self_attn, self.encoder_attn

        def affine(*modules: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:  # (bias, (in, out) weight)
            biases, weights = [module.bias for module in modules], [module.weight for module in modules]
            if len(modules) == 1:
                return biases[0], weights[0].t()  # a view
            return torch.cat(biases), torch.cat(weights).t()

        def norm(module: nn.LayerNorm) -> tuple[torch.Tensor, torch.Tensor]:
            return module.weight, module.bias

        return BartStepWeights(
            affine(attention.q_proj, attention.k_proj, attention.v_proj), affine(attention.out_proj),
            norm(self.self_attn_layer_norm), affine(cross.q_proj), affine(cross.out_proj),
            norm(self.encoder_attn_layer_norm), affine(self.fc1), affine(self.fc2),
            norm(self.final_layer_norm), self.final_layer_norm.eps)

    def step(self, x: torch.Tensor, batch: int, index: int, weights: BartStepWeights,
             self_mask: torch.Tensor | None, is_causal: bool, encoder_hidden_states: torch.Tensor | None,
             encoder_mask: torch.Tensor | None, cache: KVCache, kernel: Kernel) -> torch.Tensor:
        """forward (in eval mode) for T new tokens as rows x (B·T, D), B = batch, after the cached ones, in
        plain tensor calls on prepared weights: a generation step costs Python calls more than arithmetic
        (the same operations: cached steps equal forward, tests/model/test_generation.py); self_mask
        (T, P+T) or None. Returns (B·T, D)."""
        D = x.shape[1]
        B, T = batch, x.shape[0] // batch
        nh = self.self_attn.num_heads
        width = (D,)
        # queries, keys and values in one projection
        projected = torch.addmm(weights.qkv[0], x, weights.qkv[1]).view(B, T, 3, nh, D // nh)  # (B,T,3,nh,hd)
        query, keys, values = projected.permute(2, 0, 3, 1, 4).unbind(0)  # (B, nh, T, hd) each
        keys, values = cache.update_self(index, keys, values)  # (B, nh, P+T, hd)
        attended = attend(query, keys, values, self_mask, is_causal, 0.0, kernel).view(B * T, D)
        x = F.layer_norm(x + torch.addmm(weights.out[0], attended, weights.out[1]), width, *weights.self_norm,
                         weights.eps)
        if encoder_hidden_states is not None:
            if cache.cross[index] is None:  # the encoder output is fixed during generation
                cache.cross[index] = self.encoder_attn.keys_values(encoder_hidden_states)
            query = torch.addmm(weights.cross_q[0], x, weights.cross_q[1]).view(B, T, nh, D // nh)
            attended = attend(query.transpose(1, 2), *cache.cross[index], encoder_mask, False, 0.0, kernel)
            crossed = torch.addmm(weights.cross_out[0], attended.view(B * T, D), weights.cross_out[1])
            x = F.layer_norm(x + crossed, width, *weights.cross_norm, weights.eps)
        hidden = torch.addmm(weights.fc2[0], F.gelu(torch.addmm(weights.fc1[0], x, weights.fc1[1])),
                             weights.fc2[1])
        return F.layer_norm(x + hidden, width, *weights.final_norm, weights.eps)


class BartDecoder(nn.Module):
    """Learned positions, embedding LayerNorm, post-LN layers, LM head tied to `embed_tokens`."""

    def __init__(self, config: BartDecoderConfig, encoder_hidden_size: int, attention: str = "auto") -> None:
        super().__init__()
        self.config = config
        self.attention = attention  # ModelConfig.attention: auto, eager or fused
        self.num_layers = config.layers
        # no padding_idx: padded decoder inputs only follow <eos>, so nothing is ever predicted from them
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.embed_positions = nn.Embedding(config.max_position_embeddings + POSITION_OFFSET, config.d_model)
        self.layernorm_embedding = nn.LayerNorm(config.d_model)
        self.layers = nn.ModuleList(BartDecoderLayer(config, encoder_hidden_size)
                                    for _ in range(config.layers))
        normal_init_(self)

    def cross_attention_parameter_names(self) -> list[str]:
        """The parameters only cross-attention uses (encoder_attn and its LayerNorm), which LM pre-training
        without an encoder leaves untouched; pretrained in Florence-2."""
        return [f"layers.{index}.{name}" for index, layer in enumerate(self.layers)
                for name, _ in layer.named_parameters() if name.startswith("encoder_attn")]

    def forward(self, input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                encoder_attention_mask: torch.Tensor | None = None, cache: KVCache | None = None,
                logit_positions: torch.Tensor | None = None) -> torch.Tensor:
        """Target ids (B, T) -> float32 logits (B, T, V), or with logit_positions, a boolean (B, T), only
        those positions' (K, V).

        encoder_hidden_states (B, S, De) with encoder_attention_mask (B, S) (1 = token), or None for
        text-only language modelling. With a cache, the T tokens follow the P = cache.length cached ones,
        and the cache advances by T. The tied head's logits are soft-capped per config (Gemma-2's final
        soft-cap, which the reference also applies to BART, §1.1).
        """
        T = input_ids.shape[1]
        past = 0 if cache is None else cache.length
        positions = learned_positions(self.embed_positions, past, T, "the decoder input")
        x = self.embed_tokens(input_ids) + positions  # (B, T, D)
        x = F.dropout(self.layernorm_embedding(x), self.config.dropout, self.training)
        # new token t sees cached positions 0..P+t; SDPA's is_causal aligns top-left, so P > 0 needs a mask,
        # except for the usual generation step, one token after the cached ones, which sees them all
        self_mask = None
        if past > 0 and T > 1:
            self_mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)  # (T, P+T)
        encoder_mask = None
        if encoder_attention_mask is not None:
            if cache is None:
                encoder_mask = encoder_attention_mask.bool()[:, None, None, :]  # (B, 1, 1, S)
            else:  # once per generation, additive as SDPA would make it of a boolean mask at every call
                encoder_mask = cache.constant("bart_encoder_mask", lambda: _additive_mask(
                    encoder_attention_mask, x.dtype))
        kernel = resolve_attention(self.attention, x.device, "bart")
        if cache is None:
            for layer in self.layers:
                x = layer(x, self_mask, True, encoder_hidden_states, encoder_mask, kernel)
        else:  # generation: the layers' step on weights prepared once per generation
            weights = cache.constant("bart_step_weights", lambda: [layer.step_weights()
                                                                   for layer in self.layers])
            B, D = x.shape[0], x.shape[2]
            x = x.view(B * T, D)  # rows, as torch.addmm takes them
            for index, (layer, layer_weights) in enumerate(zip(self.layers, weights)):
                x = layer.step(x, B, index, layer_weights, self_mask, past == 0, encoder_hidden_states,
                               encoder_mask, cache, kernel)
            x = x.view(B, T, D)
            cache.length += T
        return lm_head(x, self.embed_tokens.weight, self.config.final_logit_softcapping, logit_positions)
