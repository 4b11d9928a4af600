"""The fused attention paths (SDPA for BART-style attention, FlexAttention for Gemma-2) against the eager
reference on CPU in float32: forward logits, gradients and KV-cached generation, with padded prompts, both
decoder kinds. FlexAttention has no backward on CPU (PyTorch 2.13), so Gemma-2's flex path is checked
forward and in generation here; its gradients are checked on CUDA by benchmarks/model_throughput.py."""

import dataclasses

import pytest
import torch

from florenz.errors import FlorenzError
from florenz.model.attention import CPU_AUTO, resolve_attention
from florenz.model.cache import KVCache
from florenz.model.config import (
    BartDecoderConfig,
    Gemma2DecoderConfig,
    ModelConfig,
)
from florenz.model.florenz import FlorenzModel
from florenz.model.generation import generate
from tests.model.tiny import ENCODER, NO_DROPOUT, VISION

DECODERS = {
    # a sliding window of 4 binds within the 9-token targets and the generated continuations
    "gemma2": Gemma2DecoderConfig(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                  query_pre_attn_scalar=8, sliding_window=4, max_position_embeddings=64),
    "bart": BartDecoderConfig(vocab_size=40, d_model=32, layers=2, attention_heads=4, ffn_dim=64,
                              max_position_embeddings=64, **NO_DROPOUT),
}
TOLERANCE = dict(rtol=1e-5, atol=1e-5)
# FlexAttention's uncompiled CPU path costs ~10 s on its first call and ~50 ms a call after
KINDS = ["bart", pytest.param("gemma2", marks=pytest.mark.slow)]


def _models(kind):
    """(eager, fused) models with the same random weights; Gemma's cross-attention gates open, so the
    image and the padded prompt reach its logits, and large attention logits."""
    torch.manual_seed(0)
    config = ModelConfig(vision=VISION, encoder=ENCODER, decoder=DECODERS[kind], image_size=32,
                         attention="eager")
    eager = FlorenzModel(config)
    with torch.no_grad():
        for name, parameter in eager.named_parameters():
            if name.endswith("encoder_attn_gate"):
                parameter.fill_(1.0)
            if name.startswith("decoder.") and name.endswith(("q_proj.weight", "k_proj.weight")):
                parameter.normal_(std=1.0)  # logits of ~30, where Gemma's soft-cap of 50 bends them
    fused = FlorenzModel(dataclasses.replace(config, attention="fused"))
    fused.load_state_dict(eager.state_dict())
    return eager.eval(), fused.eval()


def _inputs(batch=3, prompt=6, target=9):
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randn(batch, 3, 32, 32, generator=generator)
    input_ids = torch.randint(3, 50, (batch, prompt), generator=generator)
    attention_mask = torch.ones(batch, prompt, dtype=torch.long)
    attention_mask[1, 4:] = 0  # padded prompts: the encoder and cross-attention must ignore these keys
    attention_mask[2:, 2:] = 0
    decoder_input_ids = torch.randint(3, 40, (batch, target), generator=generator)
    return pixels, input_ids, attention_mask, decoder_input_ids


@pytest.mark.parametrize("kind", KINDS)
def test_fused_attention_logits_equal_eager(kind):
    eager, fused = _models(kind)
    inputs = _inputs()
    with torch.no_grad():
        expected, got = eager(*inputs), fused(*inputs)
        # padding matters: the same inputs with the padded prompt ids changed give the same logits
        changed = list(inputs)
        changed[1] = inputs[1].masked_fill(inputs[2] == 0, 7)
        torch.testing.assert_close(fused(*changed), got, **TOLERANCE)
    torch.testing.assert_close(got, expected, **TOLERANCE)
    assert not torch.allclose(expected[0], expected[1], atol=1e-3)  # the rows differ, the test can fail


def _gradients(model, inputs):
    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(*inputs)
    targets = torch.roll(inputs[3], -1, dims=1)
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("kind", sorted(DECODERS))
def test_sdpa_gradients_equal_eager(kind):
    eager, fused = _models(kind)
    # Gemma's decoder under "fused" is FlexAttention, which has no CPU backward: its encoder (SDPA) is checked
    fused.decoder.attention = "fused" if kind == "bart" else "eager"
    inputs = _inputs()
    expected, got = _gradients(eager, inputs), _gradients(fused, inputs)
    assert expected.keys() == got.keys() and any("encoder.layers" in name for name in got)
    # 1e-5 of the largest gradient: gradients span 1e-11 (k_proj biases, 0 in exact arithmetic) to 1e-2
    largest = max(gradient.abs().max().item() for gradient in expected.values())
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-5 * largest, msg=name)


def _cached_step_logits(model, inputs, steps):
    """Logits of a cached decode: the 3-token start fed at once, then one token per step (greedy)."""
    pixels, input_ids, attention_mask, decoder_input_ids = inputs
    with torch.no_grad():
        encoder_hidden, encoder_mask = model.encode(pixels, input_ids, attention_mask)
        cache = KVCache(model.decoder.num_layers, max_length=3 + steps)
        tokens, outputs = decoder_input_ids[:, :3], []
        for _ in range(steps):
            logits = model.decode(tokens, encoder_hidden, encoder_mask, cache)  # (B, T, V)
            outputs.append(logits)
            tokens = logits[:, -1:].argmax(-1)
    return torch.cat(outputs, dim=1)


@pytest.mark.parametrize("kind", KINDS)
def test_fused_cached_generation_equals_eager(kind):
    eager, fused = _models(kind)
    # 6 rows and 10 positions in both checks: beam search over 3 inputs x 2 beams, 3 start tokens + 7 fed
    # back, so FlexAttention's uncompiled path traces each shape once
    inputs = _inputs(batch=6)
    expected = _cached_step_logits(eager, inputs, steps=7)
    torch.testing.assert_close(_cached_step_logits(fused, inputs, steps=7), expected, **TOLERANCE)
    # and cached beam search equals the uncached eager one (beyond the Gemma sliding window of 4)
    settings = dict(max_new_tokens=8, num_beams=2, prefix_ids=[2, 7])
    inputs = _inputs(batch=3)
    assert (generate(fused, *inputs[:3], use_cache=True, **settings)
            == generate(eager, *inputs[:3], use_cache=False, **settings))


def test_flex_attention_refuses_training_on_cpu_by_name():
    _, fused = _models("gemma2")
    with pytest.raises(FlorenzError, match="no backward on CPU.*auto or eager"):
        _gradients(fused, _inputs())


def test_auto_attention_is_fused_on_cuda_and_the_measured_kernel_on_cpu():
    for kind in ("bart", "gemma2"):
        assert resolve_attention("auto", torch.device("cpu"), kind) == CPU_AUTO[kind]
        assert resolve_attention("eager", torch.device("cuda"), kind) == "eager"
    assert resolve_attention("auto", torch.device("cuda"), "gemma2") == "flex"
    assert resolve_attention("fused", torch.device("cpu"), "bart") == "sdpa"
