import pytest
from tokenizers import processors

from florenz.data.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    encode_text,
    load_tokenizer,
    train_tokenizer,
)
from florenz.errors import FlorenzError

# Hand-written sentences, one per language, in the world's register (independent of the realisers).
SENTENCES = {
    "en": "The image shows two big red circles to the left of a small light blue star.",
    "de": "Das Bild zeigt zwei große rote Kreise links von einem kleinen hellblauen Stern.",
    "fr": "La photo montre deux grands cercles rouges à gauche d'une petite étoile bleu clair.",
    "es": "La imagen muestra dos círculos rojos grandes a la izquierda de una pequeña estrella azul claro.",
    "ru": "На картинке изображены два больших красных круга слева от маленькой голубой звезды.",
    "zh": "图为两个红色的大圆形，在一颗浅蓝色的小星形左边。",
}
CORPUS = [sentence for sentence in SENTENCES.values() for _ in range(20)]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS, vocab_size=2048)


def test_special_tokens_have_the_gemma_ids(tokenizer):
    assert [tokenizer.token_to_id(t) for t in ("<pad>", "<eos>", "<bos>", "<unk>")] == [0, 1, 2, 3]
    assert (PAD_ID, EOS_ID, BOS_ID, UNK_ID) == (0, 1, 2, 3)


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_text_round_trips_in_every_language(tokenizer, lang):
    ids = encode_text(tokenizer, SENTENCES[lang])
    assert ids[0] == 2 and ids[-1] == 1 and 2 not in ids[1:-1] and 1 not in ids[1:-1]
    assert tokenizer.decode(ids) == SENTENCES[lang]  # decode drops the special tokens


def test_unseen_characters_round_trip_without_unk(tokenizer):
    text = "Ünïcödé ☃ 😀 ça — 猫"
    ids = encode_text(tokenizer, text)
    assert UNK_ID not in ids and tokenizer.decode(ids) == text


def test_chinese_tokens_never_span_two_characters(tokenizer):
    encoding = tokenizer.encode(SENTENCES["zh"], add_special_tokens=False)
    pieces = [SENTENCES["zh"][start:end] for start, end in encoding.offsets]
    assert "".join(pieces) == SENTENCES["zh"]
    assert all(len(piece) == 1 for piece in pieces)


def test_vocabulary_is_exactly_the_requested_size_when_text_allows_and_smaller_otherwise(tokenizer):
    assert train_tokenizer(CORPUS, vocab_size=300).get_vocab_size() == 300
    assert tokenizer.get_vocab_size() < 2048
    assert max(tokenizer.get_vocab().values()) < 2048


def test_training_is_deterministic():
    assert train_tokenizer(CORPUS, 400).to_str() == train_tokenizer(CORPUS, 400).to_str()


def test_saved_tokenizer_loads_from_file_and_directory(tokenizer, tmp_path):
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    for where in (tmp_path, tmp_path / "tokenizer.json"):
        loaded = load_tokenizer(where)
        assert encode_text(loaded, SENTENCES["ru"]) == encode_text(tokenizer, SENTENCES["ru"])


def test_encode_text_adds_bos_once_even_if_the_tokenizer_would_add_it(tokenizer):
    """Gemma-2's tokenizer.json prepends <bos> in its post-processor; encode_text must not double it."""
    with_bos = train_tokenizer(CORPUS, 400)
    with_bos.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    assert with_bos.encode("a").ids[0] == 2
    ids = encode_text(with_bos, "a")
    assert ids.count(2) == 1 and ids[0] == 2 and ids[-1] == 1


def test_missing_or_broken_tokenizers_raise_errors_naming_the_file(tmp_path):
    with pytest.raises(FlorenzError, match="does not exist"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(FlorenzError, match="tokenizer.json could not be read"):
        load_tokenizer(tmp_path)
