"""Decoder A: Florence-2's BART decoder with a tied, optionally soft-capped LM head (reference §1.7).

Parameter names match transformers' `BartDecoder`: `embed_tokens`, `embed_positions`, `layernorm_embedding`,
`layers.{i}.{self_attn,encoder_attn}.{q,k,v,out}_proj`, `self_attn_layer_norm`, `encoder_attn_layer_norm`,
`fc1`, `fc2`, `final_layer_norm`. There is no `final_logits_bias` (Florence-2's is an all-zero buffer).

Shapes: `B` batch, `S` encoder length, `T` new decoder tokens, `P` tokens already cached, `D` width,
`De` encoder width, `nh` heads, `hd` head dim, `V` vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from florenz.model.attention import Kernel, resolve_attention
from florenz.model.bart import (
    POSITION_OFFSET,
    BartAttention,
    eager_attention,
    feed_forward,
    learned_positions,
    normal_init_,
)
from florenz.model.cache import KVCache
from florenz.model.config import BartDecoderConfig
from florenz.model.lm_head import lm_head, lm_head_rows


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
    heads: int


class BartGeneration(NamedTuple):
    """What a BART decoder's generation step reads, prepared once per generation."""

    layers: list[tuple[Callable[..., torch.Tensor], BartStepWeights]]  # each layer's step and its weights
    embedding: torch.Tensor  # (V, D)
    embed_norm: tuple[torch.Tensor, torch.Tensor]  # layernorm_embedding's (weight, bias)
    eps: float
    head: torch.Tensor  # (D, V), the tied embedding transposed (a view)
    cap: float | None  # final_logit_softcapping
    negative_cap: torch.Tensor | None  # -cap, 0-d, for lm_head_rows
    kernel: Kernel


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
            norm(self.final_layer_norm), self.final_layer_norm.eps, attention.num_heads)

    def step(self, x: torch.Tensor, batch: int, index: int, weights: BartStepWeights,
             self_mask: torch.Tensor | None, is_causal: bool, encoder_hidden_states: torch.Tensor | None,
             encoder_mask: torch.Tensor | None, cache: KVCache, kernel: Kernel) -> torch.Tensor:
        """forward (in eval mode) for T new tokens as rows x (B·T, D), B = batch, after the cached ones, in
        plain tensor calls on prepared weights: a generation step costs Python calls more than arithmetic
        (the same arithmetic to float32 rounding: cached steps equal forward, tests/model/test_generation.py);
        self_mask (T, P+T) or None. Returns (B·T, D)."""
        BT, D = x.shape
        B, T, nh, eps = batch, BT // batch, weights.heads, weights.eps
        width, hd = (D,), D // nh
        # queries, keys and values in one product, (B·T, 3D)
        projected = torch.addmm(weights.qkv[0], x, weights.qkv[1])
        if T == 1:  # (B, 1, 3, nh, hd) is (B, 3, nh, 1, hd) in memory: no permute
            query, keys, values = projected.view(B, 3, nh, 1, hd).unbind(1)  # (B, nh, 1, hd) each
        else:
            query, keys, values = projected.view(B, T, 3, nh, hd).permute(2, 0, 3, 1, 4).unbind(0)
        keys, values = cache.update_self(index, keys, values)  # (B, nh, P+T, hd)
        attended = _attend_rows(query, keys, values, self_mask, is_causal, kernel, BT, D)
        attended = torch.addmm(weights.out[0], attended, weights.out[1])
        x = torch.layer_norm(x + attended, width, *weights.self_norm, eps)
        if encoder_hidden_states is not None:
            cross = cache.cross[index]
            if cross is None:  # the encoder output is fixed during generation
                cross = cache.cross[index] = tuple(kv.contiguous() for kv in self.encoder_attn.keys_values(
                    encoder_hidden_states))
            query = torch.addmm(weights.cross_q[0], x, weights.cross_q[1])
            query = query.view(B, nh, 1, hd) if T == 1 else query.view(B, T, nh, hd).transpose(1, 2)
            attended = _attend_rows(query, *cross, encoder_mask, False, kernel, BT, D)
            attended = torch.addmm(weights.cross_out[0], attended, weights.cross_out[1])
            x = torch.layer_norm(x + attended, width, *weights.cross_norm, eps)
        hidden = erf_gelu(torch.addmm(weights.fc1[0], x, weights.fc1[1]))
        hidden = torch.addmm(weights.fc2[0], hidden, weights.fc2[1])
        return torch.layer_norm(x + hidden, width, *weights.final_norm, eps)


def erf_gelu(x: torch.Tensor) -> torch.Tensor:
    """F.gelu (exact, erf) as x·(1 + erf(x/√2))/2 in 4 calls: PyTorch's CPU gelu kernel costs more than
    them on a step's few rows. Equal to F.gelu to float32 rounding (tested)."""
    return torch.addcmul(x, x, torch.erf(x * 0.5 ** 0.5)).mul_(0.5)


def _attend_rows(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
                 is_causal: bool, kernel: Kernel, rows: int, width: int) -> torch.Tensor:
    """bart.attend for a generation step: query (B, nh, T, hd) -> (B·T, nh·hd) rows; one query per row
    (T = 1) is in row order already, so its heads merge by a view."""
    if kernel == "eager":
        out = eager_attention(query, keys, values, mask, is_causal, 0.0)
    else:
        out = F.scaled_dot_product_attention(query, keys, values, attn_mask=mask, is_causal=is_causal)
    return out.view(rows, width) if query.shape[2] == 1 else out.transpose(1, 2).reshape(rows, width)


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
        if cache is not None:
            return self._generation_step(input_ids, encoder_hidden_states, encoder_attention_mask, cache,
                                         logit_positions)
        T = input_ids.shape[1]
        positions = learned_positions(self.embed_positions, 0, T, "the decoder input")
        x = self.embed_tokens(input_ids) + positions  # (B, T, D)
        x = F.dropout(self.layernorm_embedding(x), self.config.dropout, self.training)
        encoder_mask = None
        if encoder_attention_mask is not None:
            encoder_mask = encoder_attention_mask.bool()[:, None, None, :]  # (B, 1, 1, S)
        kernel = resolve_attention(self.attention, x.device, "bart")
        for layer in self.layers:
            x = layer(x, None, True, encoder_hidden_states, encoder_mask, kernel)
        return lm_head(x, self.embed_tokens.weight, self.config.final_logit_softcapping, logit_positions)

    def _generation_weights(self) -> BartGeneration:
        weight = self.embed_tokens.weight
        cap = self.config.final_logit_softcapping
        return BartGeneration(
            [(layer.step, layer.step_weights()) for layer in self.layers], weight,
            (self.layernorm_embedding.weight, self.layernorm_embedding.bias), self.layernorm_embedding.eps,
            weight.t(), cap, None if cap is None else weight.new_full((), -cap, dtype=torch.float32),
            resolve_attention(self.attention, weight.device, "bart"))

    def _generation_step(self, input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor | None,
                         encoder_attention_mask: torch.Tensor | None, cache: KVCache,
                         logit_positions: torch.Tensor | None) -> torch.Tensor:
        """forward with a cache (generation, eval mode: no dropout): the layers' step on weights prepared
        once per generation, rows (B·T, D) throughout."""
        B, T = input_ids.shape
        past = cache.length
        prepared = cache.constant("bart_generation", self._generation_weights)
        positions = learned_positions(self.embed_positions, past, T, "the decoder input")  # (T, D)
        x = torch.embedding(prepared.embedding, input_ids) + positions  # (B, T, D)
        D = x.shape[2]
        x = torch.layer_norm(x.view(B * T, D), (D,), *prepared.embed_norm, prepared.eps)
        # new token t sees cached positions 0..P+t; SDPA's is_causal aligns top-left, so P > 0 needs a mask,
        # except for the usual generation step, one token after the cached ones, which sees them all
        self_mask = None
        if past > 0 and T > 1:
            self_mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)  # (T, P+T)
        encoder_mask = None
        if encoder_attention_mask is not None:  # additive, as SDPA would make it of a boolean at every call
            encoder_mask = cache.constant("bart_encoder_mask", lambda: _additive_mask(
                encoder_attention_mask, x.dtype))
        kernel = prepared.kernel
        for index, (step, weights) in enumerate(prepared.layers):
            x = step(x, B, index, weights, self_mask, past == 0, encoder_hidden_states, encoder_mask, cache,
                     kernel)
        cache.length += T
        rows = x if logit_positions is None else x[logit_positions.reshape(-1)]
        logits = lm_head_rows(rows, prepared.head, prepared.cap, prepared.negative_cap)  # (B·T or K, V)
        return logits.view(B, T, -1) if logit_positions is None else logits
