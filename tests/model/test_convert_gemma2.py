"""Gemma-2 conversion: config mapping, key map, PostEncNorm copy, sharded files, and strict errors."""

import json

import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file

from florenz.errors import FlorenzError
from florenz.model.config import Gemma2DecoderConfig
from florenz.model.convert_gemma2 import (
    FLORENZ_TO_GEMMA2,
    GEMMA2_TO_FLORENZ,
    gemma2_decoder_config,
    load_gemma2,
)

ENCODER_WIDTH = 12
HF_CONFIG = dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                 num_attention_heads=2, num_key_value_heads=1, head_dim=8, query_pre_attn_scalar=8,
                 sliding_window=6, attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                 rms_norm_eps=1e-6,
                 max_position_embeddings=128)


def _save_hf(directory, **save_options):
    torch.manual_seed(0)
    model = transformers.Gemma2ForCausalLM(transformers.Gemma2Config(**HF_CONFIG))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.2)
    model.save_pretrained(directory, **save_options)
    return model


def test_hf_config_json_maps_to_the_decoder_config(tmp_path):
    _save_hf(tmp_path)
    hf_config = json.loads((tmp_path / "config.json").read_text())
    expected = Gemma2DecoderConfig(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                                   query_pre_attn_scalar=8, attn_logit_softcapping=50.0,
                                   final_logit_softcapping=30.0, sliding_window=6, rope_theta=10000.0,
                                   rms_norm_eps=1e-6, max_position_embeddings=128, cross_attention_every=1)
    assert gemma2_decoder_config(hf_config) == expected


def test_transformers_4_config_spelling_with_top_level_rope_theta_is_read():
    # the field set of google/gemma-2-2b's config.json (transformers 4.42), sizes shrunk
    hf_config = {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2",
                 "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
                 "attention_bias": False, "rope_theta": 20000.0,
                 "cache_implementation": "hybrid", **HF_CONFIG}
    assert gemma2_decoder_config(hf_config).rope_theta == 20000.0


@pytest.mark.parametrize(("key", "value"), [("hidden_activation", "relu"), ("tie_word_embeddings", False),
                                            ("layer_types", ["full_attention", "full_attention"]),
                                            ("rope_parameters", {"rope_type": "linear", "rope_theta": 1e4})])
def test_settings_the_decoder_does_not_implement_are_refused_by_name(key, value):
    with pytest.raises(FlorenzError, match=key):
        gemma2_decoder_config({**HF_CONFIG, key: value})


def test_key_map_covers_every_hf_key_and_inverts_to_it(tmp_path):
    model = _save_hf(tmp_path)
    decoder = load_gemma2(tmp_path, ENCODER_WIDTH)
    hf_keys = set(load_file(tmp_path / "model.safetensors"))
    language_model = [name for name in decoder.state_dict() if "encoder" not in name]
    templated = {".".join("{}" if p.isdigit() else p for p in name.split(".")) for name in language_model}
    assert templated == set(FLORENZ_TO_GEMMA2)
    back = {FLORENZ_TO_GEMMA2[t] for t in templated}
    assert back == set(GEMMA2_TO_FLORENZ) - {"lm_head.weight"}
    # transformers leaves the tied head out of the file
    assert hf_keys == {k for k in model.state_dict() if k != "lm_head.weight"}
    assert len(language_model) == len(hf_keys)


def test_loaded_weights_equal_the_file_and_post_encoder_norm_copies_post_attention_norm(tmp_path):
    model = _save_hf(tmp_path)
    decoder = load_gemma2(tmp_path, ENCODER_WIDTH)
    ours = decoder.state_dict()
    torch.testing.assert_close(ours["layers.1.mlp.up_proj.weight"], model.model.layers[1].mlp.up_proj.weight)
    torch.testing.assert_close(ours["embed_tokens.weight"], model.model.embed_tokens.weight)
    for i in range(2):
        expected = model.model.layers[i].post_attention_layernorm.weight
        torch.testing.assert_close(ours[f"layers.{i}.post_encoder_attention_layernorm.weight"], expected)
        assert ours[f"layers.{i}.encoder_attn_gate"].item() == 0.0
        assert 0.01 < ours[f"layers.{i}.encoder_attn.v_proj.weight"].std().item() < 0.03  # fresh N(0, 0.02)
    # the copy is a separate tensor: training PostEncNorm must not move post_attention_layernorm
    assert (decoder.layers[0].post_encoder_attention_layernorm.weight.data_ptr()
            != decoder.layers[0].post_attention_layernorm.weight.data_ptr())


def test_sharded_checkpoint_loads_like_the_single_file(tmp_path):
    _save_hf(tmp_path / "single")
    _save_hf(tmp_path / "sharded", max_shard_size="8KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    single = load_gemma2(tmp_path / "single", ENCODER_WIDTH).state_dict()
    sharded = load_gemma2(tmp_path / "sharded", ENCODER_WIDTH).state_dict()
    for name in ("embed_tokens.weight", "layers.1.self_attn.o_proj.weight", "norm.weight"):
        torch.testing.assert_close(sharded[name], single[name])


def _rewrite_weights(directory, change):
    path = directory / "model.safetensors"
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def test_missing_key_is_named_in_the_error(tmp_path):
    _save_hf(tmp_path)
    _rewrite_weights(tmp_path, lambda t: t.pop("model.layers.1.mlp.gate_proj.weight"))
    with pytest.raises(FlorenzError, match=r"missing keys \(1\): model\.layers\.1\.mlp\.gate_proj\.weight"):
        load_gemma2(tmp_path, ENCODER_WIDTH)


def test_wrongly_shaped_key_is_named_in_the_error(tmp_path):
    _save_hf(tmp_path)
    _rewrite_weights(tmp_path, lambda t: t.update({"model.norm.weight": torch.zeros(17)}))
    with pytest.raises(FlorenzError, match=r"norm\.weight: checkpoint \(17,\), model \(16,\)"):
        load_gemma2(tmp_path, ENCODER_WIDTH)


def test_unknown_key_is_named_in_the_error(tmp_path):
    _save_hf(tmp_path)
    _rewrite_weights(tmp_path, lambda t: t.update({"model.layers.0.self_attn.q_norm.weight": torch.zeros(8)}))
    with pytest.raises(FlorenzError, match=r"model\.layers\.0\.self_attn\.q_norm\.weight"):
        load_gemma2(tmp_path, ENCODER_WIDTH)


def test_unknown_architecture_in_config_json_is_refused(tmp_path):
    _save_hf(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "llama",
                                                      "architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(FlorenzError, match="llama"):
        load_gemma2(tmp_path, ENCODER_WIDTH)


def test_pickled_bin_file_with_code_is_refused_by_name_without_unpickling(tmp_path):
    _save_hf(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save({"model.norm.weight": torch.zeros(16), "note": object.__new__(Gemma2DecoderConfig)},
               tmp_path / "pytorch_model.bin")
    with pytest.raises(FlorenzError, match="pytorch_model.bin"):
        load_gemma2(tmp_path, ENCODER_WIDTH)


def test_directory_without_weights_is_refused(tmp_path):
    _save_hf(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FlorenzError, match="model.safetensors"):
        load_gemma2(tmp_path, ENCODER_WIDTH)
