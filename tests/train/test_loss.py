"""The loss and its reductions on one process, against F.cross_entropy's own means; the same reductions on two
processes (DDP and FSDP2 averaging gradients) are checked in test_distributed.py."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from florenz.train.loss import micro_batch_objective, token_loss_sum


def test_token_loss_sum_ignores_padding_and_matches_log_softmax_by_hand():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # (1, 2, 3)
    labels = torch.tensor([[0, -100]])
    loss_sum, tokens = token_loss_sum(logits, labels)
    assert tokens.item() == 1
    expected = -(2.0 - math.log(math.exp(2) + 2))
    assert abs(loss_sum.item() - expected) < 1e-6


def _accumulated_gradient(model, micro_batches, reduction):
    """One process accumulating the step's micro-batches, as the trainer does."""
    model.zero_grad()
    step_tokens = sum(int((labels != -100).sum()) for _, labels in micro_batches)
    for inputs, labels in micro_batches:
        loss_sum, tokens = token_loss_sum(model(inputs), labels)
        micro_batch_objective(loss_sum, tokens, reduction, step_tokens, len(micro_batches), 1).backward()
    return model.weight.grad.clone()


def _reference_gradient(model, loss):
    model.zero_grad()
    loss.backward()
    return model.weight.grad.clone()


@pytest.mark.parametrize("micro_batch_size", [1, 2])
def test_accumulated_reductions_equal_cross_entropys_means(micro_batch_size):
    """'token': the mean over every target token of the step; 'micro-batch': the mean of each micro-batch's
    token mean. Micro-batches hold different numbers of targets (2, 6, 6, 6), so the two differ."""
    torch.manual_seed(0)
    model = nn.Linear(3, 5, bias=False)
    inputs, labels = torch.randn(4, 6, 3), torch.randint(0, 5, (4, 6))
    labels[0, 2:] = -100
    micro_batches = [(inputs[i:i + micro_batch_size], labels[i:i + micro_batch_size])
                     for i in range(0, 4, micro_batch_size)]
    token = _reference_gradient(model, F.cross_entropy(model(inputs).flatten(0, 1), labels.flatten()))
    torch.testing.assert_close(_accumulated_gradient(model, micro_batches, "token"), token)
    means = [F.cross_entropy(model(x).flatten(0, 1), y.flatten()) for x, y in micro_batches]
    micro = _reference_gradient(model, sum(means) / len(means))
    torch.testing.assert_close(_accumulated_gradient(model, micro_batches, "micro-batch"), micro)
    assert not torch.allclose(token, micro)
