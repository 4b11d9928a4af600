"""Vocabulary remap: a new embedding table for a target tokenizer, built from a source tokenizer's table.

Used by `florenz prepare` to move Florence-2's BART decoder onto the Gemma-2 vocabulary (reference §2.1,
§2.2): every target token is written out as text, that text is tokenised by the source tokenizer, and the
token's new embedding row is the mean of the source rows of those pieces. The special tokens are mapped
by hand. Unlike the reference, an empty match is an error naming the token (its reshape crashed on it),
and every SentencePiece word marker `▁` becomes a space, not only a leading one (reference quirk §2.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from florenz.errors import FlorenzError

SENTENCEPIECE_SPACE = "\u2581"  # "▁", SentencePiece's word-boundary marker

# Gemma-2 special token -> Florence-2 BART special token (reference §2.1, step 2)
GEMMA2_TO_BART_SPECIALS = {"<bos>": "<s>", "<eos>": "</s>", "<unk>": "<unk>", "<pad>": "<pad>"}


def _tokens_by_id(tokenizer: Tokenizer) -> list[str]:
    vocabulary = tokenizer.get_vocab(with_added_tokens=True)
    tokens = [""] * len(vocabulary)
    for token, token_id in vocabulary.items():
        if token_id >= len(tokens):
            raise FlorenzError(f"the target tokenizer's ids are not 0..{len(tokens) - 1} (token {token!r} "
                               f"has id {token_id}); use a tokenizer with a contiguous vocabulary")
        tokens[token_id] = token
    return tokens


def match_vocabularies(source: Tokenizer, target: Tokenizer,
                       specials: dict[str, str] | None = None) -> list[list[int]]:
    """For every target id (0..V_target-1), the source ids that spell the same text.

    `specials` maps target special tokens to source special tokens (default: Gemma-2 → BART); the other
    target tokens are matched through their text, with `▁` read as a space.
    """
    specials = GEMMA2_TO_BART_SPECIALS if specials is None else specials
    tokens = _tokens_by_id(target)
    source_special_ids = {}
    for target_token, source_token in specials.items():
        source_id = source.token_to_id(source_token)
        if source_id is None:
            raise FlorenzError(f"special token {source_token!r} (for {target_token!r}) is not in the source "
                               f"tokenizer; pass `specials` naming the source tokenizer's own specials")
        source_special_ids[target_token] = source_id
    texts = [token.replace(SENTENCEPIECE_SPACE, " ") for token in tokens]
    encodings = source.encode_batch(texts, add_special_tokens=False)  # in parallel in Rust: 256k in seconds
    matches = []
    for token, encoding in zip(tokens, encodings):
        if token in source_special_ids:
            matches.append([source_special_ids[token]])
        elif not encoding.ids:
            raise FlorenzError(f"target token {token!r} has no pieces under the source tokenizer (its text "
                               f"tokenises to nothing); map it by hand through `specials`")
        else:
            matches.append(list(encoding.ids))
    return matches


def remap_embedding(source_embedding: torch.Tensor, matches: list[list[int]]) -> torch.Tensor:
    """The target table (V_target, D): row i is the mean of the rows matches[i] of source_embedding (V, D)."""
    if any(not pieces for pieces in matches):
        empty = next(i for i, pieces in enumerate(matches) if not pieces)
        raise FlorenzError(f"target id {empty} has an empty match; every target token needs a source piece")
    flat = torch.tensor([piece for pieces in matches for piece in pieces], dtype=torch.long)
    if int(flat.max()) >= source_embedding.shape[0] or int(flat.min()) < 0:
        raise FlorenzError(f"the matches use source ids up to {int(flat.max())} but the source embedding has "
                           f"{source_embedding.shape[0]} rows; pass the table that belongs to the source "
                           f"tokenizer")
    lengths = torch.tensor([len(pieces) for pieces in matches], dtype=torch.long)
    offsets = torch.cumsum(lengths, 0) - lengths  # start of each target token's pieces in `flat`
    # the mean is taken in float32 so that a bfloat16 checkpoint loses no precision in the sum
    table = F.embedding_bag(flat, source_embedding.float(), offsets, mode="mean")  # (V_target, D)
    return table.to(source_embedding.dtype)
