"""Predictor: batching, prefixes, empty and cut-off outputs, target losses; on tiny random models."""

import pytest
import torch

from florenz.data.collate import image_to_tensor
from florenz.data.prompts import build_prompt
from florenz.data.shards import read_shard
from florenz.data.tokenizer import load_tokenizer
from florenz.errors import FlorenzError
from florenz.eval.config import GenerationConfig
from florenz.eval.generation import PREFIX_SETS, Predictor, run_tokenizer_path
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FlorenzModel(get_size("world-xxs")).eval()


@pytest.fixture(scope="module")
def images(tiny_world):
    shard = sorted((tiny_world / "bench" / "caption").glob("*.tar"))[0]
    return [sample.image for sample in read_shard(shard)][:5]


def _predictor(model, tiny_world, **settings):
    return Predictor(model, load_tokenizer(tiny_world), GenerationConfig(**settings))


class _Scripted:
    """Stands in for model.decode: after the forced start and prefix, emits `script` then <eos>."""

    def __init__(self, model, script, forced_length):
        self.model, self.script, self.forced_length = model, script, forced_length

    def __call__(self, decoder_input_ids, encoder_hidden, encoder_mask, cache=None):
        total = decoder_input_ids.shape[1] + (cache.length if cache is not None else 0)
        if cache is not None:
            cache.length = total
        step = total - self.forced_length
        token = self.script[step] if step < len(self.script) else 1  # 1 = <eos>
        logits = torch.zeros(decoder_input_ids.shape[0], decoder_input_ids.shape[1],
                             self.model.config.decoder.vocab_size)
        logits[:, -1, token] = 10.0
        return logits


def test_batches_give_what_one_input_at_a_time_gives(model, tiny_world, images):
    sources = ["a circle", "two big red squares and a small star on the left", "a star"]
    batched = _predictor(model, tiny_world, max_new_tokens=6, batch_size=8)
    alone = _predictor(model, tiny_world, max_new_tokens=6, batch_size=1)
    assert batched.translate(sources, "fr", images[:3]) == alone.translate(sources, "fr", images[:3])
    assert batched.caption(images, "de") == alone.caption(images, "de")


def test_prefix_is_forced_after_bos_and_only_the_continuation_is_scored(model, tiny_world, images,
                                                                        monkeypatch):
    tokenizer = load_tokenizer(tiny_world)
    predictor = _predictor(model, tiny_world, max_new_tokens=20)
    continuation = tokenizer.encode(" un petit cercle rouge.", add_special_tokens=False).ids
    prefix = tokenizer.encode("La photo montre", add_special_tokens=False).ids
    monkeypatch.setattr(model, "decode", _Scripted(model, continuation, 1 + 1 + len(prefix)))  # <eos> <bos>
    [output] = predictor.caption(images[:1], "fr", prefix=True)
    assert output.full == "La photo montre un petit cercle rouge."
    assert output.text == "Un petit cercle rouge."
    assert output.prefix == "La photo montre" and output.finished
    monkeypatch.setattr(model, "decode", _Scripted(model, continuation, 1))
    [plain] = predictor.caption(images[:1], "fr")
    assert (plain.text, plain.full, plain.prefix) == ("Un petit cercle rouge.", "un petit cercle rouge.", "")


def test_empty_and_cut_off_outputs_are_results_not_errors(model, tiny_world, images, monkeypatch):
    monkeypatch.setattr(model, "decode", _Scripted(model, [], 1))  # <eos> at once
    [empty] = _predictor(model, tiny_world).caption(images[:1], "en")
    assert (empty.text, empty.full, empty.finished) == ("", "", True)
    tokenizer = load_tokenizer(tiny_world)
    # max_new_tokens cuts the scripted output after two of its tokens
    pieces = tokenizer.encode("图为 two circles", add_special_tokens=False).ids
    monkeypatch.setattr(model, "decode", _Scripted(model, pieces, 1))
    [cut] = _predictor(model, tiny_world, max_new_tokens=2).caption(images[:1], "zh")
    assert not cut.finished and isinstance(cut.text, str)
    assert cut.full == tokenizer.decode(pieces[:2]).strip()


def test_a_character_cut_in_half_by_max_new_tokens_is_dropped_not_shown_as_a_replacement_mark(
        model, tiny_world, images, monkeypatch):
    tokenizer = load_tokenizer(tiny_world)
    words = tokenizer.encode("Два круга", add_special_tokens=False).ids
    # byte-level BPE: every byte has a token of its own, named by the byte's character in the pre-tokenizer's
    # byte-to-character table; 星 (not in the world's text) is 3 bytes, so 3 tokens
    [(byte_characters, _)] = tokenizer.pre_tokenizer.pre_tokenize_str("星")
    star = [tokenizer.token_to_id(character) for character in byte_characters]
    assert len(star) == 3 and None not in star
    for script, max_new_tokens, finished, full in (
            (words + star, len(words) + 2, False, "Два круга"),  # cut after 2 of the 3 bytes: dropped
            (words + star, len(words) + 3, False, "Два круга星"),  # cut right after the character: kept
            (words + star[:2], 64, True, "Два круга\ufffd"),  # the model ended on half a character: shown
            (star[1:] + words, len(words) + 2, False, "\ufffd\ufffdДва круга")):  # stray bytes inside: shown
        monkeypatch.setattr(model, "decode", _Scripted(model, script, 1))
        [output] = _predictor(model, tiny_world, max_new_tokens=max_new_tokens).caption(images[:1], "ru")
        assert (output.full, output.finished) == (full, finished), script


def test_world_prefixes_are_the_papers_but_russian_stops_before_the_agreeing_participle():
    assert PREFIX_SETS["paper"]["ru"] == "На картинке изображен"
    assert PREFIX_SETS["world"]["ru"] == "На картинке"
    assert {k: v for k, v in PREFIX_SETS["world"].items() if k != "ru"} == {
        "en": "The image shows", "de": "Das Bild zeigt", "fr": "La photo montre", "es": "La imagen muestra",
        "zh": "图为"}


def test_translation_losses_are_mean_token_cross_entropies_of_the_target(model, tiny_world, images):
    tokenizer = load_tokenizer(tiny_world)
    predictor = _predictor(model, tiny_world, batch_size=2)
    sources, targets = ["a red circle", "two stars"], ["ein roter Kreis", "zwei Sterne und ein Quadrat"]
    losses = predictor.translation_losses(sources, targets, "de", images[:2])
    for source, target, image, loss in zip(sources, targets, images, losses):
        prompt = [2, *tokenizer.encode(build_prompt("translation", "de", source=source),
                                       add_special_tokens=False).ids, 1]
        labels = [2, *tokenizer.encode(target, add_special_tokens=False).ids, 1]
        with torch.no_grad():
            logits = model(image_to_tensor(image, model.config.image_size)[None], torch.tensor([prompt]),
                           torch.ones(1, len(prompt), dtype=torch.long), torch.tensor([[1, *labels[:-1]]]))[0]
        log_probs = torch.log_softmax(logits.double(), dim=-1)
        expected = -sum(log_probs[t, token].item() for t, token in enumerate(labels)) / len(labels)
        assert loss == pytest.approx(expected, abs=1e-4)


def test_loading_errors_name_the_fix(tmp_path, model, tiny_world):
    with pytest.raises(FlorenzError, match="no config.json"):
        Predictor.from_run(tmp_path, GenerationConfig())
    model.save_pretrained(tmp_path / "model")
    with pytest.raises(FlorenzError, match="pass --tokenizer"):
        run_tokenizer_path(tmp_path / "model")
    with pytest.raises(FlorenzError, match="does not exist"):
        _predictor(model, tiny_world).caption([tmp_path / "missing.png"], "en")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(FlorenzError, match="broken.png is not a readable image"):
        _predictor(model, tiny_world).caption([tmp_path / "broken.png"], "en")
