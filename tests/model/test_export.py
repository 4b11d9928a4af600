"""florenz export: a BART-kind run as transformers' Florence-2, checked on logits; refusals say why."""

import dataclasses

import pytest
import torch
from transformers import Florence2ForConditionalGeneration

from florenz.cli import main
from florenz.errors import FlorenzError
from florenz.model.config import (
    BartDecoderConfig,
    EncoderConfig,
    ExportConfig,
    ModelConfig,
    VisionConfig,
)
from florenz.model.convert_florence2 import load_florence2
from florenz.model.export import export
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import SIZES

IMAGE_TOKEN = 3
CONFIG = ModelConfig(
    vision=VisionConfig(embed_dims=(8, 16), depths=(1, 1), num_heads=(1, 2), num_groups=(1, 2),
                        patch_size=(7, 3), patch_stride=(4, 2), patch_padding=(3, 1),
                        patch_prenorm=(False, True), window_size=3, projection_dim=24, max_grid_side=8),
    encoder=EncoderConfig(vocab_size=60, d_model=24, layers=2, attention_heads=2, ffn_dim=40,
                          max_position_embeddings=48, pad_token_id=0),
    decoder=BartDecoderConfig(vocab_size=60, d_model=24, layers=2, attention_heads=3, ffn_dim=36,
                              max_position_embeddings=48, final_logit_softcapping=None),
    image_size=32)


def _run(tmp_path, config=CONFIG):
    """A tiny random model saved as a run directory, with every weight moved off its init."""
    torch.manual_seed(0)
    model = FlorenzModel(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    run = tmp_path / "run"
    model.save_pretrained(run)
    return run, model.eval()


def _inputs():
    torch.manual_seed(1)
    pixels = torch.randn(2, 3, 32, 32)
    prompt = torch.randint(4, 60, (2, 5))
    mask = torch.ones(2, 5, dtype=torch.long)
    mask[1, 3:] = 0
    return pixels, prompt, mask, torch.randint(4, 60, (2, 6))


def _transformers_logits(model, pixels, prompt, mask, decoder_ids):
    image_tokens = 1 + (32 // 8) ** 2  # one placeholder per image token, in front of the prompt
    input_ids = torch.cat([torch.full((2, image_tokens), IMAGE_TOKEN), prompt], dim=1)
    attention_mask = torch.cat([torch.ones(2, image_tokens, dtype=torch.long), mask], dim=1)
    with torch.no_grad():
        return model(input_ids=input_ids, pixel_values=pixels, attention_mask=attention_mask,
                     decoder_input_ids=decoder_ids).logits


def _load_transformers(directory):
    model, info = Florence2ForConditionalGeneration.from_pretrained(directory, output_loading_info=True)
    assert not any(info[kind] for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    return model.eval()


def test_exported_run_gives_the_runs_logits_in_transformers(tmp_path):
    run, model = _run(tmp_path)
    assert main(["export", str(run), "--out", str(tmp_path / "hf")]) == 0
    inputs = _inputs()
    with torch.no_grad():
        expected = model(*inputs)
    torch.testing.assert_close(_transformers_logits(_load_transformers(tmp_path / "hf"), *inputs), expected,
                               atol=1e-5, rtol=1e-5)
    # and back: our own Florence-2 loader reads the export as the same model
    torch.testing.assert_close(load_florence2(tmp_path / "hf", image_size=32).eval()(*inputs), expected,
                               atol=1e-5, rtol=1e-5)


def test_a_soft_capped_decoder_is_refused_unless_the_cap_is_dropped_explicitly(tmp_path):
    capped = dataclasses.replace(CONFIG, decoder=dataclasses.replace(CONFIG.decoder,
                                                                     final_logit_softcapping=3.0))
    run, model = _run(tmp_path, capped)
    with pytest.raises(FlorenzError, match="--drop-softcap"):
        export(ExportConfig(run=str(run), out=str(tmp_path / "hf")))
    assert not (tmp_path / "hf").exists()
    export(ExportConfig(run=str(run), out=str(tmp_path / "hf"), drop_softcap=True))
    inputs = _inputs()
    with torch.no_grad():
        expected = model(*inputs)
    uncapped = _transformers_logits(_load_transformers(tmp_path / "hf"), *inputs)
    torch.testing.assert_close(3.0 * torch.tanh(uncapped / 3.0), expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(uncapped.argmax(-1), expected.argmax(-1))


def test_a_gemma_kind_run_is_refused_by_name(tmp_path):
    run = tmp_path / "gemma-run"
    FlorenzModel(SIZES["world-xs-gemma"]).save_pretrained(run)
    with pytest.raises(FlorenzError, match="Gemma-2 decoder.*only BART-kind runs export"):
        export(ExportConfig(run=str(run), out=str(tmp_path / "hf")))


def test_an_existing_export_is_kept_without_overwrite(tmp_path):
    run, _ = _run(tmp_path)
    export(ExportConfig(run=str(run), out=str(tmp_path / "hf")))
    before = (tmp_path / "hf" / "model.safetensors").read_bytes()
    with pytest.raises(FlorenzError, match="--overwrite"):
        export(ExportConfig(run=str(run), out=str(tmp_path / "hf")))
    assert (tmp_path / "hf" / "model.safetensors").read_bytes() == before
