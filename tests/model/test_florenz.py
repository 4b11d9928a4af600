"""FlorenzModel: image-token counts, padding, cached decoding, soft-cap, the frozen tower's eval mode."""

import dataclasses

import pytest
import torch

from florenz.errors import FlorenzError
from florenz.model.cache import KVCache
from florenz.model.config import (
    BartDecoderConfig,
    Gemma2DecoderConfig,
    ModelConfig,
    VisionConfig,
)
from florenz.model.florenz import FlorenzModel
from tests.model.tiny import ENCODER, NO_DROPOUT, VISION

DECODER = BartDecoderConfig(vocab_size=60, d_model=32, layers=2, attention_heads=4, ffn_dim=64,
                            max_position_embeddings=32, final_logit_softcapping=None, **NO_DROPOUT)


def _model(decoder=DECODER, vision=VISION, encoder=ENCODER, image_size=32) -> FlorenzModel:
    torch.manual_seed(0)
    config = ModelConfig(vision=vision, encoder=encoder, decoder=decoder, image_size=image_size)
    return FlorenzModel(config).eval()


def _batch(image_size=32):
    torch.manual_seed(1)
    pixels = torch.randn(2, 3, image_size, image_size)
    prompt = torch.randint(2, 50, (2, 6))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[0, 4:] = 0
    return pixels, prompt, mask


@pytest.mark.parametrize(("image_size", "image_tokens"), [(224, 50), (768, 577)])
def test_stride32_tower_gives_1_plus_side_squared_image_tokens(image_size, image_tokens):
    narrow = VisionConfig(embed_dims=(4, 4, 4, 8), depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1),
                          num_groups=(1, 1, 1, 1), drop_path_rate=0.0, projection_dim=32)
    model = _model(vision=narrow, encoder=dataclasses.replace(ENCODER, max_position_embeddings=1024),
                   image_size=image_size)
    pixels = torch.randn(1, 3, image_size, image_size)
    with torch.no_grad():
        hidden, mask = model.encode(pixels, torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long))
    assert model.config.vision.num_image_tokens(image_size) == image_tokens
    assert hidden.shape == (1, image_tokens + 3, 32) and mask.shape == (1, image_tokens + 3)


def test_padded_prompt_positions_do_not_change_the_logits():
    model = _model()
    pixels, prompt, mask = _batch()
    other = prompt.clone()
    other[0, 4:] = (prompt[0, 4:] + 7) % 50  # different ids where the mask is 0
    decoder_ids = torch.randint(3, 60, (2, 5))
    with torch.no_grad():
        logits = model(pixels, prompt, mask, decoder_ids)
        torch.testing.assert_close(model(pixels, other, mask, decoder_ids), logits, atol=1e-6, rtol=0)
        unmasked = model(pixels, other, torch.ones_like(mask), decoder_ids)
    assert not torch.allclose(unmasked[0], logits[0], atol=1e-4)


def test_cached_greedy_decoding_matches_recomputing_every_step_without_cache():
    model = _model()
    pixels, prompt, mask = _batch()
    with torch.no_grad():
        hidden, encoder_mask = model.encode(pixels, prompt, mask)
        tokens = torch.full((2, 1), model.config.decoder_start_token_id)
        cache = KVCache(model.decoder.num_layers)
        step_input = tokens
        for _ in range(8):
            cached = model.decode(step_input, hidden, encoder_mask, cache)[:, -1]  # (B, V)
            recomputed = model.decode(tokens, hidden, encoder_mask)[:, -1]
            torch.testing.assert_close(cached, recomputed, atol=1e-5, rtol=1e-5)
            step_input = cached.argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, step_input], dim=1)
    assert cache.length == tokens.shape[1] - 1
    assert all(kv is not None and kv[0].shape[2] == hidden.shape[1] for kv in cache.cross)


def test_cached_prefix_of_several_tokens_then_single_steps_matches_no_cache():
    model = _model()
    pixels, prompt, mask = _batch()
    decoder_ids = torch.randint(3, 60, (2, 7))
    with torch.no_grad():
        hidden, encoder_mask = model.encode(pixels, prompt, mask)
        full = model.decode(decoder_ids, hidden, encoder_mask)
        cache = KVCache(model.decoder.num_layers)
        pieces = [model.decode(decoder_ids[:, :3], hidden, encoder_mask, cache),
                  model.decode(decoder_ids[:, 3:5], hidden, encoder_mask, cache),  # 2 new after 3 cached
                  model.decode(decoder_ids[:, 5:], hidden, encoder_mask, cache)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_soft_cap_gives_cap_times_tanh_of_the_uncapped_logits():
    uncapped = _model()
    capped = _model(decoder=dataclasses.replace(DECODER, final_logit_softcapping=0.5))
    capped.load_state_dict(uncapped.state_dict())
    inputs = (*_batch(), torch.randint(3, 60, (2, 4)))
    with torch.no_grad():
        raw, bounded = uncapped(*inputs), capped(*inputs)
    assert raw.abs().max() > 0.5 and bounded.dtype == torch.float32
    torch.testing.assert_close(bounded, 0.5 * torch.tanh(raw / 0.5))


def test_frozen_vision_tower_stays_in_eval_mode_when_the_model_trains():
    model = _model(vision=dataclasses.replace(VISION, drop_path_rate=0.9))
    pixels = _batch()[0]
    model.vision_tower.requires_grad_(False)
    model.train()
    assert model.encoder.training and model.decoder.training
    assert not any(module.training for module in model.vision_tower.modules())
    first, second = model.encode_image(pixels), model.encode_image(pixels)
    torch.testing.assert_close(first, second, atol=0, rtol=0)  # drop-path inactive
    model.vision_tower.requires_grad_(True)  # unfrozen explicitly: trains, drop-path on
    model.train()
    assert all(module.training for module in model.vision_tower.modules())
    assert not torch.equal(model.encode_image(pixels), model.encode_image(pixels))


def test_gemma2_decoder_kind_is_built_from_the_config_and_decodes():
    gemma = Gemma2DecoderConfig(vocab_size=60, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                                query_pre_attn_scalar=16, max_position_embeddings=32)
    model = _model(decoder=gemma)
    assert type(model.decoder).__name__ == "Gemma2Decoder"
    with torch.no_grad():
        logits = model(*_batch(), torch.randint(3, 60, (2, 4)))
    assert logits.shape == (2, 4, 60)


def test_too_long_inputs_raise_errors_that_name_the_limit():
    model = _model(vision=dataclasses.replace(VISION, max_grid_side=10))
    pixels, _, _ = _batch()
    long_prompt = torch.ones(2, 60, dtype=torch.long)  # 17 image tokens + 60 > 64 encoder positions
    with pytest.raises(FlorenzError, match="max_position_embeddings=64"):
        model.encode(pixels, long_prompt, torch.ones_like(long_prompt))
    with pytest.raises(FlorenzError, match="max_grid_side"):
        model.encode_image(torch.randn(1, 3, 96, 96))  # a 12x12 grid, table has 10 rows
