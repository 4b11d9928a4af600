"""The memory dry run: its fake-tensor activation count against the bytes a real CPU training forward saves,
with and without activation checkpointing, and the verb's verdicts."""

import pytest
import torch
import torch.nn.functional as F
from torch.distributed._composable import checkpoint

from florenz.cli import main
from florenz.model.accounting import apply_freezing
from florenz.model.florenz import FlorenzModel, transformer_layers
from florenz.model.memory import memory_plan, training_batch
from florenz.model.sizes import get_size

LENGTHS = dict(prompt_tokens=12, target_tokens=16)


def _measured_saved_bytes(size, batch, checkpointed):
    """Bytes a real bf16-autocast training forward + loss of `size` on CPU hands to autograd's saved-tensor
    hooks, one count per storage, parameters left out; checkpointed layers keep theirs to themselves."""
    torch.manual_seed(0)
    config = get_size(size)
    model = FlorenzModel(config)
    apply_freezing(model)
    model.train()
    if checkpointed:
        for layer in transformer_layers(model):
            checkpoint(layer)
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(tensor):
        pointer = tensor.untyped_storage().data_ptr()
        if pointer not in parameters:
            saved[pointer] = tensor.untyped_storage().nbytes()
        return tensor

    inputs = training_batch(config, batch, **LENGTHS)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", torch.bfloat16):
        logits = model(inputs["pixel_values"], inputs["input_ids"], inputs["attention_mask"],
                       inputs["decoder_input_ids"])
        F.cross_entropy(logits.float().flatten(0, 1), inputs["labels"].flatten(), reduction="sum")
    return sum(saved.values())


@pytest.mark.parametrize("size", ["world-xxs", pytest.param("world-xs-gemma", marks=pytest.mark.slow)])
def test_dry_run_activations_equal_the_bytes_a_real_cpu_forward_saves(size):
    plan = memory_plan(get_size(size), 1, False, **LENGTHS)
    logits_gradient = 4 * LENGTHS["target_tokens"] * get_size(size).decoder.vocab_size
    for batch in (1, 3):  # the plan counts batches 1 and 2: 3 checks its straight line too
        estimate = plan["activations_fixed"] + batch * (plan["activations_per_sample"] - logits_gradient)
        assert estimate == _measured_saved_bytes(size, batch, checkpointed=False)


def test_checkpointed_dry_run_holds_what_lies_outside_the_layers_their_inputs_and_one_layer():
    size, batch = "world-xs-gemma", 2
    plan = memory_plan(get_size(size), 1, True, **LENGTHS)
    logits_gradient = 4 * LENGTHS["target_tokens"] * get_size(size).decoder.vocab_size
    estimate = plan["activations_fixed"] + batch * (plan["activations_per_sample"] - logits_gradient)
    outside = _measured_saved_bytes(size, batch, checkpointed=True)  # the layers' own bytes are not seen
    plain = _measured_saved_bytes(size, batch, checkpointed=False)
    # on top of the outside: the layers' inputs (one (B, t, D) float32 state per layer and the encoder
    # output) and the one layer recomputed at a time; together far below keeping every layer's
    assert outside < estimate < outside + 0.5 * (plain - outside)


def test_model_memory_verb_says_whether_a_size_fits(capsys):
    common = ["model", "memory", "--size", "world-xxs", "--world-size", "2", "--batch-size", "8",
              "--prompt-tokens", "12", "--target-tokens", "16"]
    assert main([*common, "--memory-gb", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 ranks x micro-batch 4 x 1 accumulation steps: fits" in out
    assert main([*common, "--memory-gb", "0.0001"]) == 0
    assert "does NOT fit" in capsys.readouterr().out
    assert main([*common, "--world-size", "3"]) != 0  # 8 samples do not split over 3 ranks
    assert "--batch-size 8 is not divisible by --world-size 3" in capsys.readouterr().err
