"""The size ladder: the paper's four sizes hit the paper's parameter counts; the world sizes are CPU-sized."""

import pytest
import torch

from florenz.cli import main
from florenz.config import ConfigError, from_dict, to_dict
from florenz.model.accounting import count_parameters, parameter_breakdown, parameter_counts
from florenz.model.config import Gemma2DecoderConfig, ModelConfig
from florenz.model.sizes import PAPER_SIZES, SIZES, get_size

WORLD_SIZES = [name for name in SIZES if name.startswith("world-")]

# reference §1.2: total and trainable (pretraining) parameters of the four sizes, in billions
PAPER_TOTALS = {"florenz-0.4b": 0.43, "florenz-1.0b": 1.04, "florenz-3.5b": 3.49, "florenz-11.2b": 11.22}
PAPER_TRAINABLE = {"florenz-0.4b": 0.338, "florenz-1.0b": 0.677, "florenz-3.5b": 1.098,
                   "florenz-11.2b": 2.535}
# reference §1.2 breakdown, in millions: DaViT, encoder, decoder cross-attention (Gemma sizes)
PAPER_VISION = {"florenz-0.4b": 90.4, "florenz-1.0b": 360.6, "florenz-3.5b": 360.6, "florenz-11.2b": 360.6}
PAPER_ENCODER = {"florenz-0.4b": 82.7, "florenz-1.0b": 207.9, "florenz-3.5b": 207.9, "florenz-11.2b": 207.9}
PAPER_CROSS_ATTENTION = {"florenz-3.5b": 300.0, "florenz-11.2b": 1409.4}


@pytest.mark.parametrize("name", PAPER_SIZES)
def test_paper_size_parameter_counts_match_reference_table(name):
    total, trainable = parameter_counts(SIZES[name])
    assert total / 1e9 == pytest.approx(PAPER_TOTALS[name], rel=0.01)
    assert trainable / 1e9 == pytest.approx(PAPER_TRAINABLE[name], rel=0.01)
    parts = parameter_breakdown(SIZES[name])
    assert parts["vision"] / 1e6 == pytest.approx(PAPER_VISION[name], abs=0.05)
    assert parts["encoder"] / 1e6 == pytest.approx(PAPER_ENCODER[name], abs=0.05)
    if name in PAPER_CROSS_ATTENTION:
        assert parts["decoder_cross_attention"] / 1e6 == pytest.approx(PAPER_CROSS_ATTENTION[name], abs=0.05)


@pytest.mark.parametrize("name", PAPER_SIZES)
def test_paper_size_built_on_meta_device_has_paper_parameter_count(name):
    from florenz.model.florenz import FlorenzModel

    with torch.device("meta"):
        model = FlorenzModel(SIZES[name])
    total, _ = count_parameters(model)
    assert total / 1e9 == pytest.approx(PAPER_TOTALS[name], rel=0.01)


def test_paper_sizes_use_the_gemma2_vocabulary_and_224px():
    for name in PAPER_SIZES:
        config = SIZES[name]
        assert config.decoder.vocab_size == 256000  # not the reference's 257,024 (§9.2.17)
        assert config.encoder.vocab_size == 51289
        assert config.vision.num_image_tokens(config.image_size) == 50
    assert isinstance(SIZES["florenz-3.5b"].decoder, Gemma2DecoderConfig)
    assert SIZES["florenz-11.2b"].decoder.num_hidden_layers == 42


def test_world_ladder_spans_cpu_sizes_with_both_decoder_kinds():
    assert len([n for n in WORLD_SIZES if not n.endswith("-gemma")]) >= 5
    totals = sorted(parameter_counts(SIZES[name])[0] for name in WORLD_SIZES)
    assert 0.3e6 <= totals[0] <= 1e6 and 30e6 <= totals[-1] <= 60e6
    kinds = {SIZES[name].decoder.kind for name in WORLD_SIZES}
    assert kinds == {"bart", "gemma2"}


@pytest.mark.parametrize("name", WORLD_SIZES)
def test_world_size_gives_16_to_65_image_tokens_and_uses_the_world_vocabulary(name):
    config = SIZES[name]
    assert config.vision.total_stride in (8, 16)
    assert 16 <= config.vision.num_image_tokens(config.image_size) <= 65
    assert config.encoder.vocab_size == config.decoder.vocab_size == 2048
    assert config.encoder.pad_token_id == config.pad_token_id == 0  # world tokenizer: <pad>=0


@pytest.mark.parametrize("name", list(SIZES))
def test_size_config_round_trips_through_its_json_dict(name):
    assert from_dict(ModelConfig, to_dict(SIZES[name])) == SIZES[name]


def test_get_size_returns_an_independent_copy():
    config = get_size("world-s")
    config.encoder.layers = 99
    assert SIZES["world-s"].encoder.layers != 99


def test_get_size_unknown_name_lists_the_ladder():
    with pytest.raises(ConfigError, match="world-xxs.*florenz-11.2b|florenz-0.4b.*world-xxs"):
        get_size("florenz-7b")


def test_model_list_prints_every_size_with_its_parameters(capsys):
    assert main(["model", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:] if line.split() and line.split()[0] in SIZES}
    assert set(rows) == set(SIZES)
    assert rows["florenz-3.5b"][1:5] == ["gemma2", "3.49B", "1.10B", "0.315"]  # reference §1.2 and §5.3
    assert rows["world-s"][1] == "bart"


def test_model_info_prints_the_config_and_rejects_unknown_names(capsys):
    assert main(["model", "info", "world-xs-gemma"]) == 0
    out = capsys.readouterr().out
    assert '"num_hidden_layers": 4' in out and "image tokens" in out
    assert main(["model", "info", "world-7b"]) == 2
    assert "world-xxs" in capsys.readouterr().err
    assert main(["model", "info", "world-xs", "--prompt-tokens", "-5"]) == 2
    assert "--prompt-tokens is -5" in capsys.readouterr().err


@pytest.mark.parametrize("change,named", [({"cross_attention_every": 0}, "cross_attention_every"),
                                          ({"num_key_value_heads": 3}, "num_key_value_heads")])
def test_a_gemma2_decoder_config_that_cannot_be_built_is_a_config_error(change, named):
    decoder = {**to_dict(SIZES["world-xs-gemma"].decoder), **change}
    with pytest.raises(ConfigError, match=named):
        from_dict(ModelConfig, {**to_dict(SIZES["world-xs-gemma"]), "decoder": decoder})
