"""Vocabulary remap on a toy tokenizer pair (BART-like source, Gemma-like target) vs hand-worked pieces."""

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from florenz.errors import FlorenzError
from florenz.model.remap import match_vocabularies, remap_embedding


def _bart_like_source() -> Tokenizer:
    """Byte-level BPE as BART's: a space becomes 'Ġ' glued to the next word."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "Ġ": 4, "r": 5, "e": 6, "d": 7, "c": 8, "a": 9,
             "t": 10, "Ġr": 11, "Ġre": 12, "Ġred": 13, "ca": 14, "cat": 15, "Ġc": 16, "Ġca": 17, "Ġcat": 18}
    merges = [("Ġ", "r"), ("Ġr", "e"), ("Ġre", "d"), ("Ġ", "c"), ("Ġc", "a"), ("Ġca", "t"), ("c", "a"),
              ("ca", "t")]  # earlier merges win
    tokenizer = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    return tokenizer


def _gemma_like_target(extra: list[str]) -> Tokenizer:
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", *extra]
    return Tokenizer(models.WordLevel({token: i for i, token in enumerate(tokens)}, unk_token="<unk>"))


# target token -> its source pieces, worked out by hand from the merges above
EXPECTED_PIECES = {
    "<pad>": [1], "<eos>": [2], "<bos>": [0], "<unk>": [3],  # the specials, mapped by hand
    "▁red": [13],  # " red" -> Ġ r e d -> Ġr e d -> Ġre d -> Ġred
    "▁cat": [18],
    "red": [5, 6, 7],  # no merge joins r+e without the leading Ġ
    "▁redcat": [13, 15],  # one word: Ġred, then c a t -> ca t -> cat
    "▁▁cat": [4, 18],  # every ▁ is a space (the reference only converted the first): "  cat" -> Ġ, Ġcat
    "ta": [10, 9],
}


def test_match_vocabularies_gives_the_hand_worked_pieces_of_every_target_token():
    target = _gemma_like_target(list(EXPECTED_PIECES)[4:])
    matches = match_vocabularies(_bart_like_source(), target)
    assert matches == list(EXPECTED_PIECES.values())


def test_remapped_rows_are_means_of_the_source_rows_of_their_pieces():
    target = _gemma_like_target(list(EXPECTED_PIECES)[4:])
    source_embedding = torch.randn(19, 6)
    table = remap_embedding(source_embedding, match_vocabularies(_bart_like_source(), target))
    assert table.shape == (len(EXPECTED_PIECES), 6)
    torch.testing.assert_close(table[4], source_embedding[13])  # ▁red
    torch.testing.assert_close(table[6], source_embedding[[5, 6, 7]].mean(0))  # red
    torch.testing.assert_close(table[7], (source_embedding[13] + source_embedding[15]) / 2)  # ▁redcat
    torch.testing.assert_close(table[2], source_embedding[0])  # <bos> -> <s>


def test_remap_keeps_the_source_dtype():
    matches = [[0], [1, 2], [2, 2, 0]]
    source_embedding = torch.randn(3, 4).to(torch.bfloat16)
    table = remap_embedding(source_embedding, matches)
    assert table.dtype == torch.bfloat16
    expected = (2 * source_embedding[2].float() + source_embedding[0].float()) / 3
    torch.testing.assert_close(table[2], expected.to(torch.bfloat16))


def test_a_target_token_without_source_pieces_is_an_error_naming_it():
    source = Tokenizer(models.WordLevel({"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "red": 4},
                                        unk_token="<unk>"))
    source.pre_tokenizer = pre_tokenizers.Whitespace()  # drops spaces: "▁" alone has no pieces
    with pytest.raises(FlorenzError, match="'▁'"):
        match_vocabularies(source, _gemma_like_target(["▁red", "▁"]))


def test_a_special_missing_from_the_source_is_an_error_naming_it():
    with pytest.raises(FlorenzError, match=r"\[SEP\]"):
        match_vocabularies(_bart_like_source(), _gemma_like_target(["▁red"]),
                           specials={"<bos>": "<s>", "<eos>": "[SEP]"})


def test_matches_beyond_the_source_table_are_an_error():
    with pytest.raises(FlorenzError, match="rows"):
        remap_embedding(torch.zeros(3, 2), [[0], [5]])
