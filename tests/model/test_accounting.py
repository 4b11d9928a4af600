"""P, Pt, the freezing policy, forward FLOPs and C, checked against transformers' modules, the built
Florenz modules, measured FLOP counts and hand-written values."""

import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count
from transformers import BartConfig, Florence2Config, Gemma2Config, Gemma2ForCausalLM
from transformers.models.bart.modeling_bart import BartDecoder, BartEncoder
from transformers.models.florence2.modeling_florence2 import (
    Florence2MultiModalProjector,
    Florence2VisionBackbone,
)

from florenz.model.accounting import (
    adapter_parameters,
    apply_freezing,
    bart_decoder_parameters,
    count_parameters,
    encoder_parameters,
    forward_flops,
    gemma2_decoder_parameters,
    parameter_counts,
    training_compute,
    vision_flops,
    vision_parameters,
)
from florenz.model.config import Gemma2DecoderConfig, ModelConfig, VisionConfig
from florenz.model.sizes import PAPER_SIZES, SIZES

torch.manual_seed(0)


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _hf_vision_config(vision: VisionConfig) -> dict:
    return dict(embed_dim=list(vision.embed_dims), depths=list(vision.depths),
                num_heads=list(vision.num_heads), num_groups=list(vision.num_groups),
                patch_size=list(vision.patch_size),
                patch_stride=list(vision.patch_stride), patch_padding=list(vision.patch_padding),
                patch_prenorm=list(vision.patch_prenorm), window_size=vision.window_size,
                projection_dim=vision.projection_dim, max_position_embeddings=vision.max_grid_side)


def _hf_bart_config(config: ModelConfig) -> BartConfig:
    encoder, decoder = config.encoder, config.decoder
    return BartConfig(vocab_size=encoder.vocab_size, d_model=encoder.d_model, encoder_layers=encoder.layers,
                      decoder_layers=decoder.layers, encoder_attention_heads=encoder.attention_heads,
                      decoder_attention_heads=decoder.attention_heads, encoder_ffn_dim=encoder.ffn_dim,
                      decoder_ffn_dim=decoder.ffn_dim,
                      max_position_embeddings=encoder.max_position_embeddings)


def _tiny_gemma_config(every: int = 1, prenorm: bool = False) -> ModelConfig:
    world = SIZES["world-xxs"]
    decoder = Gemma2DecoderConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                  query_pre_attn_scalar=8, sliding_window=4, max_position_embeddings=64,
                                  cross_attention_every=every, cross_attention_prenorm=prenorm)
    return dataclasses.replace(world, name="custom", decoder=decoder)


# --- analytic counts against transformers' own modules ---------------------------------------------------

@pytest.mark.parametrize("name", ["florenz-0.4b", "florenz-1.0b"])
def test_vision_and_adapter_counts_equal_transformers_florence2_modules(name):
    vision = SIZES[name].vision
    config = Florence2Config(vision_config=_hf_vision_config(vision))
    with torch.device("meta"):
        assert _numel(Florence2VisionBackbone(config.vision_config)) == vision_parameters(vision)
        assert _numel(Florence2MultiModalProjector(config)) == adapter_parameters(vision)


@pytest.mark.parametrize("name", ["florenz-0.4b", "florenz-1.0b"])
def test_bart_counts_equal_transformers_bart_encoder_and_decoder(name):
    config = SIZES[name]
    hf = _hf_bart_config(config)
    with torch.device("meta"):
        assert _numel(BartEncoder(hf)) == encoder_parameters(config.encoder)
        hf.vocab_size = config.decoder.vocab_size
        assert _numel(BartDecoder(hf)) == bart_decoder_parameters(config.decoder, config.encoder.d_model)


@pytest.mark.parametrize("name", ["florenz-3.5b", "florenz-11.2b"])
def test_gemma2_count_equals_transformers_gemma2_plus_cross_attention(name):
    decoder = SIZES[name].decoder
    hf = Gemma2Config(vocab_size=decoder.vocab_size, hidden_size=decoder.hidden_size,
                      intermediate_size=decoder.intermediate_size,
                      num_hidden_layers=decoder.num_hidden_layers,
                      num_attention_heads=decoder.num_attention_heads,
                      num_key_value_heads=decoder.num_key_value_heads, head_dim=decoder.head_dim)
    with torch.device("meta"):
        gemma = _numel(Gemma2ForCausalLM(hf))  # tied head: counted once
    H, q, kv = decoder.hidden_size, decoder.num_attention_heads * 256, decoder.num_key_value_heads * 256
    # per layer: q and o, k and v from the encoder's width 1024, the gate, PostEncNorm
    cross = decoder.num_hidden_layers * (2 * H * q + 2 * 1024 * kv + 1 + H)
    assert gemma2_decoder_parameters(decoder, 1024) == gemma + cross


# --- analytic counts against the Florenz modules -----------------------------------------------------------

@pytest.mark.parametrize("name", list(SIZES))
def test_analytic_parameter_count_equals_module_count(name):
    from florenz.model.florenz import FlorenzModel

    device = "meta" if name in PAPER_SIZES else "cpu"
    with torch.device(device):
        model = FlorenzModel(SIZES[name])
    apply_freezing(model)
    assert count_parameters(model) == parameter_counts(SIZES[name])
    apply_freezing(model, train_vision=True)
    assert count_parameters(model) == parameter_counts(SIZES[name], train_vision=True)


@pytest.mark.parametrize("every,prenorm", [(1, False), (2, True)])
def test_analytic_count_follows_cross_attention_placement(every, prenorm):
    from florenz.model.florenz import FlorenzModel

    config = _tiny_gemma_config(every, prenorm)
    model = FlorenzModel(config)
    apply_freezing(model)
    assert count_parameters(model) == parameter_counts(config)


def test_count_parameters_counts_a_tied_weight_once():
    embedding = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = embedding.weight
    frozen = nn.Linear(4, 3)
    frozen.requires_grad_(False)
    assert count_parameters(nn.ModuleList([embedding, head, frozen])) == (40 + 15, 40)


# --- freezing --------------------------------------------------------------------------------------------

def test_bart_kind_trains_encoder_and_whole_decoder_with_vision_frozen_in_eval():
    from florenz.model.florenz import FlorenzModel

    model = FlorenzModel(SIZES["world-xxs"])
    apply_freezing(model)
    model.train()
    for name, parameter in model.named_parameters():
        frozen_part = name.startswith(("vision_tower.", "image_projection", "image_proj_norm.",
                                       "image_position_embed."))
        assert parameter.requires_grad is not frozen_part, name
    assert not model.vision_tower.training
    assert model.encoder.training and model.decoder.training


def test_gemma_kind_trains_only_cross_attention_and_embedding_in_the_decoder():
    from florenz.model.florenz import FlorenzModel

    model = FlorenzModel(_tiny_gemma_config())
    apply_freezing(model)
    trained = {name for name, p in model.named_parameters()
               if p.requires_grad and name.startswith("decoder.")}
    expected = {"decoder.embed_tokens.weight"}
    for layer in (0, 1):
        expected |= {f"decoder.layers.{layer}.encoder_attn.{proj}_proj.weight" for proj in "qkvo"}
        expected |= {f"decoder.layers.{layer}.encoder_attn_gate",
                     f"decoder.layers.{layer}.post_encoder_attention_layernorm.weight"}
    assert trained == expected
    assert all(p.requires_grad for p in model.encoder.parameters())
    assert not any(p.requires_grad for p in model.vision_tower.parameters())


# --- forward FLOPs ---------------------------------------------------------------------------------------

def test_vision_flops_equal_measured_transformers_davit_with_window_padding():
    # 40 px: maps of 10x10 and 5x5 are padded to 12x12 and 8x8 by the 4-wide windows
    vision = VisionConfig(embed_dims=(16, 32), depths=(1, 2), num_heads=(2, 4), num_groups=(2, 4),
                          patch_size=(7, 3), patch_stride=(4, 2), patch_padding=(3, 1),
                          patch_prenorm=(False, True), window_size=4, projection_dim=24, max_grid_side=8)
    config = Florence2Config(vision_config=_hf_vision_config(vision))
    config.vision_config._attn_implementation = "eager"
    tower, adapter = Florence2VisionBackbone(config.vision_config), Florence2MultiModalProjector(config)
    with FlopCounterMode(display=False) as counter:
        adapter(tower(torch.randn(1, 3, 40, 40)).last_hidden_state)
    assert vision_flops(vision, 40) == counter.get_total_flops()


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# torch's counter knows the GPU fused-attention kernels but not the CPU one: count it with torch's own formula
CPU_ATTENTION_FLOPS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}


# at 40 px the 4-wide windows pad the 10x10 and 5x5 maps to 12x12 and 8x8
@pytest.mark.parametrize("config", [dataclasses.replace(SIZES["world-xxs"], image_size=40),
                                    _tiny_gemma_config(2, True)], ids=["bart-padded-windows", "gemma2"])
def test_forward_flops_equal_measured_flops_of_the_florenz_model(config):
    from florenz.model.florenz import FlorenzModel

    model = FlorenzModel(config).eval()
    prompt, target = 7, 5
    pixel_values = torch.randn(1, 3, config.image_size, config.image_size)
    input_ids = torch.randint(4, 64, (1, prompt))
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
        model(pixel_values, input_ids, torch.ones_like(input_ids), torch.randint(4, 64, (1, target)))
    assert forward_flops(config, config.image_size, prompt, target) == counter.get_total_flops()


# reference §5.3: rough analytic MACs per sample at 224 px, 50 + 128 encoder and 128 decoder tokens
REFERENCE_GMACS = {"florenz-0.4b": 62, "florenz-1.0b": 170, "florenz-3.5b": 490, "florenz-11.2b": 1500}


@pytest.mark.parametrize("name", PAPER_SIZES)
def test_paper_size_forward_flops_match_reference_estimates(name):
    assert forward_flops(SIZES[name]) / 2e9 == pytest.approx(REFERENCE_GMACS[name], rel=0.02)


def test_training_compute_is_samples_times_flops_times_backward_factor():
    assert training_compute(1000, 2e9, 400, 100) == 1000 * 2e9 * 1.25
    # Florence sizes train their whole decoder: 1 + Pt/P ≈ 1.787 at 0.4B, not the reference's 1.653 (§9.2.2)
    total, trainable = parameter_counts(SIZES["florenz-0.4b"])
    assert training_compute(1, 1.0, total, trainable) == pytest.approx(1.787, abs=0.005)
