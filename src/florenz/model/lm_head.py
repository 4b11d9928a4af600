"""The tied LM head both decoder kinds end with: logits of the rows asked for, soft-capped in place.

Shapes: `B` batch, `T` decoder positions, `K` positions whose logits are asked for, `D` width, `V` vocabulary.

Training needs logits only where a label is (the collator pads targets with the ignore index), so the head
takes an optional boolean (B, T) mask and returns the (K, V) logits of those positions: on the small world
sizes the head and its soft-cap are a large share of a step, and padding a large share of the positions.
The final soft-cap cap·tanh(z / cap) is computed as 2cap·sigmoid(2z / cap) − cap in place over the head's
output: PyTorch's CPU sigmoid is ~10× faster than its tanh, and the (K, V) logits are the largest
activation of a small model's step, so every extra pass or copy over them shows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class SoftCapInPlace(torch.autograd.Function):
    """y = 2cap·sigmoid(z) − cap = cap·tanh(z / 2) written over z, for the (..., V) logits.

    z must be a fresh tensor nothing else reads (the LM head's output), so the forward needs no extra
    full-size tensor. The backward, dy/dz = 2cap·s(1 − s) = (cap² − y²) / (2cap), uses the saved output.
    """

    @staticmethod
    def cap(z: torch.Tensor, cap: float) -> torch.Tensor:
        return z.sigmoid_().mul_(2.0 * cap).sub_(cap)

    @staticmethod
    def forward(ctx, z: torch.Tensor, cap: float) -> torch.Tensor:
        ctx.mark_dirty(z)
        y = SoftCapInPlace.cap(z, cap)
        ctx.save_for_backward(y)
        ctx.cap = cap
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (y,) = ctx.saved_tensors
        return (y * y).sub_(ctx.cap ** 2).mul_(-0.5 / ctx.cap).mul_(grad), None


def lm_head(x: torch.Tensor, embedding: torch.Tensor, cap: float | None,
            positions: torch.Tensor | None = None) -> torch.Tensor:
    """Float32 logits of the tied head, soft-capped at `cap` (None: not capped).

    x (B, T, D); embedding (V, D); positions: boolean (B, T), or None for all. Returns (B, T, V), or with
    positions the (K, V) logits of its True entries in row-major order (the order of labels[positions]).
    """
    if positions is not None:
        x = x[positions]  # (K, D)
    if cap is None:
        return F.linear(x, embedding).float()
    # scaling the (..., D) input rather than the (..., V) logits by 2 / cap saves a pass over V
    logits = F.linear(x * (2.0 / cap), embedding)  # (..., V), 2 · logits / cap
    logits = logits if logits.dtype == torch.float32 else logits.float()
    # without gradients (generation) the autograd Function's bookkeeping costs more than the capping
    return SoftCapInPlace.apply(logits, cap) if torch.is_grad_enabled() else SoftCapInPlace.cap(logits, cap)


def lm_head_rows(rows: torch.Tensor, embedding_t: torch.Tensor, cap: float | None,
                 negative_cap: torch.Tensor | None) -> torch.Tensor:
    """lm_head for a generation step: rows (N, D) and the transposed embedding view (D, V) -> float32 (N, V).

    Without gradients the cap is 2 calls, sigmoid_ and one add of `negative_cap` (a 0-d float32 tensor
    holding -cap, made once per generation; None without a cap) with alpha 2cap, where lm_head's form is
    3: a small model's step costs its calls. Equal to lm_head to float32 rounding (tests/model/test_lm_head).
    """
    if cap is None:
        logits = torch.mm(rows, embedding_t)
        return logits if logits.dtype == torch.float32 else logits.float()
    logits = torch.mm(rows * (2.0 / cap), embedding_t)  # (N, V), 2 · logits / cap
    logits = logits if logits.dtype == torch.float32 else logits.float()
    if torch.is_grad_enabled():
        return SoftCapInPlace.apply(logits, cap)
    return torch.add(negative_cap, logits.sigmoid_(), alpha=2.0 * cap)
