"""Token cross-entropy over target tokens and the two ways to average it over a step.

A step is `accumulation` micro-batches on each of `world_size` processes. DDP and FSDP average gradients
over processes, so each micro-batch's backward objective carries a factor that makes the step's gradient
the gradient of:
- "token": (sum of all token losses of the step) / (all target tokens of the step), the same number on
  any number of processes and any micro-batch size;
- "micro-batch": the mean over micro-batches (and processes) of each micro-batch's token mean, which is
  what the reference's HF Trainer optimises (reference §3.4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from florenz.data.collate import IGNORE_INDEX


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of token cross-entropies, number of target tokens) for logits (..., V) and labels (...), e.g.
    (B, T, V) and (B, T), or the (K, V) logits of the labelled positions and their (K,) labels."""
    loss_sum = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                               ignore_index=IGNORE_INDEX, reduction="sum")
    return loss_sum, (labels != IGNORE_INDEX).sum()


def micro_batch_objective(loss_sum: torch.Tensor, tokens: torch.Tensor, reduction: str, step_tokens: int,
                          accumulation: int, world_size: int) -> torch.Tensor:
    """The scalar to backpropagate for one micro-batch; `step_tokens` counts the whole step's targets."""
    if reduction == "token":
        return loss_sum * world_size / step_tokens
    return loss_sum / tokens / accumulation
