"""Gemma2Decoder against transformers' Gemma2ForCausalLM on one tiny random checkpoint saved by the test."""

import pytest
import torch
import torch.nn.functional as F
import transformers

from florenz.model.cache import KVCache
from florenz.model.config import Gemma2DecoderConfig
from florenz.model.convert_gemma2 import load_gemma2
from florenz.model.decoder_gemma2 import Gemma2Decoder, RMSNorm, apply_rotary, rope_tables

ENCODER_WIDTH = 24
# small soft-caps and a 4-token window so that capping and the sliding layers (0, 2) change the result
HF_CONFIG = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8,
                 sliding_window=4, attn_logit_softcapping=4.0, final_logit_softcapping=6.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random Gemma-2 with non-trivial norms, saved in the transformers layout."""
    torch.manual_seed(0)
    model = transformers.Gemma2ForCausalLM(transformers.Gemma2Config(**HF_CONFIG))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)  # large enough that the soft-caps and (1 + w) norms matter
    directory = tmp_path_factory.mktemp("gemma2")
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def hf_model(checkpoint):
    return transformers.Gemma2ForCausalLM.from_pretrained(checkpoint, attn_implementation="eager").eval()


def _decoder(checkpoint, **options) -> Gemma2Decoder:
    torch.manual_seed(1)
    return load_gemma2(checkpoint, ENCODER_WIDTH, **options).eval()


def _inputs(T=11, S=5):
    torch.manual_seed(2)
    ids = torch.randint(0, HF_CONFIG["vocab_size"], (2, T))
    encoder = torch.randn(2, S, ENCODER_WIDTH)
    mask = torch.ones(2, S, dtype=torch.long)
    mask[1, 3:] = 0
    return ids, encoder, mask


def test_closed_gate_decoder_matches_hf_gemma2_beyond_the_sliding_window(checkpoint, hf_model):
    decoder = _decoder(checkpoint)
    ids, encoder, mask = _inputs(T=11)  # 11 > sliding_window 4
    with torch.no_grad():
        expected = hf_model(ids).logits
        logits = decoder(ids, encoder, mask)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)


def test_text_only_decoder_matches_hf_gemma2(checkpoint, hf_model):
    decoder = _decoder(checkpoint)
    ids, _, _ = _inputs(T=9)
    with torch.no_grad():
        torch.testing.assert_close(decoder(ids), hf_model(ids).logits, atol=1e-4, rtol=0)


def test_sliding_window_changes_the_logits_so_the_comparison_covers_it(checkpoint):
    """Guards the two tests above: with a window as long as the input, position 10 would differ."""
    decoder = _decoder(checkpoint)
    ids, _, _ = _inputs(T=11)
    with torch.no_grad():
        windowed = decoder(ids)
        decoder.config.sliding_window = 64
        unwindowed = decoder(ids)
    assert (windowed[:, 10] - unwindowed[:, 10]).abs().max() > 1e-3
    torch.testing.assert_close(windowed[:, :4], unwindowed[:, :4])


def test_gradients_of_a_loss_match_hf_gemma2(checkpoint, hf_model):
    decoder = _decoder(checkpoint).train()
    hf_model.zero_grad()
    ids, encoder, mask = _inputs(T=11)
    targets = ids.roll(-1, dims=1)
    F.cross_entropy(hf_model(ids).logits.flatten(0, 1), targets.flatten()).backward()
    F.cross_entropy(decoder(ids, encoder, mask).flatten(0, 1), targets.flatten()).backward()
    hf_parameters = dict(hf_model.named_parameters())
    for name in ("embed_tokens.weight", "layers.0.self_attn.q_proj.weight", "layers.2.mlp.down_proj.weight",
                 "layers.1.post_attention_layernorm.weight", "norm.weight"):
        ours = dict(decoder.named_parameters())[name].grad
        torch.testing.assert_close(ours, hf_parameters[f"model.{name}"].grad, atol=1e-4, rtol=1e-4)


def test_open_gate_output_depends_on_encoder_states_but_not_on_padded_positions(checkpoint):
    decoder = _decoder(checkpoint)
    ids, encoder, mask = _inputs()
    with torch.no_grad():
        closed = decoder(ids, encoder, mask)
        for layer in decoder.layers:
            layer.encoder_attn_gate.fill_(0.5)
        opened = decoder(ids, encoder, mask)
        other_states = decoder(ids, encoder + torch.randn_like(encoder), mask)
        changed_padding = encoder.clone()
        changed_padding[1, 3:] += 10.0  # row 1 masks positions 3 and 4
        padded_changed = decoder(ids, changed_padding, mask)
    assert (opened - closed).abs().max() > 1e-2
    assert (other_states - opened).abs().max() > 1e-2
    torch.testing.assert_close(padded_changed, opened, atol=1e-5, rtol=0)


def test_incremental_decoding_with_cache_matches_full_sequence_logits(checkpoint):
    decoder = _decoder(checkpoint)
    with torch.no_grad():
        for layer in decoder.layers:
            layer.encoder_attn_gate.fill_(0.7)
    ids, encoder, mask = _inputs(T=10)
    cache = KVCache(decoder.num_layers)
    with torch.no_grad():
        full = decoder(ids, encoder, mask)
        steps = [decoder(ids[:, :3], encoder, mask, cache)]  # a prefix of several tokens, then one at a time
        steps += [decoder(ids[:, t:t + 1], encoder, mask, cache) for t in range(3, 10)]
    assert cache.length == 10
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)


def test_cross_attention_every_second_layer_and_the_names_of_the_new_parameters(checkpoint):
    config = Gemma2DecoderConfig(**{key: value for key, value in HF_CONFIG.items()},
                                 cross_attention_every=2, cross_attention_prenorm=True)
    decoder = Gemma2Decoder(config, ENCODER_WIDTH)
    expected = {f"layers.{i}.{name}" for i in (0, 2) for name in (
        "encoder_attn.q_proj.weight", "encoder_attn.k_proj.weight", "encoder_attn.v_proj.weight",
        "encoder_attn.o_proj.weight", "encoder_attn_gate", "pre_encoder_attention_layernorm.weight",
        "post_encoder_attention_layernorm.weight")}
    assert set(decoder.cross_attention_parameter_names()) == expected
    assert expected == {name for name, _ in decoder.named_parameters()} - {
        name for name, _ in transformers.Gemma2ForCausalLM(transformers.Gemma2Config(**HF_CONFIG)).model
        .named_parameters()}  # exactly what Gemma-2 lacks
    assert decoder.layers[0].encoder_attn.k_proj.weight.shape == (16, ENCODER_WIDTH)  # (nkv·hd, De)


def test_fresh_decoder_starts_with_closed_gates_and_a_tied_head():
    decoder = Gemma2Decoder(Gemma2DecoderConfig(**HF_CONFIG), ENCODER_WIDTH)
    assert all(layer.encoder_attn_gate.detach().item() == 0.0 for layer in decoder.layers)
    std = decoder.layers[0].encoder_attn.q_proj.weight.std().item()
    assert 0.015 < std < 0.025  # N(0, 0.02)
    ids = torch.tensor([[1, 2, 3]])  # without id 5, row 5 can reach the logits only through the head
    with torch.no_grad():
        decoder.embed_tokens.weight[5] += 1.0  # changes the head's row 5 too
        before = decoder(ids)
        decoder.embed_tokens.weight[5] += 1.0
    assert not torch.equal(decoder(ids)[..., 5], before[..., 5])


def test_bf16_autocast_error_is_no_larger_than_transformers_own(checkpoint, hf_model):
    """Under bf16 autocast our logits drift from fp32 no more than transformers' Gemma-2 does.

    Measured on four random checkpoints like this one (logits capped at 6): ours 0.05-0.14, transformers'
    0.07-0.20, our worst ratio 1.24; on this checkpoint 0.055 vs 0.079 (0.060 with the gates open).
    """
    decoder = _decoder(checkpoint)
    ids, encoder, mask = _inputs()
    gaps = {}
    with torch.no_grad():
        hf_reference = hf_model(ids).logits
        for gate in (0.0, 0.5):
            for layer in decoder.layers:
                layer.encoder_attn_gate.fill_(gate)
            reference = decoder(ids, encoder, mask)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = decoder(ids, encoder, mask)
            assert logits.dtype == torch.float32
            gaps[gate] = (logits - reference).abs().max().item()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hf_gap = (hf_model(ids).logits.float() - hf_reference).abs().max().item()
    assert gaps[0.0] > 1e-3  # autocast really ran the matmuls in bf16
    assert gaps[0.0] <= 1.5 * hf_gap
    assert max(gaps.values()) < 0.1


def test_cross_attention_prenorm_option_normalises_the_query_input(checkpoint):
    ids, encoder, mask = _inputs()
    query_rms = {}
    for prenorm in (False, True):
        decoder = _decoder(checkpoint, cross_attention_prenorm=prenorm)
        def record(module, args, output, prenorm=prenorm):
            query_rms[prenorm] = args[0].pow(2).mean(-1).sqrt()

        decoder.layers[1].encoder_attn.register_forward_hook(record)
        with torch.no_grad():
            decoder(ids, encoder, mask)
    # a fresh pre-norm has weight 0, i.e. scale 1 + 0: unit RMS at every position; the raw residual is not
    torch.testing.assert_close(query_rms[True], torch.ones_like(query_rms[True]), atol=1e-4, rtol=0)
    assert (query_rms[False] - 1).abs().max() > 0.5


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rms_norm_closed_form_backward_matches_autograd_of_the_formula(dtype):
    torch.manual_seed(3)
    norm = RMSNorm(48, 1e-6)
    with torch.no_grad():
        norm.weight.normal_()
    x = (3 * torch.randn(4, 5, 48)).to(dtype).requires_grad_()
    grad = torch.randn(4, 5, 48).to(dtype)
    # reference: autograd through transformers' Gemma2RMSNorm formula, in float64
    x64, weight64 = x.detach().double().requires_grad_(), norm.weight.detach().double().requires_grad_()
    expected = x64 * torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + 1e-6) * (1.0 + weight64)
    expected.backward(grad.double())
    y = norm(x)
    y.backward(grad)
    assert y.dtype == x.grad.dtype == dtype and norm.weight.grad.dtype == torch.float32
    tolerance = dict(atol=1e-5, rtol=1e-5) if dtype == torch.float32 else dict(atol=0.05, rtol=0.02)
    torch.testing.assert_close(y.double(), expected.detach(), **tolerance)
    torch.testing.assert_close(x.grad.double(), x64.grad, **tolerance)
    torch.testing.assert_close(norm.weight.grad.double(), weight64.grad, atol=1e-4, rtol=1e-5)
    frozen = RMSNorm(48, 1e-6).requires_grad_(False)
    frozen(x).sum().backward()  # a frozen norm's weight gets no gradient and the input still does
    assert frozen.weight.grad is None


def test_rope_rotation_by_roll_equals_hf_rotate_half_bitwise():
    def rotate_half(x):  # transformers' Gemma-2 rotate_half
        first, second = x.chunk(2, dim=-1)
        return torch.cat((-second, first), dim=-1)

    head_dim, theta = 16, 10000.0
    positions = torch.arange(7)
    # as transformers' Gemma2RotaryEmbedding: inverse frequencies times positions, duplicated
    inverse_frequencies = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
    angles = positions.float()[:, None] * inverse_frequencies
    angles = torch.cat((angles, angles), dim=-1)[:, None, :]  # (T, 1, hd)
    x = torch.randn(2, 7, 3, head_dim)
    expected = x * angles.cos() + rotate_half(x) * angles.sin()
    assert torch.equal(apply_rotary(x, *rope_tables(positions, head_dim, theta)), expected)
