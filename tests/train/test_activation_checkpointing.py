"""Activation checkpointing per layer: the same loss and gradients as without, with fewer saved tensors.
(Under FSDP2 on 2 processes: tests/train/test_distributed.py, run "fsdp-checkpointed".)"""

import pytest
import torch
import torch.nn.functional as F

from florenz.model.accounting import apply_freezing
from florenz.model.florenz import FlorenzModel, transformer_layers
from florenz.model.sizes import get_size
from florenz.train.distributed import apply_activation_checkpointing


def _saved_bytes_and_gradients(model, inputs):
    """Bytes autograd keeps from the forward (outside checkpointed layers), the loss and the gradients."""
    saved = {}

    def pack(tensor):
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    model.zero_grad(set_to_none=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        logits = model(*inputs)
    loss = F.cross_entropy(logits.flatten(0, 1), torch.roll(inputs[3], -1, 1).flatten())
    loss.backward()
    gradients = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    return sum(saved.values()), loss.item(), gradients


@pytest.mark.parametrize("size", ["world-xxs", "world-xs-gemma"])
def test_checkpointed_layers_give_the_same_loss_and_gradients_keeping_less(size):
    config = get_size(size)
    torch.manual_seed(0)
    plain = FlorenzModel(config)
    checkpointed = FlorenzModel(config)
    checkpointed.load_state_dict(plain.state_dict())
    for model in (plain, checkpointed):
        apply_freezing(model)
        model.train()
    apply_activation_checkpointing(checkpointed)
    assert len(transformer_layers(checkpointed)) == config.encoder.layers + checkpointed.decoder.num_layers
    generator = torch.Generator().manual_seed(1)
    V = config.decoder.vocab_size
    inputs = (torch.randn(2, 3, config.image_size, config.image_size, generator=generator),
              torch.randint(3, V, (2, 12), generator=generator), torch.ones(2, 12, dtype=torch.long),
              torch.randint(3, V, (2, 16), generator=generator))
    plain_bytes, plain_loss, plain_gradients = _saved_bytes_and_gradients(plain, inputs)
    kept_bytes, loss, gradients = _saved_bytes_and_gradients(checkpointed, inputs)
    assert kept_bytes < 0.7 * plain_bytes  # the layers' activations are recomputed, not kept
    assert loss == plain_loss
    assert gradients.keys() == plain_gradients.keys()
    for name, gradient in gradients.items():
        torch.testing.assert_close(gradient, plain_gradients[name], rtol=0, atol=0, msg=name)
    # parameter names are unchanged, so checkpoints and the optimizer's no-decay rules see the same model
    assert [name for name, _ in checkpointed.named_parameters()] == [n for n, _ in plain.named_parameters()]
