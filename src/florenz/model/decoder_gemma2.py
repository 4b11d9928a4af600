"""Decoder B: Gemma-2 with gated cross-attention to the encoder (reference §1.8).

Shapes: B batch, S encoder length, T new decoder positions, P positions already cached, t = P + T,
D width, nh/nkv query/key-value heads, g = nh / nkv queries per key-value head, hd head dim, V vocabulary.

The self-attention stack computes what transformers' `Gemma2ForCausalLM` computes (eager attention):
RMSNorm as (1 + w) in float32, embeddings × √D, RoPE, grouped-query attention scaled by
query_pre_attn_scalar^-0.5 with tanh soft-capped logits, sliding-window attention on even layers,
GELU-tanh gated MLP, four norms per layer, final norm, tied LM head and soft-capped logits.
Departures, all additive:
- every `cross_attention_every`-th layer (index % N == 0) gets gated cross-attention after self-attention:
  `h = h + tanh(gate) * PostEncNorm(CrossAttn(h, encoder))`; the gate starts at 0, so the layer starts
  as the plain Gemma-2 layer;
- `encoder_hidden_states=None` skips cross-attention entirely (text-only language modelling);
- a `KVCache` holds self-attention keys/values and the cross-attention keys/values of the first step;
  generation runs `DecoderLayer.step`, forward's operations in plain tensor calls on weights prepared once
  per generation (`StepWeights`), as a small model's step costs Python calls more than arithmetic.
Attention is written as one batched matmul per key-value head group (no copies of K/V per query head),
with the scale applied to the query and the soft-cap fused with the mask addition. Soft-caps (the final
one in model/lm_head.py) use cap·tanh(u) = 2cap·sigmoid(2u) − cap: PyTorch's CPU sigmoid is ~10× faster
than its tanh (22 ms vs 2 ms on the 512 × 8192 logits of a training step), and inside a softmax the
constant −cap drops out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.flex_attention import BlockMask

from florenz.model.attention import (
    Kernel,
    causal_block_mask,
    flex_attend,
    padding_block_mask,
    resolve_attention,
)
from florenz.model.cache import KVCache
from florenz.model.config import Gemma2DecoderConfig
from florenz.model.lm_head import lm_head, lm_head_rows


class RMSNormFunction(torch.autograd.Function):
    """Gemma's RMSNorm y = n·(1 + w), n = x·r, r = rsqrt(mean(x²) + eps), all in float32, with a closed-form
    backward: 4 full-size operations for dL/dx where autograd of the forward's 6 runs ~15 (a third of a
    training step's elementwise time). With g the gradient of y and g' = g·(1 + w):
    dL/dw = Σ g·n over all positions, dL/dx = r·(g' − n·mean(g'·n)) = g'·r − n·(mean(g'·n)·r).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        x32 = x.float()
        rstd = torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)  # (..., 1)
        normed = x32 * rstd
        scale = 1.0 + weight.float()
        ctx.save_for_backward(normed, rstd, scale)
        ctx.dtypes = x.dtype, weight.dtype
        # (x * w) is rounded once, after the float32 product: https://github.com/huggingface/transformers/pull/29402
        return (normed * scale).type_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        normed, rstd, scale = ctx.saved_tensors
        input_dtype, weight_dtype = ctx.dtypes
        grad = grad.float()
        weight_grad = None
        if ctx.needs_input_grad[1]:  # frozen Gemma-2 norms need none
            weight_grad = (grad * normed).flatten(0, -2).sum(0).to(weight_dtype)
        grad_normed = grad * scale
        mean_product = torch.linalg.vecdot(grad_normed, normed)[..., None] / normed.shape[-1]  # (..., 1)
        input_grad = torch.addcmul(grad_normed * rstd, normed, mean_product * rstd, value=-1.0)
        return input_grad.to(input_dtype), weight_grad, None


class RMSNorm(nn.Module):
    """Gemma RMSNorm: x / rms(x) * (1 + w) in float32; w is stored as an offset from 1 and starts at 0."""

    def __init__(self, width: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return RMSNormFunction.apply(x, self.weight, self.eps)

    def scale(self) -> torch.Tensor:
        """(1 + w) in float32, the factor forward multiplies by; a generation computes it once."""
        return 1.0 + self.weight.float()


class MLP(nn.Module):
    """GELU-tanh gated feed-forward: down(gelu(gate(x)) * up(x))."""

    def __init__(self, config: Gemma2DecoderConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.gelu(self.gate_proj(x), approximate="tanh") * self.up_proj(x))


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """RoPE in the HF half-split layout, x·cos + rotate_half(x)·sin with rotate_half(x1, x2) = (-x2, x1):
    rotate_half's sign sits in signed_sin = (-sin1, sin2), so one roll replaces a split, a negation and a
    cat, bitwise equal ((-a)·b = a·(-b) exactly). x (B, T, n, hd), tables (T, 1, hd) float32 -> x's dtype."""
    if x.dtype != cos.dtype:
        cos, signed_sin = cos.to(x.dtype), signed_sin.to(x.dtype)
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * signed_sin


def rope_tables(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """positions (T,) -> float32 (cos, signed_sin), each (T, 1, hd), transformers' Gemma2RotaryEmbedding's
    (cos, sin) with the first half of sin negated for apply_rotary."""
    # computed per call, not kept as a buffer, so that casting the model to bfloat16 cannot round them
    inverse_frequencies = 1.0 / theta ** (
        torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim)  # (hd/2,)
    angles = positions.float()[:, None] * inverse_frequencies  # (T, hd/2)
    angles = torch.cat((angles, angles), dim=-1)[:, None, :]  # (T, 1, hd)
    sin = angles.sin()
    return angles.cos(), torch.cat((-sin[..., :head_dim // 2], sin[..., head_dim // 2:]), dim=-1)


def attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
           scale: float, softcap: float | None) -> torch.Tensor:
    """Grouped-query attention with soft-capped logits: softmax(softcap * tanh(q·k * scale / softcap) + mask).

    query (B, T, nh, hd); keys/values (B, nkv, t, hd); mask: additive float32, broadcastable to
    (B, nkv, g, T, t), or None. Returns (B, T, nh * hd).
    """
    B, T, nh, hd = query.shape
    nkv, t = keys.shape[1], keys.shape[2]
    g = nh // nkv
    # with a cap, the scores are u = q·k · scale · 2 / softcap, the argument of the sigmoid form below
    query = query * (scale if softcap is None else scale * 2.0 / softcap)
    # query head h reads key-value head h // g (HF repeat_kv order): group the g queries of a kv head; one
    # query (a generation step) is grouped in memory already, and the permutes would be Python calls only
    grouped = (query.view(B, nkv, g, hd) if T == 1
               else query.view(B, T, nkv, g, hd).permute(0, 2, 3, 1, 4).reshape(B, nkv, g * T, hd))
    scores = grouped @ keys.transpose(-1, -2)  # (B, nkv, g·T, t)
    if softcap is not None:
        # softcap·tanh(u / 2) = 2·softcap·sigmoid(u) − softcap, and softmax ignores the constant; sigmoid
        # in float32, as bfloat16 would lose 2·softcap·2^-9 near sigmoid = 1/2
        scores = torch.sigmoid(scores if scores.dtype == torch.float32 else scores.float())
    if mask is not None:  # (T, t) or (B, 1, 1, 1, S) -> broadcast against (B, nkv, g, T, t)
        scores = scores.view(B, nkv, g, T, t)
        scores = scores + mask if softcap is None else torch.add(mask, scores, alpha=2.0 * softcap)
    elif softcap is not None:
        scores = scores * (2.0 * softcap)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32)  # softmax in float32 as HF
    probs = probs if values.dtype == torch.float32 else probs.to(values.dtype)
    out = probs.view(B, nkv, g * T, t) @ values  # (B, nkv, g*T, hd)
    if T == 1:
        return out.view(B, 1, nh * hd)
    return out.view(B, nkv, g, T, hd).permute(0, 3, 1, 2, 4).reshape(B, T, nh * hd)  # (B, T, nh*hd)


def attend_one_query(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
                     softcap: float | None) -> torch.Tensor:
    """attend for one query per row (a generation step), the query already multiplied by the scale (with a
    cap, scale · 2 / softcap): query (B, nh, 1, hd), keys/values (B, nkv, t, hd), mask additive float32
    broadcastable to (B, nkv, g, t), or None. Returns (B, nh·hd), the same operations as attend."""
    B, nkv = keys.shape[:2]
    scores = torch.matmul(query.view(B, nkv, -1, query.shape[-1]), keys.mT)  # (B, nkv, g, t)
    if softcap is not None:
        scores = (scores if scores.dtype == torch.float32 else scores.float()).sigmoid_()
        scores = scores.mul_(2.0 * softcap) if mask is None else torch.add(mask, scores, alpha=2.0 * softcap)
    elif mask is not None:
        scores = scores + mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
    probs = probs if values.dtype == torch.float32 else probs.to(values.dtype)
    return torch.matmul(probs, values).view(B, -1)  # (B, nkv, g, hd) is (B, nh·hd) in memory


# attention's kernels: the eager reference and FlexAttention (ModelConfig.attention "fused")
KERNELS = {"eager": attend, "flex": flex_attend}
# an additive float32 mask for the eager kernel, a block mask for flex; None: every key allowed
Mask = torch.Tensor | BlockMask | None


def _additive_mask(blocked: torch.Tensor) -> torch.Tensor:
    """Boolean 'may not attend' -> float32 0 / most negative float, added to attention logits."""
    most_negative = torch.finfo(torch.float32).min
    return torch.zeros(blocked.shape, device=blocked.device).masked_fill_(blocked, most_negative)


class SelfAttention(nn.Module):
    """Causal grouped-query self-attention with RoPE over a whole sequence (DecoderLayer.step generates)."""

    def __init__(self, config: Gemma2DecoderConfig) -> None:
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = (config.num_attention_heads,
                                                             config.num_key_value_heads, config.head_dim)
        self.scale = config.query_pre_attn_scalar ** -0.5
        self.softcap = config.attn_logit_softcapping
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: Mask,
                kernel: Kernel) -> torch.Tensor:
        """x (B, T, D); rope = (cos, signed_sin), each (T, 1, hd); mask (T, T) additive, or a block mask for
        the flex kernel -> (B, T, D)."""
        B, T, _ = x.shape
        cos, sin = rope
        nh, nkv, hd = self.num_heads, self.num_kv_heads, self.head_dim
        query = apply_rotary(self.q_proj(x).view(B, T, nh, hd), cos, sin)
        keys = apply_rotary(self.k_proj(x).view(B, T, nkv, hd), cos, sin).transpose(1, 2)  # (B, nkv, T, hd)
        values = self.v_proj(x).view(B, T, nkv, hd).transpose(1, 2)
        return self.o_proj(KERNELS[kernel](query, keys, values, mask, self.scale, self.softcap))


class CrossAttention(nn.Module):
    """Grouped-query attention from the decoder to the encoder: no RoPE, no causal mask (reference §1.8)."""

    def __init__(self, config: Gemma2DecoderConfig, encoder_hidden_size: int) -> None:
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = (config.num_attention_heads,
                                                             config.num_key_value_heads, config.head_dim)
        self.scale = config.query_pre_attn_scalar ** -0.5
        self.softcap = config.attn_logit_softcapping
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(encoder_hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(encoder_hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=False)

    def keys_values(self, encoder_hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of encoder_hidden (B, S, De), each (B, nkv, S, hd)."""
        B, S, _ = encoder_hidden.shape
        keys = self.k_proj(encoder_hidden).view(B, S, self.num_kv_heads, self.head_dim).transpose(1, 2)
        return keys, self.v_proj(encoder_hidden).view(B, S, self.num_kv_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, encoder_hidden: torch.Tensor, mask: Mask,
                kernel: Kernel) -> torch.Tensor:
        """x (B, T, D), encoder_hidden (B, S, De), mask (B, 1, 1, 1, S) additive, or a block mask for the
        flex kernel -> (B, T, D)."""
        B, T, _ = x.shape
        query = self.q_proj(x).view(B, T, self.num_heads, self.head_dim)
        keys, values = self.keys_values(encoder_hidden)
        return self.o_proj(KERNELS[kernel](query, keys, values, mask, self.scale, self.softcap))


class StepWeights(NamedTuple):
    """One layer's weights as a generation step reads them: the projections as transposed (in, out) views
    for torch.mm (an F.linear call is twice its dispatch cost), q/k/v stacked (the one copy: stacking the
    MLP's gate/up too would copy most of a large model's weights for a step's saving of one call), each
    norm's (1 + w), the cross-attention post-norm's times tanh(gate)."""

    qkv: torch.Tensor  # (D, (nh + 2nkv)·hd): q_proj, k_proj, v_proj
    o: torch.Tensor
    input_norm: torch.Tensor  # (1 + w) in float32, (D,)
    post_attention_norm: torch.Tensor
    cross_prenorm: torch.Tensor | None  # the cross-attention fields are None in a layer without it
    cross_q: torch.Tensor | None  # times the query factor (GemmaGeneration.query_factor): a copy
    cross_o: torch.Tensor | None
    cross_postnorm: torch.Tensor | None  # (1 + w) · tanh(encoder_attn_gate): the gate is a scale
    pre_feedforward_norm: torch.Tensor
    gate: torch.Tensor  # (D, I)
    up: torch.Tensor
    down: torch.Tensor
    post_feedforward_norm: torch.Tensor
    index: int  # the layer's, its place in the cache
    heads: tuple[int, int, int]  # nh, nkv, hd
    eps: torch.Tensor  # the norms', 0-d float32 (fused_rms_norm)
    softcap: float | None  # attention's


def fused_rms_norm(x: torch.Tensor, scale: torch.Tensor, eps: torch.Tensor,
                   residual: torch.Tensor | None = None) -> torch.Tensor:
    """RMSNorm.forward for a generation step, x·rsqrt(|x|²/D + eps)·scale in float32 with scale =
    RMSNorm.scale() and eps a 0-d float32 tensor, plus `residual` if given: 5 short calls, where
    torch.rms_norm's composite CPU kernel costs ~1.6× as much on a step's few rows (1 thread, 128 wide:
    16 vs 25 µs), and the residual sum is the last of them in float32. Equal to the module to float32
    rounding (tested). The dtype checks skip no-op casts, as a generation step's cost is its calls."""
    x32 = x if x.dtype == torch.float32 else x.float()
    norm = torch.linalg.vector_norm(x32, dim=-1, keepdim=True)  # (..., 1)
    rstd = torch.addcmul(eps, norm, norm, value=1.0 / x.shape[-1]).rsqrt_()
    if residual is not None and x.dtype == torch.float32:
        return torch.addcmul(residual, x32 * rstd, scale)
    normed = (x32 * rstd).mul_(scale)
    normed = normed if x.dtype == torch.float32 else normed.to(x.dtype)
    return normed if residual is None else residual + normed


class DecoderLayer(nn.Module):
    """Gemma-2 layer, optionally with gated cross-attention between self-attention and the MLP."""

    # the submodules and parameters a cross-attention layer adds to Gemma-2's layer
    CROSS_ATTENTION_PARTS = ("pre_encoder_attention_layernorm", "encoder_attn", "encoder_attn_gate",
                             "post_encoder_attention_layernorm")

    def __init__(self, config: Gemma2DecoderConfig, encoder_hidden_size: int, layer_index: int) -> None:
        super().__init__()
        eps = config.rms_norm_eps
        self.layer_index = layer_index
        self.is_sliding = layer_index % 2 == 0  # Gemma-2 alternates sliding (even) and full (odd) layers
        self.input_layernorm = RMSNorm(config.hidden_size, eps)
        self.self_attn = SelfAttention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, eps)
        self.has_cross_attention = layer_index % config.cross_attention_every == 0
        if self.has_cross_attention:
            self.pre_encoder_attention_layernorm = (RMSNorm(config.hidden_size, eps)
                                                    if config.cross_attention_prenorm else None)
            self.encoder_attn = CrossAttention(config, encoder_hidden_size)
            # gate 0: tanh(0) = 0, so at step 0 the layer computes exactly what the pretrained Gemma-2 did;
            # shape (1,), not a scalar, because FSDP2's fully_shard refuses 0-d parameters
            self.encoder_attn_gate = nn.Parameter(torch.zeros(1))
            self.post_encoder_attention_layernorm = RMSNorm(config.hidden_size, eps)
        self.pre_feedforward_layernorm = RMSNorm(config.hidden_size, eps)
        self.mlp = MLP(config)
        self.post_feedforward_layernorm = RMSNorm(config.hidden_size, eps)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], self_mask: Mask,
                encoder_hidden: torch.Tensor | None, encoder_mask: Mask, kernel: Kernel) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D); kernel "eager" or "flex", with masks of its form."""
        h = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), rope, self_mask,
                                                             kernel))
        if self.has_cross_attention and encoder_hidden is not None:
            # the reference feeds the raw residual stream as the query (§9.2.19); pre-norm is an ablation
            prenorm = self.pre_encoder_attention_layernorm
            query = h if prenorm is None else prenorm(h)
            crossed = self.encoder_attn(query, encoder_hidden, encoder_mask, kernel)
            h = h + torch.tanh(self.encoder_attn_gate) * self.post_encoder_attention_layernorm(crossed)
        return h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))

    def step_weights(self, query_factor: float) -> StepWeights:
        """This layer's weights as step reads them, the cross-attention query's scaled by query_factor; a
        generation prepares them once."""
        attention, mlp, cross = self.self_attn, self.mlp, self.has_cross_attention
        prenorm = self.pre_encoder_attention_layernorm if cross else None

        def transposed(*modules: nn.Linear) -> torch.Tensor:  # (in, out), several stacked along out
            weights = [module.weight for module in modules]
            return (weights[0] if len(weights) == 1 else torch.cat(weights)).t()

        return StepWeights(
            transposed(attention.q_proj, attention.k_proj, attention.v_proj), transposed(attention.o_proj),
            self.input_layernorm.scale(), self.post_attention_layernorm.scale(),
            None if prenorm is None else prenorm.scale(),
            (self.encoder_attn.q_proj.weight * query_factor).t() if cross else None,
            transposed(self.encoder_attn.o_proj) if cross else None,
            self.post_encoder_attention_layernorm.scale() * torch.tanh(self.encoder_attn_gate) if cross
            else None,
            self.pre_feedforward_layernorm.scale(),
            transposed(mlp.gate_proj), transposed(mlp.up_proj), transposed(mlp.down_proj),
            self.post_feedforward_layernorm.scale(), self.layer_index,
            (attention.num_heads, attention.num_kv_heads, attention.head_dim),
            torch.tensor(self.input_layernorm.eps, device=attention.o_proj.weight.device), attention.softcap)

    def step(self, x: torch.Tensor, batch: int, weights: StepWeights,
             rotation: tuple[torch.Tensor, torch.Tensor], self_mask: Mask,
             encoder_hidden: torch.Tensor | None, encoder_mask: Mask, cache: KVCache, kernel: Kernel,
             kernel_scale: float) -> torch.Tensor:
        """forward for T new tokens as rows x (B·T, D), B = batch, after the cached ones, in plain tensor
        calls on prepared weights: a generation step costs Python calls more than arithmetic (the same
        arithmetic to float32 rounding: cached steps equal forward, tests/model/test_generation.py).
        rotation: (cos, signed_sin) (T, nh + 2nkv, hd) over all projected heads, the queries' times the query
        factor, the values' 1 and 0 (GemmaGeneration); kernel_scale: the attention scale left for the
        kernel. Returns (B·T, D)."""
        BT = x.shape[0]
        B, T = batch, BT // batch
        (nh, nkv, hd), eps, softcap, index = weights.heads, weights.eps, weights.softcap, weights.index
        one_query = T == 1 and kernel == "eager"
        # queries, keys and values in one projection and one rotation (the values' is the identity)
        projections = torch.mm(fused_rms_norm(x, weights.input_norm, eps), weights.qkv)
        cos, sin = rotation
        projections = projections.view(B, T, nh + 2 * nkv, hd)
        rotated = torch.addcmul(projections * cos, projections.roll(hd // 2, dims=-1), sin)
        if T == 1:  # (B, 1, n, hd) is (B, n, 1, hd) in memory: heads split without transposes
            query, keys, values = rotated.view(B, nh + 2 * nkv, 1, hd).split((nh, nkv, nkv), dim=1)
        else:
            query, keys, values = rotated.split((nh, nkv, nkv), dim=2)
            keys, values = keys.transpose(1, 2), values.transpose(1, 2)  # (B, nkv, T, hd)
        keys, values = cache.update_self(index, keys, values)  # (B, nkv, t, hd)
        if one_query:
            attended = attend_one_query(query, keys, values, self_mask, softcap)
        else:
            if kernel == "flex" and cache.max_length is not None:  # the whole buffer, see _block_masks
                keys, values = cache.self_keys[index], cache.self_values[index]
            query = query.view(B, T, nh, hd)
            attended = KERNELS[kernel](query, keys, values, self_mask, kernel_scale, softcap).view(BT, -1)
        x = fused_rms_norm(torch.mm(attended, weights.o), weights.post_attention_norm, eps, residual=x)
        if weights.cross_q is not None and encoder_hidden is not None:
            cross = cache.cross[index]
            if cross is None:  # fixed while generating; contiguous, or every step would copy them
                cross = cache.cross[index] = tuple(
                    kv.contiguous() for kv in self.encoder_attn.keys_values(encoder_hidden))
            query = x if weights.cross_prenorm is None else fused_rms_norm(x, weights.cross_prenorm, eps)
            query = torch.mm(query, weights.cross_q)  # scaled by the query factor
            if one_query:
                attended = attend_one_query(query.view(B, nh, 1, hd), *cross, encoder_mask, softcap)
            else:
                attended = KERNELS[kernel](query.view(B, T, nh, hd), *cross, encoder_mask, kernel_scale,
                                           softcap).view(BT, -1)
            x = fused_rms_norm(torch.mm(attended, weights.cross_o), weights.cross_postnorm, eps, residual=x)
        hidden = fused_rms_norm(x, weights.pre_feedforward_norm, eps)
        hidden = F.gelu(torch.mm(hidden, weights.gate), approximate="tanh") * torch.mm(hidden, weights.up)
        return fused_rms_norm(torch.mm(hidden, weights.down), weights.post_feedforward_norm, eps, residual=x)


class GemmaGeneration(NamedTuple):
    """What a Gemma-2 decoder's generation step reads, prepared once per generation."""

    layers: list[tuple[Callable[..., torch.Tensor], StepWeights, bool]]  # step, its weights, is_sliding
    embedding: torch.Tensor  # (V, D)
    normalizer: torch.Tensor  # √D in the embedding dtype
    norm: torch.Tensor  # the final norm's (1 + w)
    eps: torch.Tensor  # its eps, 0-d float32
    head: torch.Tensor  # (D, V), the tied embedding transposed (a view)
    cap: float | None  # final_logit_softcapping
    negative_cap: torch.Tensor | None  # -cap, 0-d, for lm_head_rows
    kernel: Kernel
    query_factor: float  # what attention multiplies a query by: scale, with a soft-cap scale · 2 / softcap
    kernel_scale: float  # the scale a kernel is given for queries already times query_factor


class Gemma2Decoder(nn.Module):
    """Gemma-2 language model that can attend to encoder states; parameter names follow HF's `model.*`."""

    def __init__(self, config: Gemma2DecoderConfig, encoder_hidden_size: int,
                 attention: str = "auto") -> None:
        super().__init__()
        self.config = config
        self.attention = attention  # ModelConfig.attention: auto, eager or fused
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, encoder_hidden_size, i)
                                    for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # N(0, 0.02) is Gemma-2's initializer_range; norms and gates keep their zero init
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def cross_attention_parameter_names(self) -> list[str]:
        """The parameters Gemma-2 lacks: each cross-attention block's q/k/v/o, its gate and its norms.

        The one list of what is new: freezing (accounting.apply_freezing trains these and the embedding),
        LM pre-training (which leaves them untouched) and Gemma-2 loading (which keeps their init) use it.
        """
        return [f"layers.{index}.{name}" for index, layer in enumerate(self.layers)
                for name, _ in layer.named_parameters()
                if name.split(".", 1)[0] in DecoderLayer.CROSS_ATTENTION_PARTS]

    def _self_attention_mask(self, past: int, T: int, sliding: bool, device: torch.device,
                             cache: KVCache | None) -> torch.Tensor | None:
        """Additive float32 mask (T, t), queries at past..past+T-1, keys 0..past+T-1; None: all allowed."""
        # one new token sees every cached one, unless a sliding window is shorter than the cache
        if T == 1 and not (sliding and past + 1 > self.config.sliding_window):
            return None
        if cache is not None and cache.max_length is not None:  # rows of one table per generation
            table = cache.constant(f"gemma2_mask_sliding={sliding}", lambda: self._self_attention_mask(
                0, cache.max_length, sliding, device, None))  # (max_length, max_length)
            return table[past:past + T, :past + T]
        query_positions = torch.arange(past, past + T, device=device)[:, None]  # (T, 1)
        key_positions = torch.arange(past + T, device=device)[None, :]  # (1, t)
        allowed = key_positions <= query_positions
        if sliding:
            # as transformers' sliding_window_overlay: a query sees its last `sliding_window` positions
            allowed &= key_positions > query_positions - self.config.sliding_window
        return _additive_mask(~allowed)

    def _additive_masks(self, past: int, T: int, encoder_attention_mask: torch.Tensor | None,
                        cache: KVCache | None) -> tuple[torch.Tensor | None, ...]:
        """The eager kernel's (sliding (T, t), full (T, t), encoder (B, 1, 1, 1, S)) additive masks."""
        device = self.embed_tokens.weight.device
        sliding = self._self_attention_mask(past, T, True, device, cache)
        full = self._self_attention_mask(past, T, False, device, cache)
        if encoder_attention_mask is None:
            return sliding, full, None

        def padding_mask() -> torch.Tensor:
            return _additive_mask(encoder_attention_mask[:, None, None, None, :] == 0)  # (B, 1, 1, 1, S)

        encoder = padding_mask() if cache is None else cache.constant("gemma2_encoder_mask", padding_mask)
        return sliding, full, encoder

    def _block_masks(self, past: int, T: int, encoder_attention_mask: torch.Tensor | None,
                     cache: KVCache | None) -> tuple[BlockMask | None, ...]:
        """The flex kernel's (sliding, full, encoder) masks; None where every key is allowed."""
        device = self.embed_tokens.weight.device
        window = self.config.sliding_window
        # with a static cache, self-attention reads the whole buffer: one shape per generation, so compiled
        # flex is not recompiled at every step; the keys after the new ones are masked as the future
        static = cache is not None and cache.max_length is not None
        keys = cache.max_length if static else past + T
        full = None if T == 1 and not static else causal_block_mask(past, T, keys, None, device)
        # as _self_attention_mask: one new token sees every cached one unless the window is shorter
        sliding = full if past + T <= window else causal_block_mask(past, T, keys, window, device)
        encoder = None if encoder_attention_mask is None else padding_block_mask(encoder_attention_mask, T)
        return sliding, full, encoder

    def _rope(self, past: int, T: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE (cos, sin) for positions past..past+T-1, each (T, 1, hd)."""
        positions = torch.arange(past, past + T, device=device)
        return rope_tables(positions, self.config.head_dim, self.config.rope_theta)

    def forward(self, input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                encoder_attention_mask: torch.Tensor | None = None, cache: KVCache | None = None,
                logit_positions: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits.

        input_ids (B, T); encoder_hidden_states (B, S, De) or None for text-only language modelling;
        encoder_attention_mask (B, S), 1 = attend, 0 = padding, or None. With a cache, the T tokens follow
        the P = cache.length cached ones, and the cache advances by T. Returns float32 logits (B, T, V),
        soft-capped per config; with logit_positions, a boolean (B, T), only those positions' (K, V).
        """
        if cache is not None:
            return self._generation_step(input_ids, encoder_hidden_states, encoder_attention_mask, cache,
                                         logit_positions)
        T = input_ids.shape[1]
        x = self.embed_tokens(input_ids)  # (B, T, D)
        x = x * self._normalizer(x)
        rope = self._rope(0, T, input_ids.device)
        kernel = resolve_attention(self.attention, input_ids.device, "gemma2")
        if encoder_hidden_states is None:
            encoder_attention_mask = None
        masks = (self._block_masks(0, T, encoder_attention_mask, None) if kernel == "flex"
                 else self._additive_masks(0, T, encoder_attention_mask, None))
        sliding_mask, full_mask, encoder_mask = masks
        for layer in self.layers:
            x = layer(x, rope, sliding_mask if layer.is_sliding else full_mask, encoder_hidden_states,
                      encoder_mask, kernel)
        return lm_head(self.norm(x), self.embed_tokens.weight, self.config.final_logit_softcapping,
                       logit_positions)

    def _normalizer(self, x: torch.Tensor) -> torch.Tensor:
        # √D is rounded to the embedding dtype first, as HF does (sqrt(3072) becomes 55.5 in bfloat16)
        return torch.tensor(self.config.hidden_size ** 0.5, dtype=x.dtype, device=x.device)

    def _generation_weights(self) -> GemmaGeneration:
        attention, weight = self.layers[0].self_attn, self.embed_tokens.weight
        scale, softcap, cap = attention.scale, attention.softcap, self.config.final_logit_softcapping
        # attention multiplies the query by this; folded into the rotation tables and cross_q once
        query_factor = scale if softcap is None else scale * 2.0 / softcap
        return GemmaGeneration(
            [(layer.step, layer.step_weights(query_factor), layer.is_sliding) for layer in self.layers],
            weight, self._normalizer(weight), self.norm.scale(),
            torch.tensor(self.norm.eps, device=weight.device), weight.t(), cap,
            None if cap is None else weight.new_full((), -cap, dtype=torch.float32),
            resolve_attention(self.attention, weight.device, "gemma2"), query_factor, scale / query_factor)

    def _rotation(self, past: int, T: int, query_factor: float, dtype: torch.dtype,
                  cache: KVCache) -> tuple[torch.Tensor, torch.Tensor]:
        """_rotation_table's rows for positions past..past+T-1, from one table per generation when the cache
        has a max_length."""
        if cache.max_length is None:
            return self._rotation_table(past, T, query_factor, dtype)
        cos, sin = cache.constant("gemma2_rotation", lambda: self._rotation_table(
            0, cache.max_length, query_factor, dtype))
        return cos[past:past + T], sin[past:past + T]

    def _rotation_table(self, past: int, T: int, query_factor: float,
                        dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, signed_sin) for positions past..past+T-1 over all projected heads, each (T, nh + 2nkv, hd)
        in dtype: apply_rotary's tables for the keys, times query_factor for the queries, 1 and 0 for the
        values (x·1 + roll(x)·0 = x), so that one addcmul rotates all three."""
        device = self.embed_tokens.weight.device
        cos, sin = rope_tables(torch.arange(past, past + T, device=device), self.config.head_dim,
                               self.config.rope_theta)  # (T, 1, hd) each
        nh, nkv = self.config.num_attention_heads, self.config.num_key_value_heads

        def heads(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
            return torch.cat([queries.expand(-1, nh, -1), keys.expand(-1, nkv, -1),
                              values.expand(-1, nkv, -1)], dim=1).to(dtype)

        return (heads(cos * query_factor, cos, torch.ones_like(cos)),
                heads(sin * query_factor, sin, torch.zeros_like(sin)))

    def _generation_step(self, input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor | None,
                         encoder_attention_mask: torch.Tensor | None, cache: KVCache,
                         logit_positions: torch.Tensor | None) -> torch.Tensor:
        """forward with a cache (generation): the layers' step on weights prepared once per generation,
        rows (B·T, D) throughout."""
        B, T = input_ids.shape
        past = cache.length
        prepared = cache.constant("gemma2_generation", self._generation_weights)
        x = torch.embedding(prepared.embedding, input_ids).view(B * T, -1) * prepared.normalizer  # (B·T, D)
        rotation = self._rotation(past, T, prepared.query_factor, x.dtype, cache)
        kernel = prepared.kernel
        if encoder_hidden_states is None:
            encoder_attention_mask = None
        masks = (self._block_masks(past, T, encoder_attention_mask, cache) if kernel == "flex"
                 else self._additive_masks(past, T, encoder_attention_mask, cache))
        sliding_mask, full_mask, encoder_mask = masks
        if T == 1 and kernel == "eager" and encoder_mask is not None:  # attend_one_query's (B, 1, 1, S)
            encoder_mask = cache.constant("gemma2_encoder_mask_one_query", lambda: encoder_mask[:, :, :, 0])
        for step, weights, sliding in prepared.layers:
            x = step(x, B, weights, rotation, sliding_mask if sliding else full_mask, encoder_hidden_states,
                     encoder_mask, cache, kernel, prepared.kernel_scale)
        x = fused_rms_norm(x, prepared.norm, prepared.eps)
        cache.length += T
        rows = x if logit_positions is None else x[logit_positions.reshape(-1)]
        logits = lm_head_rows(rows, prepared.head, prepared.cap, prepared.negative_cap)  # (B·T or K, V)
        return logits.view(B, T, -1) if logit_positions is None else logits
