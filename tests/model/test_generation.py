"""generate(): against transformers' generate, hand-computed greedy/beam results, and cache vs no cache."""

import dataclasses
import math
import types

import pytest
import torch
import transformers

from florenz.errors import FlorenzError
from florenz.model.cache import KVCache
from florenz.model.config import (
    BartDecoderConfig,
    EncoderConfig,
    Gemma2DecoderConfig,
    ModelConfig,
    VisionConfig,
)
from florenz.model.convert_gemma2 import load_gemma2
from florenz.model.decoder_bart import erf_gelu
from florenz.model.decoder_gemma2 import RMSNorm, fused_rms_norm
from florenz.model.florenz import FlorenzModel
from florenz.model.generation import generate

SPECIAL_IDS = dict(decoder_start_token_id=1, eos_token_id=1, pad_token_id=0)


class TextOnly(torch.nn.Module):
    """A model whose encoder gives nothing: generation is the decoder's language model alone."""

    def __init__(self, decoder, eos_token_id=1):
        super().__init__()
        self.decoder = decoder
        self.config = types.SimpleNamespace(**{**SPECIAL_IDS, "eos_token_id": eos_token_id})

    def encode(self, pixel_values, input_ids, attention_mask):
        return None, None

    def decode(self, decoder_input_ids, encoder_hidden, encoder_mask, cache=None):
        return self.decoder(decoder_input_ids, encoder_hidden, encoder_mask, cache)


class Bigram(torch.nn.Module):
    """Next-token probabilities depend on the last token only, by a hand-written table; no cache needed."""

    def __init__(self, table: dict[int, dict[int, float]], vocab_size=5):
        super().__init__()
        self.config = types.SimpleNamespace(**SPECIAL_IDS)
        self.log_table = torch.full((vocab_size, vocab_size), -30.0)
        for previous, row in table.items():
            for token, probability in row.items():
                self.log_table[previous, token] = math.log(probability)
        self.decoder = types.SimpleNamespace(num_layers=1)
        self.seen_inputs = []

    def encode(self, pixel_values, input_ids, attention_mask):
        return None, None

    def decode(self, decoder_input_ids, encoder_hidden, encoder_mask, cache=None):
        self.seen_inputs.append(decoder_input_ids.tolist())
        if cache is not None:
            cache.length += decoder_input_ids.shape[1]
        return self.log_table[decoder_input_ids]  # (B, T, V)


# start (1) -> a (3) 0.5, b (4) 0.4; a -> a 0.36, b 0.34, eos 0.30; b -> eos 0.9
# greedy keeps taking a; beam search (K=2) finds "b <eos>": log(0.4 * 0.9) / 2 = -0.51 beats every other
# hypothesis, e.g. "a b <eos>": log(0.5 * 0.34 * 0.9) / 3 = -0.63
BIGRAM = {1: {3: 0.5, 4: 0.4, 1: 0.1}, 3: {3: 0.36, 4: 0.34, 1: 0.30}, 4: {1: 0.9, 3: 0.05, 4: 0.05}}


def test_greedy_and_beam_search_give_the_hand_computed_continuations():
    model = Bigram(BIGRAM)
    prompt = torch.zeros(1, 1, dtype=torch.long)
    assert generate(model, None, prompt, prompt, max_new_tokens=4) == [[3, 3, 3, 3]]
    assert generate(model, None, prompt, prompt, max_new_tokens=4, num_beams=2) == [[4]]
    # a bigram "a a" is banned after the first "a a" with n=2: greedy takes b, then eos
    assert generate(model, None, prompt, prompt, max_new_tokens=4, no_repeat_ngram_size=2) == [[3, 3, 4]]


def test_forced_prefix_follows_the_start_token_and_is_not_returned():
    model = Bigram(BIGRAM)
    prompt = torch.zeros(2, 1, dtype=torch.long)
    result = generate(model, None, prompt, prompt, max_new_tokens=3, prefix_ids=[2, 4], use_cache=True)
    assert model.seen_inputs[0] == [[1, 2, 4], [1, 2, 4]]
    assert result == [[], []]  # after "b" the table says <eos> at once


def test_generate_restores_the_training_mode_and_rejects_bad_settings():
    model = Bigram(BIGRAM).train()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    generate(model, None, prompt, prompt, max_new_tokens=2)
    assert model.training
    with pytest.raises(FlorenzError, match="num_beams"):
        generate(model, None, prompt, prompt, max_new_tokens=2, num_beams=0)


@pytest.fixture(scope="module")
def tiny_gemma(tmp_path_factory):
    """transformers' Gemma-2 and our decoder loaded from the same saved checkpoint."""
    torch.manual_seed(0)
    config = transformers.Gemma2Config(vocab_size=16, hidden_size=32, intermediate_size=64,
                                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                       head_dim=8, query_pre_attn_scalar=8, sliding_window=4)
    hf = transformers.Gemma2ForCausalLM(config)
    with torch.no_grad():
        for parameter in hf.parameters():
            parameter.normal_(0.0, 0.15)  # flat enough that <eos> (1, or 9) comes up within 12 tokens
    directory = tmp_path_factory.mktemp("gemma2")
    hf.save_pretrained(directory)
    return hf.eval(), load_gemma2(directory, encoder_hidden_size=8).eval()


@pytest.mark.parametrize(("num_beams", "no_repeat_ngram_size", "length_penalty", "eos"),
                         [(1, 2, 1.0, 1), (4, 2, 1.0, 9), (3, 0, 0.5, 9), (2, 3, 2.0, 1)])
def test_text_only_generation_matches_transformers_generate(tiny_gemma, num_beams, no_repeat_ngram_size,
                                                             length_penalty, eos):
    hf, decoder = tiny_gemma
    prefix = [2, 5, 7]
    settings = dict(max_new_tokens=12, num_beams=num_beams, no_repeat_ngram_size=no_repeat_ngram_size,
                    length_penalty=length_penalty)
    expected = hf.generate(torch.tensor([[1, *prefix]]), do_sample=False, early_stopping=True,
                           eos_token_id=eos, pad_token_id=0, **settings)[0, 1 + len(prefix):].tolist()
    expected = expected[:expected.index(eos)] if eos in expected else expected
    prompt = torch.zeros(1, 1, dtype=torch.long)
    assert generate(TextOnly(decoder, eos), None, prompt, prompt, prefix_ids=prefix, **settings) == [expected]


NO_DROPOUT = dict(dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
VISION = VisionConfig(embed_dims=(8, 16), depths=(1, 1), num_heads=(1, 2), num_groups=(1, 2),
                      patch_size=(7, 3), patch_stride=(4, 2), patch_padding=(3, 1),
                      patch_prenorm=(False, True),
                      window_size=3, drop_path_rate=0.0, projection_dim=32)
ENCODER = EncoderConfig(vocab_size=50, d_model=32, layers=1, attention_heads=4, ffn_dim=64,
                        max_position_embeddings=64, **NO_DROPOUT)
DECODERS = {
    "gemma2": Gemma2DecoderConfig(vocab_size=12, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                  query_pre_attn_scalar=8, sliding_window=3, max_position_embeddings=64),
    "bart": BartDecoderConfig(vocab_size=12, d_model=32, layers=2, attention_heads=4, ffn_dim=64,
                              max_position_embeddings=64, **NO_DROPOUT),
}


@pytest.mark.parametrize("kind", sorted(DECODERS))
@pytest.mark.parametrize("num_beams", [1, 3])
def test_florenz_model_generation_with_cache_equals_generation_without(kind, num_beams):
    torch.manual_seed(0)
    model = FlorenzModel(ModelConfig(vision=VISION, encoder=ENCODER, decoder=DECODERS[kind], image_size=32))
    with torch.no_grad():
        for name, parameter in model.decoder.named_parameters():
            if name.endswith("encoder_attn_gate"):
                parameter.fill_(1.0)  # an open gate, so the image and prompt steer the Gemma decoder
    pixels = torch.randn(3, 3, 32, 32)
    prompt = torch.randint(3, 50, (3, 5))
    mask = torch.ones(3, 5, dtype=torch.long)
    mask[2, 3:] = 0
    settings = dict(max_new_tokens=10, num_beams=num_beams, prefix_ids=[2, 7], no_repeat_ngram_size=3)
    cached = generate(model, pixels, prompt, mask, use_cache=True, **settings)
    recomputed = generate(model, pixels, prompt, mask, use_cache=False, **settings)
    assert cached == recomputed
    assert len(cached) == 3 and any(cached)


def test_the_package_exports_the_generate_function_not_its_module():
    import florenz.model

    assert florenz.model.generate is generate


def _fixed_length_model(kind):
    """A tiny Florenz model of the decoder kind whose <eos> never comes, so every output is full length."""
    torch.manual_seed(0)
    model = FlorenzModel(ModelConfig(vision=VISION, encoder=ENCODER, decoder=DECODERS[kind], image_size=32))
    model.config = dataclasses.replace(model.config, eos_token_id=-1)
    with torch.no_grad():
        for name, parameter in model.decoder.named_parameters():
            if name.endswith("encoder_attn_gate"):
                parameter.fill_(1.0)
    return model


@pytest.mark.parametrize("kind", sorted(DECODERS))
@pytest.mark.parametrize("num_beams", [1, 2])
def test_static_cache_filled_to_the_last_position_the_decoder_has_equals_no_cache(kind, num_beams):
    model = _fixed_length_model(kind)
    prefix = [2, 7]
    max_new_tokens = 64 - (1 + len(prefix)) + 1  # fed: start, prefix, every new token but the last: 64
    caches, buffers = [], []
    decode = model.decode

    def recording_decode(decoder_input_ids, encoder_hidden, encoder_mask, cache=None):
        logits = decode(decoder_input_ids, encoder_hidden, encoder_mask, cache)
        if cache is not None:
            caches.append(cache)
            buffers.append({tensor.data_ptr() for tensor in cache.self_keys})
        return logits

    model.decode = recording_decode
    pixels, prompt = torch.randn(2, 3, 32, 32), torch.randint(3, 50, (2, 5))
    mask = torch.ones(2, 5, dtype=torch.long)
    settings = dict(max_new_tokens=max_new_tokens, num_beams=num_beams, prefix_ids=prefix)
    cached = generate(model, pixels, prompt, mask, use_cache=True, **settings)
    assert cached == generate(model, pixels, prompt, mask, use_cache=False, **settings)
    assert all(len(output) == max_new_tokens for output in cached)
    cache = caches[-1]
    assert all(seen is cache for seen in caches)  # one cache for the whole generation
    assert cache.max_length == cache.length == 64 == cache.self_keys[0].shape[2]
    if num_beams == 1:  # written in place: the same buffers from the first step to the last
        assert all(pointers == buffers[0] for pointers in buffers)
    one_more = cache.self_keys[0][:, :, :1]
    with pytest.raises(FlorenzError, match="holds 64 positions.*larger max_length"):
        cache.update_self(0, one_more, one_more)


def test_a_cache_built_without_max_length_grows_and_matches_the_full_decoder():
    model = _fixed_length_model("gemma2").eval()
    pixels, prompt = torch.randn(2, 3, 32, 32), torch.randint(3, 50, (2, 5))
    ids = torch.randint(3, 12, (2, 40))
    with torch.no_grad():
        hidden, encoder_mask = model.encode(pixels, prompt, torch.ones_like(prompt))
        full = model.decode(ids, hidden, encoder_mask)
        cache = KVCache(model.decoder.num_layers)
        steps = [model.decode(ids[:, :5], hidden, encoder_mask, cache)]
        steps += [model.decode(ids[:, t:t + 1], hidden, encoder_mask, cache) for t in range(5, 40)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
    assert cache.length == 40 and cache.self_keys[0].shape[2] >= 40


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_rms_norm_of_the_generation_step_equals_the_module(dtype):
    torch.manual_seed(0)
    norm = RMSNorm(48, 1e-6)
    with torch.no_grad():
        norm.weight.normal_()
    x = (3 * torch.randn(4, 3, 48)).to(dtype)
    with torch.no_grad():
        step = fused_rms_norm(x, norm.scale(), torch.tensor(norm.eps))
        module = norm(x)
    x64 = x.double()
    expected = x64 * torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + 1e-6) * (1 + norm.weight.double())
    assert step.dtype == module.dtype == dtype
    # float32: a few roundings from float64; bfloat16: one rounding of a float32 value (2^-8 relative)
    tolerance = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=2 ** -8, atol=0)
    torch.testing.assert_close(step.double(), expected, **tolerance)
    torch.testing.assert_close(module.double(), expected, **tolerance)
    residual = torch.randn(4, 3, 48).to(dtype)
    with torch.no_grad():
        summed = fused_rms_norm(x, norm.scale(), torch.tensor(norm.eps), residual=residual)
    assert summed.dtype == dtype
    # bfloat16 rounds the norm, then the sum: two roundings, up to one unit of the summands' scale (~4)
    sum_tolerance = tolerance if dtype == torch.float32 else dict(rtol=2 ** -7, atol=2 ** -5)
    torch.testing.assert_close(summed.double(), residual.double() + expected, **sum_tolerance)


def test_erf_gelu_of_the_bart_generation_step_equals_the_exact_gelu():
    x = torch.linspace(-8, 8, 4001)
    expected = torch.nn.functional.gelu(x.double())  # exact (erf) GELU in float64
    torch.testing.assert_close(erf_gelu(x).double(), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["bart", "bart-capped", "gemma2"])
def test_static_cache_steps_of_several_and_one_token_give_the_full_decoders_rows(kind):
    """Chunks of 3, 2 and then single tokens through a static cache, a padded encoder row, and logits of
    chosen positions only: each piece equals the uncached decoder's logits at the same positions."""
    model = _fixed_length_model("bart" if kind.startswith("bart") else kind)
    if kind == "bart-capped":  # the generation step's soft-cap (lm_head_rows)
        capped = dataclasses.replace(model.config.decoder, final_logit_softcapping=0.3)
        model.decoder.config = capped
    model.eval()
    pixels, prompt = torch.randn(2, 3, 32, 32), torch.randint(3, 50, (2, 5))
    mask = torch.ones(2, 5, dtype=torch.long)
    mask[1, 3:] = 0
    ids = torch.randint(2, 12, (2, 9))
    positions = torch.rand(2, 9) > 0.3
    positions[:, -1] = True
    with torch.no_grad():
        hidden, encoder_mask = model.encode(pixels, prompt, mask)
        full = model.decode(ids, hidden, encoder_mask)  # (2, 9, V)
        cache = KVCache(model.decoder.num_layers, max_length=9)
        for start, end in [(0, 3), (3, 5), (5, 6), (6, 7), (7, 8), (8, 9)]:
            piece = model.decode(ids[:, start:end], hidden, encoder_mask, cache)
            torch.testing.assert_close(piece, full[:, start:end], atol=1e-5, rtol=0)
        cache = KVCache(model.decoder.num_layers, max_length=9)
        for start, end in [(0, 3), (3, 5), (5, 6), (6, 7), (7, 8), (8, 9)]:
            chosen = positions[:, start:end]
            piece = model.decoder(ids[:, start:end], hidden, encoder_mask, cache, logit_positions=chosen)
            torch.testing.assert_close(piece, full[:, start:end][chosen], atol=1e-5, rtol=0)
    if kind == "bart-capped":
        assert 0.2 < full.abs().max() < 0.3  # capped, and the cap reached (the uncapped logits reach ~0.6)
