"""`florenz prepare` end to end on tiny random Florence-2 and Gemma-2 checkpoints built with transformers."""

import shutil

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import Florence2Config, Florence2ForConditionalGeneration, Gemma2Config, Gemma2ForCausalLM

import florenz.cli as cli
from florenz.cli import build_parser, main
from florenz.config import ConfigError
from florenz.errors import FlorenzError
from florenz.model.config import PrepareConfig
from florenz.model.florenz import FlorenzModel
from florenz.model.prepare import plan_checkpoints, prepare

GEMMA_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "▁red", "▁cat", "red", "▁redcat", "ta"]


def _bart_like_tokenizer() -> Tokenizer:
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "Ġ": 4, "r": 5, "e": 6, "d": 7, "c": 8, "a": 9,
             "t": 10, "Ġr": 11, "Ġre": 12, "Ġred": 13, "ca": 14, "cat": 15, "Ġc": 16, "Ġca": 17, "Ġcat": 18}
    merges = [("Ġ", "r"), ("Ġr", "e"), ("Ġre", "d"), ("Ġ", "c"), ("Ġc", "a"), ("Ġca", "t"), ("c", "a"),
              ("ca", "t")]
    tokenizer = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    return tokenizer


# Gemma id -> BART ids of its text under the merges above (worked by hand)
EXPECTED_PIECES = {2: [0], 4: [13], 5: [18], 6: [5, 6, 7], 7: [13, 15], 8: [10, 9]}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Tiny saved checkpoints: Florence-2 (BART vocabulary of 40 rows) and Gemma-2 (9-token vocabulary)."""
    root = tmp_path_factory.mktemp("sources")
    torch.manual_seed(0)
    florence = Florence2ForConditionalGeneration(Florence2Config(
        vision_config=dict(embed_dim=[16, 32], depths=[1, 1], num_heads=[1, 2], num_groups=[1, 2],
                           patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1],
                           patch_prenorm=[False, True], window_size=4, projection_dim=32,
                           max_position_embeddings=32),
        text_config=dict(vocab_size=40, d_model=32, encoder_layers=1, decoder_layers=1,
                         encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                         decoder_ffn_dim=64, max_position_embeddings=64)))
    florence.save_pretrained(root / "florence")
    _bart_like_tokenizer().save(str(root / "florence" / "tokenizer.json"))
    gemma = Gemma2ForCausalLM(Gemma2Config(
        vocab_size=len(GEMMA_TOKENS), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, query_pre_attn_scalar=8, sliding_window=4,
        max_position_embeddings=64, attn_implementation="eager"))
    gemma.save_pretrained(root / "gemma")
    Tokenizer(models.WordLevel({token: i for i, token in enumerate(GEMMA_TOKENS)}, unk_token="<unk>")).save(
        str(root / "gemma" / "tokenizer.json"))
    return root, florence.eval(), gemma.eval()


@pytest.fixture(scope="module")
def prepared(sources):
    root, _, _ = sources
    assert main(["prepare", "--florence", str(root / "florence"), "--gemma", str(root / "gemma"),
                 "--out", str(root / "out")]) == 0
    return root / "out"


def test_florence_size_keeps_florence2_and_remaps_its_decoder_table_to_gemma_vocabulary(sources, prepared):
    _, florence, _ = sources
    model = FlorenzModel.from_pretrained(prepared / "florence-gemma-vocabulary")
    shared = florence.state_dict()["model.language_model.shared.weight"]
    assert model.config.decoder.vocab_size == len(GEMMA_TOKENS)
    assert model.config.decoder.final_logit_softcapping == 30.0
    assert (model.config.pad_token_id, model.config.eos_token_id, model.config.bos_token_id,
            model.config.decoder_start_token_id) == (0, 1, 2, 1)
    table = model.decoder.embed_tokens.weight
    for gemma_id, pieces in EXPECTED_PIECES.items():
        torch.testing.assert_close(table[gemma_id], shared[pieces].mean(0))
    torch.testing.assert_close(model.encoder.embed_tokens.weight, shared)  # the encoder keeps BART's table
    torch.testing.assert_close(model.decoder.layers[0].fc1.weight,
                               florence.state_dict()["model.language_model.decoder.layers.0.fc1.weight"])
    torch.testing.assert_close(model.vision_tower.convs[0].conv.weight,
                               florence.state_dict()["model.vision_tower.convs.0.conv.weight"])


def test_gemma_size_with_closed_gates_gives_gemma2_logits_whatever_the_image(sources, prepared):
    _, florence, gemma = sources
    model = FlorenzModel.from_pretrained(prepared / "florence+gemma").eval()
    for layer in model.decoder.layers:
        assert layer.encoder_attn_gate.item() == 0.0
        torch.testing.assert_close(layer.post_encoder_attention_layernorm.weight,
                                   layer.post_attention_layernorm.weight)
    torch.testing.assert_close(model.encoder.embed_tokens.weight,
                               florence.state_dict()["model.language_model.shared.weight"])
    decoder_input_ids = torch.tensor([[1, 2, 4, 7, 5, 8]])
    prompt = torch.tensor([[0, 13, 18, 2]])
    with torch.no_grad():
        ours = model(torch.randn(1, 3, 32, 32), prompt, torch.ones_like(prompt), decoder_input_ids)
        theirs = gemma(decoder_input_ids).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_missing_directory_is_an_error_naming_it(sources, tmp_path):
    root, _, _ = sources
    with pytest.raises(FlorenzError, match="no-such-florence"):
        prepare(PrepareConfig(florence=(str(tmp_path / "no-such-florence"),), gemma=(str(root / "gemma"),),
                              out=str(tmp_path / "out")))


def test_missing_tokenizer_is_an_error_naming_the_file(sources, tmp_path):
    root, _, _ = sources
    shutil.copytree(root / "gemma", tmp_path / "gemma")
    (tmp_path / "gemma" / "tokenizer.json").unlink()
    with pytest.raises(FlorenzError, match="tokenizer.json"):
        prepare(PrepareConfig(florence=(str(root / "florence"),), gemma=(str(tmp_path / "gemma"),),
                              out=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


def test_gemma_tokenizer_not_matching_its_embedding_is_an_error(sources, tmp_path):
    root, _, _ = sources
    shutil.copytree(root / "gemma", tmp_path / "gemma")
    tokens = [*GEMMA_TOKENS, "▁extra"]
    Tokenizer(models.WordLevel({token: i for i, token in enumerate(tokens)}, unk_token="<unk>")).save(
        str(tmp_path / "gemma" / "tokenizer.json"))
    with pytest.raises(FlorenzError, match="9-row embedding.*10 tokens"):
        prepare(PrepareConfig(florence=(str(root / "florence"),), gemma=(str(tmp_path / "gemma"),),
                              out=str(tmp_path / "out")))


def test_existing_checkpoint_is_kept_without_overwrite(sources, tmp_path):
    root, _, _ = sources
    existing = tmp_path / "out" / "florence+gemma" / "config.json"
    existing.parent.mkdir(parents=True)
    existing.write_text("{}")
    with pytest.raises(FlorenzError, match="--overwrite"):
        prepare(PrepareConfig(florence=(str(root / "florence"),), gemma=(str(root / "gemma"),),
                              out=str(tmp_path / "out")))
    assert existing.read_text() == "{}"
    assert not (tmp_path / "out" / "florence-gemma-vocabulary").exists()


def test_prepare_verb_names_the_missing_flag_not_the_key(capsys):
    assert main(["prepare", "--florence", "somewhere"]) == 2
    error = capsys.readouterr().err
    assert "--gemma" in error and "['gemma']" not in error


def test_a_source_failing_late_leaves_no_output_behind(sources, tmp_path):
    """The Florence size is built first; the Gemma-2 weights, read last, are corrupt: nothing is written."""
    root, _, _ = sources
    shutil.copytree(root / "gemma", tmp_path / "gemma")
    weights = tmp_path / "gemma" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(FlorenzError, match="model.safetensors"):
        prepare(PrepareConfig(florence=(str(root / "florence"),), gemma=(str(tmp_path / "gemma"),),
                              out=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_vocabulary_that_does_not_remap_names_both_directories_and_the_flags(sources, tmp_path):
    root, _, _ = sources
    shutil.copytree(root / "gemma", tmp_path / "gemma")
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "▁red", "▁cat", "red", "▁redcat", ""]  # "" has no pieces
    Tokenizer(models.WordLevel({token: i for i, token in enumerate(tokens)}, unk_token="<unk>")).save(
        str(tmp_path / "gemma" / "tokenizer.json"))
    with pytest.raises(FlorenzError, match=r"florence \(--florence\).*gemma/tokenizer.json \(--gemma\)"):
        prepare(PrepareConfig(florence=(str(root / "florence"),), gemma=(str(tmp_path / "gemma"),),
                              out=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_parser_routes_the_prepare_and_model_verbs_to_their_functions():
    parser = build_parser()
    routes = {words: vars(parser.parse_args(words.split() + extra))[f"{cli._INTERNAL}verb"].run
              for words, extra in (("prepare", ["--gemma", "g"]), ("model list", []),
                                   ("model info", ["world-xs"]))}
    assert routes == {"prepare": "florenz.model.prepare:prepare",
                      "model list": "florenz.model.info:list_models",
                      "model info": "florenz.model.info:model_info"}


def test_empty_directory_lists_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--florence and --gemma"):
        prepare(PrepareConfig(florence=(), gemma=(), out=str(tmp_path)))


def test_upstream_configs_are_planned_as_the_four_paper_sizes(tmp_path):
    # the upstream config.json values (reference §1.2–1.8); transformers' BART defaults differ in dropouts
    def florence(name, vision, d_model, layers, heads, positions):
        text = dict(vocab_size=51289, d_model=d_model, encoder_layers=layers, decoder_layers=layers,
                    encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=4 * d_model,
                    decoder_ffn_dim=4 * d_model, max_position_embeddings=positions, attention_dropout=0.1,
                    activation_dropout=0.1)
        Florence2Config(vision_config=vision, text_config=text).save_pretrained(tmp_path / name)
        _bart_like_tokenizer().save(str(tmp_path / name / "tokenizer.json"))

    florence("base", dict(projection_dim=768), 768, 6, 12, 1024)
    florence("large", dict(embed_dim=[256, 512, 1024, 2048], num_heads=[8, 16, 32, 64],
                           num_groups=[8, 16, 32, 64], projection_dim=1024), 1024, 12, 16, 4096)
    Gemma2Config().save_pretrained(tmp_path / "2b")  # transformers' defaults are gemma-2-2b's
    Gemma2Config(hidden_size=3584, intermediate_size=14336, num_hidden_layers=42, num_attention_heads=16,
                 num_key_value_heads=8).save_pretrained(tmp_path / "9b")
    vocabulary = {token: i for i, token in enumerate(GEMMA_TOKENS)}
    vocabulary |= {f"▁piece{i}": i for i in range(len(GEMMA_TOKENS), 256000)}
    Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>")).save(str(tmp_path / "2b" / "tokenizer.json"))
    plans = plan_checkpoints(PrepareConfig(florence=(str(tmp_path / "base"), str(tmp_path / "large")),
                                           gemma=(str(tmp_path / "2b"), str(tmp_path / "9b")),
                                           out=str(tmp_path / "out")))
    assert [plan.out.name for plan in plans] == ["florenz-0.4b", "florenz-1.0b", "florenz-3.5b",
                                                 "florenz-11.2b"]
    assert [plan.florence.name for plan in plans] == ["base", "large", "large", "large"]
