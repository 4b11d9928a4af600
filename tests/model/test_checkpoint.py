"""save_pretrained / from_pretrained: round trips, shards, tied weights, refusals that name the problem."""

import dataclasses
import hashlib
import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from florenz.errors import FlorenzError
from florenz.model.checkpoint import load_state_dict_strict, load_weights, save_checkpoint
from florenz.model.config import (
    BartDecoderConfig,
    EncoderConfig,
    Gemma2DecoderConfig,
    ModelConfig,
    VisionConfig,
)
from florenz.model.florenz import FlorenzModel

CONFIG = ModelConfig(
    vision=VisionConfig(embed_dims=(8, 16), depths=(1, 1), num_heads=(1, 2), num_groups=(1, 2),
                        patch_size=(7, 3), patch_stride=(4, 2), patch_padding=(3, 1),
                        patch_prenorm=(False, True), window_size=4, projection_dim=16),
    encoder=EncoderConfig(vocab_size=40, d_model=16, layers=1, attention_heads=2, ffn_dim=32,
                          max_position_embeddings=48),
    decoder=BartDecoderConfig(vocab_size=50, d_model=16, layers=1, attention_heads=2, ffn_dim=32,
                              max_position_embeddings=16),
    image_size=32)


def _logits(model: FlorenzModel) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randn(2, 3, 32, 32, generator=generator)
    prompt = torch.randint(2, 40, (2, 4), generator=generator)
    decoder_ids = torch.randint(3, 50, (2, 5), generator=generator)
    with torch.no_grad():
        return model.eval()(pixels, prompt, torch.ones_like(prompt), decoder_ids)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return FlorenzModel(CONFIG)


def _snapshot(directory) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.iterdir())}


GEMMA2 = Gemma2DecoderConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                             num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                             query_pre_attn_scalar=8, max_position_embeddings=16)


@pytest.mark.parametrize("decoder", [CONFIG.decoder, GEMMA2], ids=["bart", "gemma2"])
def test_round_trip_gives_identical_logits_and_records_the_config(decoder, tmp_path):
    torch.manual_seed(0)
    model = FlorenzModel(dataclasses.replace(CONFIG, decoder=decoder))
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "florenz" and config["architectures"] == ["FlorenzModel"]
    assert config["decoder"]["kind"] == decoder.kind and config["vision"]["embed_dims"] == [8, 16]
    assert torch.equal(_logits(FlorenzModel.from_pretrained(tmp_path)), _logits(model))


def test_sharded_round_trip_writes_an_index_and_gives_identical_logits(model, tmp_path):
    model.save_pretrained(tmp_path, max_shard_bytes=20_000)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert not (tmp_path / "model.safetensors").exists()
    assert set(index["weight_map"]) == set(model.state_dict())
    assert torch.equal(_logits(FlorenzModel.from_pretrained(tmp_path)), _logits(model))


class _TiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(7, 3)
        self.lm_head = nn.Linear(3, 7, bias=False)
        self.lm_head.weight = self.embed_tokens.weight


def test_tied_weights_are_stored_once_and_stay_tied_after_loading(tmp_path):
    torch.manual_seed(0)
    source = _TiedLM()
    save_checkpoint(source, {"model_type": "toy"}, tmp_path)
    assert list(load_file(tmp_path / "model.safetensors")) == ["embed_tokens.weight"]
    target = _TiedLM()
    load_state_dict_strict(target, load_weights(tmp_path), str(tmp_path))
    assert torch.equal(target.lm_head.weight, source.embed_tokens.weight)
    assert target.lm_head.weight is target.embed_tokens.weight


@pytest.mark.parametrize(("edit", "named"), [
    (lambda w: w.pop("encoder.layers.0.fc1.weight"), r"missing keys \(1\): encoder\.layers\.0\.fc1\.weight"),
    (lambda w: w.update({"decoder.lm_bias": torch.zeros(50)}), r"unexpected keys \(1\): decoder\.lm_bias"),
    (lambda w: w.update({"image_proj_norm.weight": torch.ones(17)}),
     r"wrong shapes \(1\): image_proj_norm\.weight: checkpoint \(17,\), model \(16,\)"),
], ids=["missing", "extra", "wrong-shape"])
def test_mismatched_checkpoint_is_refused_by_key_and_loads_nothing(model, tmp_path, edit, named):
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    edit(weights)
    save_file(weights, tmp_path / "model.safetensors")
    before = _snapshot(tmp_path)
    torch.manual_seed(5)
    target = FlorenzModel(CONFIG)
    untouched = {name: tensor.clone() for name, tensor in target.state_dict().items()}
    with pytest.raises(FlorenzError, match=named):
        load_state_dict_strict(target, load_weights(tmp_path), str(tmp_path))
    assert all(torch.equal(tensor, untouched[name]) for name, tensor in target.state_dict().items())
    with pytest.raises(FlorenzError, match=named):
        FlorenzModel.from_pretrained(tmp_path)
    assert _snapshot(tmp_path) == before


def test_foreign_model_type_and_architecture_are_refused(model, tmp_path):
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "florence2"}))
    with pytest.raises(FlorenzError, match="model_type 'florence2', expected 'florenz'.*load_florence2"):
        FlorenzModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "architectures": ["Gemma2ForCausalLM"]}))
    with pytest.raises(FlorenzError, match="Gemma2ForCausalLM"):
        FlorenzModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "encoder": {"layerz": 2}}))
    with pytest.raises(FlorenzError, match="unknown key.*layerz"):
        FlorenzModel.from_pretrained(tmp_path)


def test_truncated_safetensors_file_is_reported_by_path(model, tmp_path):
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(FlorenzError, match=r"model\.safetensors is not a readable safetensors file"):
        FlorenzModel.from_pretrained(tmp_path)


class _NotATensor:
    pass


def test_pickled_weights_load_only_when_they_are_plain_tensors(model, tmp_path):
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    assert torch.equal(_logits(FlorenzModel.from_pretrained(tmp_path)), _logits(model))
    torch.save({**model.state_dict(), "extra": _NotATensor()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(FlorenzError, match=r"refusing to load .*pytorch_model\.bin.*weights_only=True"):
        FlorenzModel.from_pretrained(tmp_path)


def test_saving_again_keeps_other_files_and_removes_the_previous_shards(model, tmp_path):
    (tmp_path / "trainer_state.json").write_text("{}")
    model.save_pretrained(tmp_path, max_shard_bytes=20_000)
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json", "model.safetensors", "trainer_state.json"]
    assert torch.equal(_logits(FlorenzModel.from_pretrained(tmp_path)), _logits(model))


def test_every_written_file_is_fsynced_before_it_is_renamed_into_place(model, tmp_path, monkeypatch):
    import os

    synced = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    model.save_pretrained(tmp_path, max_shard_bytes=20_000)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) > 3  # shards, the index and config.json
    assert sorted(name.removesuffix(".tmp") for name in synced) == written
    assert not [name for name in written if name.endswith(".tmp") or name.startswith(".")]
