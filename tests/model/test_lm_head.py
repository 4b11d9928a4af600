"""The tied LM head: its in-place soft-cap against cap·tanh(z / cap), and logits of the labelled positions
only against the rows of the full logits (values and the loss's gradients, both decoder kinds)."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from florenz.data.collate import IGNORE_INDEX
from florenz.model.config import BartDecoderConfig, Gemma2DecoderConfig, ModelConfig
from florenz.model.florenz import FlorenzModel
from florenz.model.lm_head import lm_head, lm_head_rows
from tests.model.tiny import ENCODER, NO_DROPOUT, VISION

BART = BartDecoderConfig(vocab_size=60, d_model=32, layers=2, attention_heads=4, ffn_dim=64,
                         max_position_embeddings=32, final_logit_softcapping=2.0, **NO_DROPOUT)
GEMMA = Gemma2DecoderConfig(vocab_size=60, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8,
                            final_logit_softcapping=2.0, max_position_embeddings=32)


@pytest.mark.parametrize("cap", [None, 0.7])
def test_soft_capped_head_of_selected_rows_equals_cap_tanh_of_the_plain_product_with_its_gradients(cap):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 16, dtype=torch.float64, requires_grad=True)
    embedding = torch.randn(40, 16, dtype=torch.float64, requires_grad=True)
    positions = torch.rand(3, 5) > 0.4
    weights = torch.randn(int(positions.sum()), 40, dtype=torch.float64)  # a loss that weights every logit

    def reference() -> torch.Tensor:
        logits = x @ embedding.T  # (3, 5, 40)
        return (logits if cap is None else cap * torch.tanh(logits / cap))[positions]

    expected = reference()
    (expected * weights).sum().backward()
    expected_grads = x.grad.clone(), embedding.grad.clone()
    x.grad = embedding.grad = None
    actual = lm_head(x, embedding, cap, positions)
    (actual * weights).sum().backward()
    assert actual.abs().max() > 0.5 * (cap or 1)  # the cap is reached, not a linear regime
    torch.testing.assert_close(actual, expected.float(), rtol=1e-6, atol=1e-6)
    # the head returns float32 logits, so float64 inputs see float32 rounding in between
    torch.testing.assert_close((x.grad, embedding.grad), expected_grads, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cap", [None, 0.7, 30.0])
def test_generation_step_head_equals_cap_tanh_of_the_plain_product(cap):
    torch.manual_seed(0)
    rows, embedding = torch.randn(4, 16) * (cap or 1) / 2, torch.randn(40, 16)
    logits = rows.double() @ embedding.double().T  # (4, 40), the float64 reference
    expected = logits if cap is None else cap * torch.tanh(logits / cap)
    negative_cap = None if cap is None else torch.tensor(-cap)
    with torch.inference_mode():
        actual = lm_head_rows(rows, embedding.t(), cap, negative_cap)
    assert actual.dtype == torch.float32 and actual.shape == (4, 40)
    assert cap is None or expected.abs().max() > 0.9 * cap  # the cap is reached, not a linear regime
    torch.testing.assert_close(actual.double(), expected, rtol=1e-6, atol=2e-6 * (cap or 1))


@pytest.mark.parametrize("decoder", [BART, GEMMA], ids=["bart", "gemma2"])
def test_logits_of_labelled_positions_give_the_full_logits_loss_and_gradients(decoder):
    torch.manual_seed(0)
    model = FlorenzModel(ModelConfig(vision=VISION, encoder=ENCODER, decoder=decoder, image_size=32)).train()
    if decoder.kind == "gemma2":
        with torch.no_grad():  # open gates, so that the encoder's gradients depend on the decoder's rows
            for layer in model.decoder.layers:
                layer.encoder_attn_gate.fill_(0.5)
    pixels = torch.randn(2, 3, 32, 32)
    prompt = torch.randint(4, 50, (2, 6))
    prompt_mask = torch.ones(2, 6, dtype=torch.long)
    decoder_ids = torch.randint(4, 60, (2, 7))
    labels = torch.randint(4, 60, (2, 7))
    labels[0, 4:] = IGNORE_INDEX  # a padded target, as the collator pads
    labels[1, 0] = IGNORE_INDEX

    def loss_and_gradients(positions: torch.Tensor | None):
        model.zero_grad(set_to_none=True)
        logits = model(pixels, prompt, prompt_mask, decoder_ids, logit_positions=positions)
        if positions is None:  # the reference: every position's logits, the padded ones ignored by the loss
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX,
                                   reduction="sum")
        else:
            loss = F.cross_entropy(logits, labels[positions], reduction="sum")
        loss.backward()
        return logits.detach(), loss.detach(), {name: parameter.grad for name, parameter in
                                                model.named_parameters() if parameter.grad is not None}

    full_logits, full_loss, full_gradients = loss_and_gradients(None)
    positions = labels != IGNORE_INDEX
    logits, loss, gradients = loss_and_gradients(positions)
    assert logits.shape == (int(positions.sum()), 60)
    torch.testing.assert_close(logits, full_logits[positions], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(loss, full_loss, rtol=1e-6, atol=0)
    assert gradients.keys() == full_gradients.keys() and any("vision" not in name for name in gradients)
    for name, gradient in full_gradients.items():
        torch.testing.assert_close(gradients[name], gradient, rtol=1e-5, atol=1e-7, msg=name)


def test_no_positions_gives_every_position_and_an_all_false_mask_none():
    torch.manual_seed(0)
    model = FlorenzModel(ModelConfig(vision=VISION, encoder=ENCODER,
                                     decoder=dataclasses.replace(BART, final_logit_softcapping=None),
                                     image_size=32)).eval()
    inputs = (torch.randn(1, 3, 32, 32), torch.randint(4, 50, (1, 6)), torch.ones(1, 6, dtype=torch.long),
              torch.randint(4, 60, (1, 5)))
    with torch.no_grad():
        assert model(*inputs).shape == (1, 5, 60)
        assert model(*inputs, logit_positions=torch.zeros(1, 5, dtype=torch.bool)).shape == (0, 60)
