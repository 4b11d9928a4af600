"""Florence-2 checkpoints in both key layouts load into FlorenzModel and give transformers' logits."""

import json
import re

import pytest
import torch
from safetensors.torch import load_file
from transformers import BartConfig, Florence2Config, Florence2ForConditionalGeneration
from transformers.models.florence2.configuration_florence2 import Florence2VisionConfig

from florenz.errors import FlorenzError
from florenz.model.convert_florence2 import florence2_model_config, load_florence2

IMAGE_TOKEN = 99
IMAGE_SIDE = 40  # total stride 8 -> a 5x5 grid -> 1 + 25 image tokens; windows of 3 need padding
VISION = dict(depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1],
              patch_prenorm=[False, True], num_heads=[2, 4], num_groups=[2, 4], window_size=3,
              projection_dim=24, drop_path_rate=0.1)
TEXT = dict(vocab_size=100, d_model=24, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
            decoder_attention_heads=3, encoder_ffn_dim=40, decoder_ffn_dim=36, max_position_embeddings=64)


@pytest.fixture(scope="module")
def florence2(tmp_path_factory):
    """A random tiny transformers Florence-2, saved in its native layout; (directory, model)."""
    torch.manual_seed(0)
    vision = Florence2VisionConfig(embed_dim=[16, 32], max_position_embeddings=10, max_temporal_embeddings=7,
                                   **VISION)
    config = Florence2Config(vision_config=vision.to_dict(), text_config=BartConfig(**TEXT).to_dict(),
                             image_token_id=IMAGE_TOKEN)
    model = Florence2ForConditionalGeneration(config)
    model.config._attn_implementation = "eager"
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))  # move norms and biases off their init too
    directory = tmp_path_factory.mktemp("florence2-native")
    model.eval().save_pretrained(directory)
    return directory, model


def _inputs():
    torch.manual_seed(1)
    pixels = torch.randn(2, 3, IMAGE_SIDE, IMAGE_SIDE)
    prompt = torch.randint(3, IMAGE_TOKEN, (2, 5))
    mask = torch.ones(2, 5, dtype=torch.long)
    mask[1, 3:] = 0  # a right-padded prompt
    decoder_ids = torch.randint(3, IMAGE_TOKEN, (2, 6))
    return pixels, prompt, mask, decoder_ids


def _transformers_logits(model, pixels, prompt, mask, decoder_ids):
    """transformers wants one placeholder per image token in front of the prompt."""
    image_tokens = 1 + (IMAGE_SIDE // 8) ** 2
    input_ids = torch.cat([torch.full((2, image_tokens), IMAGE_TOKEN), prompt], dim=1)
    attention_mask = torch.cat([torch.ones(2, image_tokens, dtype=torch.long), mask], dim=1)
    with torch.no_grad():
        return model(input_ids=input_ids, pixel_values=pixels, attention_mask=attention_mask,
                     decoder_input_ids=decoder_ids).logits


def _check_same_logits(ours, reference):
    inputs = _inputs()
    with torch.no_grad():
        logits = ours.eval()(*inputs)
    torch.testing.assert_close(logits, _transformers_logits(reference, *inputs), atol=1e-4, rtol=1e-4)


def test_native_layout_logits_match_transformers_florence2(florence2):
    directory, reference = florence2
    _check_same_logits(load_florence2(directory, image_size=IMAGE_SIDE), reference)


def _remote_code_key(key: str) -> str:
    """Hand-written rename from transformers' native keys to microsoft's remote-code modeling_florence2.py."""
    if key == "lm_head.weight":
        return "language_model.lm_head.weight"
    key = key.replace("model.language_model.", "language_model.model.")
    key = key.replace("model.multi_modal_projector.image_position_embed.", "image_pos_embed.")
    key = key.replace("model.multi_modal_projector.", "")
    key = key.replace("model.vision_tower.", "vision_tower.")
    key = re.sub(r"^(vision_tower\.convs\.\d+)\.conv\.", r"\1.proj.", key)
    block = re.match(r"^(vision_tower\.blocks\.\d+\.\d+\.(spatial|channel)_block)\.(.+)$", key)
    if block:
        prefix, kind, rest = block.groups()
        attention = "window_attn" if kind == "spatial" else "channel_attn"
        rest = re.sub(r"^conv(\d)\.", r"conv\1.fn.dw.", rest)
        rest = re.sub(r"^norm1\.", f"{attention}.norm.", rest)
        rest = re.sub(rf"^{attention}\.(qkv|proj)\.", rf"{attention}.fn.\1.", rest)
        rest = re.sub(r"^norm2\.", "ffn.norm.", rest)
        rest = re.sub(r"^ffn\.(fc\d)\.", r"ffn.fn.net.\1.", rest)
        key = f"{prefix}.{rest}"
    return key


def _remote_code_config(native: dict) -> dict:
    """The same model described the way microsoft's config.json describes it."""
    vision, text = dict(native["vision_config"]), dict(native["text_config"])
    vision["dim_embed"] = vision.pop("embed_dim")
    vision["image_pos_embed"] = {"type": "learned_abs_2d",
                                 "max_pos_embeddings": vision.pop("max_position_embeddings")}
    vision["visual_temporal_embedding"] = {"type": "COSINE",
                                           "max_temporal_embeddings": vision.pop("max_temporal_embeddings")}
    vision["model_type"] = "davit"
    text["model_type"] = "florence2_language"
    return {"architectures": ["Florence2ForConditionalGeneration"], "model_type": "florence2",
            "vision_config": vision, "text_config": text}


def test_remote_code_layout_logits_match_transformers_florence2(florence2, tmp_path):
    directory, reference = florence2
    native = load_file(directory / "model.safetensors")
    remote = {_remote_code_key(key): tensor for key, tensor in native.items()}
    remote["image_projection"] = remote.pop("image_projection.weight").t().contiguous()  # stored as x @ W
    shared = remote["language_model.model.shared.weight"]
    # the original .bin files store every tied copy and the all-zero final-logits bias
    remote["language_model.model.encoder.embed_tokens.weight"] = shared.clone()
    remote["language_model.model.decoder.embed_tokens.weight"] = shared.clone()
    remote["language_model.lm_head.weight"] = shared.clone()
    remote["language_model.final_logits_bias"] = torch.zeros(1, TEXT["vocab_size"])
    torch.save(remote, tmp_path / "pytorch_model.bin")
    native_config = json.loads((directory / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(_remote_code_config(native_config)))
    _check_same_logits(load_florence2(tmp_path, image_size=IMAGE_SIDE), reference)


def test_text_only_decoder_matches_transformers_bart_decoder_without_encoder(florence2):
    directory, reference = florence2
    ours = load_florence2(directory, image_size=IMAGE_SIDE).eval()
    decoder_ids = _inputs()[3]
    with torch.no_grad():
        hidden = reference.model.language_model.decoder(input_ids=decoder_ids).last_hidden_state
        torch.testing.assert_close(ours.decoder(decoder_ids, None, None), reference.lm_head(hidden),
                                   atol=1e-4, rtol=1e-4)


def test_florence2_config_maps_to_bart_model_config_with_bart_ids_and_no_soft_cap(florence2):
    directory, _ = florence2
    florence2_config = json.loads((directory / "config.json").read_text())
    config = florence2_model_config(florence2_config, image_size=IMAGE_SIDE)
    assert config.vision.embed_dims == (16, 32) and config.vision.window_size == 3
    assert config.vision.max_grid_side == 10 and config.vision.projection_dim == 24
    assert (config.encoder.vocab_size, config.encoder.layers, config.encoder.ffn_dim) == (100, 2, 40)
    assert (config.decoder.kind, config.decoder.attention_heads, config.decoder.ffn_dim) == ("bart", 3, 36)
    assert config.decoder.final_logit_softcapping is None
    # BART's ids: <s> 0, <pad> 1, </s> 2, and decoding starts with </s>
    assert (config.bos_token_id, config.pad_token_id, config.eos_token_id) == (0, 1, 2)
    assert config.decoder_start_token_id == 2 and config.encoder.pad_token_id == 1


def test_unknown_key_and_nonzero_logits_bias_are_refused_by_name(florence2, tmp_path):
    directory, _ = florence2
    (tmp_path / "config.json").write_text((directory / "config.json").read_text())
    weights = load_file(directory / "model.safetensors")
    weights["model.language_model.adapter.weight"] = torch.zeros(2)
    torch.save(weights, tmp_path / "pytorch_model.bin")
    with pytest.raises(FlorenzError, match=r"model\.language_model\.adapter\.weight"):
        load_florence2(tmp_path, image_size=IMAGE_SIDE)
    remote = {"language_model.model.shared.weight": torch.zeros(3, 2),
              "language_model.final_logits_bias": torch.ones(1, 3)}
    torch.save(remote, tmp_path / "pytorch_model.bin")
    with pytest.raises(FlorenzError, match="final_logits_bias is not zero"):
        load_florence2(tmp_path, image_size=IMAGE_SIDE)


@pytest.mark.parametrize("section,key,value", [
    ("vision_config", "activation_function", "relu"), ("vision_config", "qkv_bias", False),
    ("vision_config", "image_feature_source", ["spatial_avg_pool"]),
    ("vision_config", "image_pos_embed", {"type": "sine", "max_pos_embeddings": 10}),
    ("text_config", "activation_function", "relu")])
def test_a_setting_florenz_does_not_implement_is_refused_by_name(florence2, section, key, value):
    directory, _ = florence2
    florence2_config = json.loads((directory / "config.json").read_text())
    florence2_config[section][key] = value
    with pytest.raises(FlorenzError, match=f"{section}.{key}.*not supported"):
        florence2_model_config(florence2_config, image_size=IMAGE_SIDE)
