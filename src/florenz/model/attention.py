"""Which attention kernel runs, and the FlexAttention pieces of Gemma-2's fused path.

`ModelConfig.attention` picks one of:
- "eager": attention written out as matmuls and a softmax, the reference every other path is tested against
  (tests/model/test_attention.py: forward, gradients and cached generation, fp32, 1e-5);
- "fused": PyTorch's fused kernels: scaled_dot_product_attention (SDPA) for BART-style attention (the
  encoder and the BART decoder), FlexAttention for Gemma-2, whose soft-capped logits SDPA cannot express:
  the soft-cap is FlexAttention's score_mod, the causal, sliding-window and padding masks its block masks;
- "auto": fused on CUDA; on CPU the path measured faster there (CPU_AUTO).

FlexAttention on CPU (PyTorch 2.13) runs forward only: it refuses inputs that require grad, and without
torch.compile it materialises the scores (an unfused reference). On CUDA it is compiled, once per shape.

Shapes: `B` batch, `T` queries, `P` positions already cached, `t = P + T` keys, `S` encoder length.
"""

from __future__ import annotations

import functools
from typing import Literal

import torch
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

from florenz.errors import FlorenzError

Kernel = Literal["eager", "sdpa", "flex"]

# The kernel auto picks on CPU. BART-style: SDPA, 1.00-1.03x eager (benchmarks/model_throughput.py,
# world-s fp32 training steps interleaved, batch 16, 2 threads on a loaded machine, 2026-12-01); Gemma-2:
# eager, as CPU FlexAttention has no backward and runs unfused.
CPU_AUTO: dict[str, Kernel] = {"bart": "sdpa", "gemma2": "eager"}
FUSED: dict[str, Kernel] = {"bart": "sdpa", "gemma2": "flex"}


def resolve_attention(requested: str, device: torch.device, kind: Literal["bart", "gemma2"]) -> Kernel:
    """The kernel for `requested` ("auto", "eager" or "fused") on `device` for BART-style or Gemma-2
    attention."""
    if requested == "eager":
        return "eager"
    if requested == "fused" or device.type == "cuda":
        return FUSED[kind]
    if requested == "auto":
        return CPU_AUTO[kind]
    raise FlorenzError(f"attention {requested!r} is not one of auto, eager, fused; set the model config's "
                       f"attention to one of them")


@functools.cache
def _compiled_flex_attention():
    # FlexAttention's speed comes from the kernel torch.compile generates; uncompiled it is a dense reference
    return torch.compile(flex_attention, dynamic=False)


def flex_attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, block_mask: BlockMask | None,
                scale: float, softcap: float | None) -> torch.Tensor:
    """softmax(softcap · tanh(q·k · scale / softcap), masked) · v through FlexAttention.

    query (B, T, nh, hd); keys/values (B, nkv, t, hd) (query head h reads key-value head h // (nh / nkv));
    block_mask None: every key allowed. Returns (B, T, nh · hd).
    """
    B, T, nh, hd = query.shape
    if query.device.type == "cpu" and torch.is_grad_enabled() and any(
            x.requires_grad for x in (query, keys, values)):
        raise FlorenzError("FlexAttention has no backward on CPU in PyTorch 2.13; train on CPU with the "
                           "model config's attention set to auto or eager (fused is for CUDA)")

    def soft_cap(score, batch, head, query_index, key_index):
        return softcap * torch.tanh(score / softcap)

    attention = _compiled_flex_attention() if query.device.type == "cuda" else flex_attention
    out = attention(query.transpose(1, 2), keys, values, score_mod=None if softcap is None else soft_cap,
                    block_mask=block_mask, scale=scale, enable_gqa=True)  # (B, nh, T, hd)
    return out.transpose(1, 2).reshape(B, T, nh * hd)


def causal_block_mask(past: int, T: int, keys: int, sliding_window: int | None,
                      device: torch.device) -> BlockMask:
    """Queries at positions past..past+T-1 see keys 0..their own position of `keys` >= past + T, and with a
    window only the last `sliding_window` of them (transformers' sliding_window_overlay)."""
    def causal(batch, head, query_index, key_index):
        position = query_index + past
        allowed = key_index <= position
        if sliding_window is not None:
            allowed = allowed & (key_index > position - sliding_window)
        return allowed

    return create_block_mask(causal, None, None, T, keys, device=device)


def padding_block_mask(attention_mask: torch.Tensor, T: int) -> BlockMask:
    """T queries see the unpadded keys of attention_mask (B, S) (1 = token, 0 = padding)."""
    keep = attention_mask.bool()

    def unpadded(batch, head, query_index, key_index):
        return keep[batch, key_index]

    return create_block_mask(unpadded, keep.shape[0], None, T, keep.shape[1], device=keep.device)
