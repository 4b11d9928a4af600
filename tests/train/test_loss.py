import math

import torch
from torch import nn

from florenz.train.loss import micro_batch_objective, token_loss_sum


def test_token_loss_sum_ignores_padding_and_matches_log_softmax_by_hand():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # (1, 2, 3)
    labels = torch.tensor([[0, -100]])
    loss_sum, tokens = token_loss_sum(logits, labels)
    assert tokens.item() == 1
    expected = -(2.0 - math.log(math.exp(2) + 2))
    assert abs(loss_sum.item() - expected) < 1e-6


def _gradient(model, batches, reduction):
    model.zero_grad()
    step_tokens = sum(int((labels != -100).sum()) for _, labels in batches)
    for inputs, labels in batches:
        loss_sum, tokens = token_loss_sum(model(inputs), labels)
        micro_batch_objective(loss_sum, tokens, reduction, step_tokens, len(batches), 1).backward()
    return model.weight.grad.clone()


def test_token_reduction_equals_one_big_batch_and_micro_batch_reduction_averages_means():
    torch.manual_seed(0)
    model = nn.Linear(3, 5, bias=False)
    inputs = torch.randn(4, 6, 3)
    labels = torch.randint(0, 5, (4, 6))
    labels[0, 2:] = -100  # micro-batches with different token counts: 2+6 and 6+6
    halves = [(inputs[:2], labels[:2]), (inputs[2:], labels[2:])]

    model.zero_grad()
    loss_sum, tokens = token_loss_sum(model(inputs), labels)
    (loss_sum / tokens).backward()
    whole = model.weight.grad.clone()
    torch.testing.assert_close(_gradient(model, halves, "token"), whole)

    model.zero_grad()
    means = [token_loss_sum(model(x), y) for x, y in halves]
    (sum(s / n for s, n in means) / 2).backward()
    torch.testing.assert_close(_gradient(model, halves, "micro-batch"), model.weight.grad)
    assert not torch.allclose(whole, model.weight.grad)


def test_token_reduction_over_processes_undoes_the_gradient_average():
    loss_sum, tokens = torch.tensor(6.0), torch.tensor(3)
    # two processes, 10 target tokens in the step: rank objective 6·2/10, averaged by DDP -> 6/10
    assert abs(micro_batch_objective(loss_sum, tokens, "token", 10, 1, 2).item() - 6 * 2 / 10) < 1e-6
    assert abs(micro_batch_objective(loss_sum, tokens, "micro-batch", 10, 2, 2).item() - 6 / 3 / 2) < 1e-6
