"""The world tokenizer (byte-level BPE trained on world text) and loading any HF `tokenizer.json`.

One tokenizer serves both sides: prompts (encoder) and targets (decoder), which have separate embedding
tables. Special ids follow Gemma-2, so world and real checkpoints agree: <pad>=0, <eos>=1, <bos>=2, <unk>=3.
Chinese characters are split one by one before BPE (a Chinese sentence has no spaces to split on); every
other script goes through GPT-2-style byte-level pre-tokenization, so any text round-trips exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from florenz.errors import FlorenzError

SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>")  # ids 0..3, the Gemma-2 ids
PAD_ID, EOS_ID, BOS_ID, UNK_ID = range(4)
_CJK = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> Tokenizer:
    """A byte-level BPE of at most `vocab_size` entries (fewer if the text has fewer merges to learn)."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_CJK), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: no text is ever <unk>
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def load_tokenizer(path_or_dir: str | Path) -> Tokenizer:
    """A `tokenizer.json` file, or a directory holding one (a world or a local Gemma-2 checkout)."""
    path = Path(path_or_dir)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise FlorenzError(f"tokenizer {path} does not exist; pass a world directory (florenz world build) "
                           "or a directory holding tokenizer.json")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception on malformed files
        raise FlorenzError(f"tokenizer {path} could not be read ({error}); "
                           "rebuild or re-download it") from None
    missing = [token for token in ("<bos>", "<eos>", "<pad>") if tokenizer.token_to_id(token) is None]
    if missing:
        raise FlorenzError(f"tokenizer {path} lacks the special token(s) {missing}; use a world or Gemma-2 "
                           "tokenizer")
    return tokenizer


def encode_text(tokenizer: Tokenizer, text: str) -> list[int]:
    """[<bos>] + the text's pieces + [<eos>]; the tokenizer's own post-processing is not applied."""
    pieces = tokenizer.encode(text, add_special_tokens=False).ids
    return [tokenizer.token_to_id("<bos>"), *pieces, tokenizer.token_to_id("<eos>")]
