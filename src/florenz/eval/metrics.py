"""Caption and translation metrics: BLEU, CIDEr-D, CLIPScore and CoMMuTE ambiguity accuracy (reference §6.4).

Scores come on their definition's scale: BLEU 0-100 as sacrebleu gives it; CIDEr-D, CLIPScore and accuracy ×1,
which callers multiply by 100 for display. No Java and no downloads:
- BLEU is sacrebleu's corpus BLEU (13a; its `zh` tokenizer for Chinese, on which 13a scores 0).
- CIDEr-D is the COCO-caption definition (pycocoevalcap's `Cider`, which is CIDEr-D: clipped tf-idf n-gram
  cosine, Gaussian length penalty, ×10), recomputed with numpy over integer n-gram ids; it equals
  pycocoevalcap on the same tokens and is faster.
- CIDEr tokenisation follows the XM3600 convention without stanza: NFKC, lowercase, punctuation removed;
  Chinese is split into characters (no word segmenter), hyphenated words are glued as stanza keeps them whole.
- CLIPScore is w·max(cos(image, text), 0) averaged over pairs, from a local transformers `CLIPModel` directory
  (a multilingual text tower in a CLIPModel directory gives MCLIPScore with the same formula).

Shapes: `S` sentences (hypotheses then references), `R` references, `K` = 4 n-gram orders.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from florenz.errors import FlorenzError

if TYPE_CHECKING:
    import sacrebleu
    from PIL import Image

CIDER_NGRAMS = 4  # pycocoevalcap Cider(n=4)
CIDER_SIGMA = 6.0  # pycocoevalcap Cider(sigma=6.0): width of the Gaussian length penalty
CLIP_BATCH_SIZE = 32  # image-text pairs per CLIP forward pass
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
# Han characters: CJK radicals, 々〆〇, Extension A, the unified block, compatibility, Extensions B-G
_HAN = "\u2e80-\u2fdf\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_OR_RUN = re.compile(f"[{_HAN}]|[^{_HAN}]+")


def check_language_code(lang: str) -> str:
    """`lang` if it looks like an ISO 639 code (any language: XM3600 has 36), else a FlorenzError."""
    if not isinstance(lang, str) or not _LANGUAGE_CODE.fullmatch(lang):
        raise FlorenzError(f"language {lang!r} is not an ISO 639 code; give 2-3 lowercase letters such as "
                           "en, de, fr, es, ru or zh")
    return lang


def _check_corpus(hypotheses: Sequence, references: Sequence) -> None:
    """One non-empty list of references per hypothesis, at least one sample."""
    if len(hypotheses) != len(references):
        raise FlorenzError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists; give one "
                           "list of references per hypothesis")
    if not hypotheses:
        raise FlorenzError("no hypotheses to score; give at least one sample")
    empty = [index for index, refs in enumerate(references) if isinstance(refs, str) or len(refs) == 0]
    if empty:
        raise FlorenzError(f"samples {empty[:10]} have no list of references (or a bare string); give each "
                           "sample a non-empty list of reference strings")


def _check_texts(hypotheses: Sequence, references: Sequence) -> None:
    """A corpus of strings: a None or a token list where text belongs is named, not scored."""
    _check_corpus(hypotheses, references)
    wrong = [index for index, (hyp, refs) in enumerate(zip(hypotheses, references))
             if not isinstance(hyp, str) or not all(isinstance(ref, str) for ref in refs)]
    if wrong:
        raise FlorenzError(f"samples {wrong[:10]} hold a hypothesis or reference that is not a string; give "
                           "text (an empty string for an empty output)")


# ---- BLEU ----

def sacrebleu_corpus(hypotheses: list[str], references: list[list[str]], lang: str) -> sacrebleu.BLEUScore:
    """sacrebleu's corpus BLEU object (score, n-gram precisions, brevity penalty) and its signature.

    sacrebleu wants reference *streams* (stream j holds every sample's j-th reference); samples with fewer
    references are padded with None, which sacrebleu skips (the reference passed per-sample lists, §9.2.4).
    """
    from sacrebleu.metrics import BLEU

    _check_texts(hypotheses, references)
    tokenizer = "zh" if check_language_code(lang) == "zh" else "13a"
    streams = [[refs[j] if j < len(refs) else None for refs in references]
               for j in range(max(len(refs) for refs in references))]
    metric = BLEU(tokenize=tokenizer)
    result = metric.corpus_score(list(hypotheses), streams)
    result.signature = str(metric.get_signature())
    return result


def bleu(hypotheses: list[str], references: list[list[str]], lang: str) -> float:
    """Corpus BLEU (0-100) of one hypothesis per sample against its references (13a; `zh` for Chinese)."""
    return sacrebleu_corpus(hypotheses, references, lang).score


# ---- CIDEr-D tokenisation ----

class _PunctuationTable(dict):
    """str.translate table filled on first sight of a character: dashes and connectors vanish (words glue, as
    stanza keeps hyphenated words whole), other punctuation and symbols become spaces, the rest stays."""

    def __missing__(self, code: int) -> str:
        category = unicodedata.category(chr(code))
        self[code] = "" if category in ("Pd", "Pc") else " " if category[0] in "PS" else chr(code)
        return self[code]


_PUNCTUATION = _PunctuationTable()


def tokenize_for_cider(text: str, lang: str) -> list[str]:
    """Lowercased word tokens without punctuation; for Chinese every Han character is one token.

    "La photo montre l'arbre bleu-clair." -> ["la", "photo", "montre", "l", "arbre", "bleuclair"];
    "图为一个红色的圆。" (zh) -> ["图", "为", "一", "个", "红", "色", "的", "圆"].
    """
    words = unicodedata.normalize("NFKC", text).lower().translate(_PUNCTUATION).split()
    if check_language_code(lang) == "zh":
        return [piece for word in words for piece in _HAN_OR_RUN.findall(word)]
    return words


# ---- CIDEr-D ----

def _ngram_occurrences(sentences: list[list[str]], orders: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sentence, n-gram id) of every n-gram occurrence of orders 1..`orders`, and each id's order - 1.

    Tokens become integer ids; an order-k n-gram's id is the dense rank of (its first k-1 tokens' id, its last
    token), so an n-gram of any length is one integer without a tuple built per occurrence.
    """
    tokens = list(itertools.chain.from_iterable(sentences))
    vocabulary = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    token_ids = np.fromiter(map(vocabulary.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    sentence_of_token = np.repeat(np.arange(len(sentences)), lengths)
    room = np.cumsum(lengths)[sentence_of_token] - np.arange(len(token_ids))  # tokens from here to the end
    codes = token_ids  # codes[i]: dense id, within its order, of the n-gram starting at token i
    found_sentences, found_ids, ids_per_order = [], [], []
    for order in range(1, orders + 1):
        starts = np.flatnonzero(room >= order)
        if order > 1:
            keys = codes[starts] * len(vocabulary) + token_ids[starts + order - 1]
            unique_keys, dense = np.unique(keys, return_inverse=True)
            codes = np.full(len(token_ids), -1, dtype=np.int64)
            codes[starts] = dense
        found_sentences.append(sentence_of_token[starts])
        found_ids.append(codes[starts] + sum(ids_per_order))
        ids_per_order.append(len(vocabulary) if order == 1 else len(unique_keys))
    order_of_id = np.repeat(np.arange(orders), ids_per_order)
    return np.concatenate(found_sentences), np.concatenate(found_ids), order_of_id


def cider_d_scores(hypotheses: list[list[str]], references: list[list[list[str]]]) -> np.ndarray:
    """Per-sample CIDEr-D (×1) of tokenised hypotheses against tokenised references: pycocoevalcap's Cider.

    A sentence is a vector per n-gram order of tf·idf, idf = log(#samples) - log(max(df, 1)) with df counted
    over each sample's reference set; a hypothesis scores, per order, the clipped cosine
    sum(min(h, r)·r) / (|h||r|) with each reference, times exp(-Δ²/2σ²), averaged over orders and
    references, ×10.
    """
    _check_corpus(hypotheses, references)
    samples, orders = len(hypotheses), CIDER_NGRAMS
    refs_per_sample = np.array([len(refs) for refs in references])
    sentences = list(hypotheses) + [ref for refs in references for ref in refs]
    if any(isinstance(sentence, str) for sentence in sentences):
        raise FlorenzError("cider_d_scores takes lists of tokens, not strings; tokenise them with "
                           "tokenize_for_cider, or call cider_d")
    sample_of_sentence = np.concatenate([np.arange(samples), np.repeat(np.arange(samples), refs_per_sample)])
    occurrence_sentence, occurrence_id, order_of_id = _ngram_occurrences(sentences, orders)
    ids = max(len(order_of_id), 1)

    # term frequency: one entry per (sentence, n-gram), sorted by sentence, hypotheses first
    entries, term_frequency = np.unique(occurrence_sentence * ids + occurrence_id, return_counts=True)
    sentence, gram = entries // ids, entries % ids
    order, sample = order_of_id[gram], sample_of_sentence[sentence]
    is_reference = sentence >= samples

    # df: in how many samples' reference sets an n-gram occurs (each (sample, n-gram) pair counted once)
    pairs = np.sort(sample[is_reference] * ids + gram[is_reference])
    first = np.concatenate([[True], pairs[1:] != pairs[:-1]]) if len(pairs) else np.zeros(0, bool)
    document_frequency = np.bincount(pairs[first] % ids, minlength=ids)
    idf = np.log(float(samples)) - np.log(np.maximum(document_frequency, 1.0))
    weight = term_frequency * idf[gram]
    norm = np.sqrt(np.bincount(sentence * orders + order, weights=weight**2,
                               minlength=len(sentences) * orders)).reshape(-1, orders)  # (S, K)
    # pycocoevalcap's "length" counts bigrams (its `n == 1` is the 0-based order): Δ uses that count
    length = np.bincount(sentence, weights=term_frequency * (order == 1), minlength=len(sentences))  # (S,)

    # match every reference n-gram to the same n-gram of its sample's hypothesis (hypothesis keys are sorted)
    hypothesis_keys, hypothesis_weight = entries[~is_reference], weight[~is_reference]
    reference_keys = sample[is_reference] * ids + gram[is_reference]
    found = np.minimum(np.searchsorted(hypothesis_keys, reference_keys), max(len(hypothesis_keys) - 1, 0))
    matched = (hypothesis_keys[found] == reference_keys) if len(hypothesis_keys) else np.zeros(0, bool)
    reference_weight = weight[is_reference][matched]
    clipped = np.minimum(hypothesis_weight[found[matched]], reference_weight) * reference_weight
    reference_row = sentence[is_reference][matched] - samples
    references_total = len(sentences) - samples
    overlap = np.bincount(reference_row * orders + order[is_reference][matched], weights=clipped,
                          minlength=references_total * orders).reshape(-1, orders)  # (R, K)

    reference_sample = sample_of_sentence[samples:]
    norm_product = norm[reference_sample] * norm[samples:]  # (R, K)
    cosine = np.where(norm_product != 0, overlap / np.where(norm_product != 0, norm_product, 1.0), overlap)
    delta = length[reference_sample] - length[samples:]
    similarity = cosine * np.exp(-(delta**2) / (2 * CIDER_SIGMA**2))[:, None]  # (R, K)
    summed = sum(np.bincount(reference_sample, weights=similarity[:, k], minlength=samples)
                 for k in range(orders))
    return 10.0 * (summed / orders) / refs_per_sample


def cider_d(hypotheses: list[str], references: list[list[str]], lang: str) -> float:
    """Corpus CIDEr-D (×1; ×100 for display) of one hypothesis per sample after `tokenize_for_cider`."""
    _check_texts(hypotheses, references)
    hypothesis_tokens = [tokenize_for_cider(hyp, lang) for hyp in hypotheses]
    reference_tokens = [[tokenize_for_cider(ref, lang) for ref in refs] for refs in references]
    return float(cider_d_scores(hypothesis_tokens, reference_tokens).mean())


# ---- CLIPScore ----

@functools.cache
def _load_clip(clip_dir: Path) -> tuple:
    """(CLIPModel in eval mode, tokenizer, image processor) from a local directory, loaded once per path."""
    if not (clip_dir / "config.json").is_file():
        raise FlorenzError(f"{clip_dir} holds no CLIP model (config.json is missing); pass a local "
                           "transformers CLIPModel directory with its tokenizer and image-processor files")
    try:
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel
    except ImportError:
        raise FlorenzError("CLIPScore needs transformers; install it with "
                           "`.venv/bin/pip install transformers==5.24.0`") from None
    try:
        model = CLIPModel.from_pretrained(clip_dir).eval()
        tokenizer = AutoTokenizer.from_pretrained(clip_dir)
        image_processor = AutoImageProcessor.from_pretrained(clip_dir)
    except (OSError, ValueError, KeyError) as error:
        raise FlorenzError(f"cannot load a CLIPModel with its tokenizer and image processor from {clip_dir}: "
                           f"{error}; save all three there with save_pretrained") from None
    return model, tokenizer, image_processor


def clip_cosines(images: list[Image.Image], texts: list[str], clip_dir: str) -> np.ndarray:
    """Cosine similarity of each image with its text in a CLIP model's joint space, shape (len(images),)."""
    import torch

    if len(images) != len(texts) or not images:
        raise FlorenzError(f"CLIPScore needs one text per image and at least one pair; got {len(images)} "
                           f"images and {len(texts)} texts")
    model, tokenizer, image_processor = _load_clip(Path(clip_dir).resolve())
    max_length = model.config.text_config.max_position_embeddings  # CLIP's 77 tokens: longer text is cut
    cosines = []
    with torch.inference_mode():
        for start in range(0, len(images), CLIP_BATCH_SIZE):
            batch_images = [image.convert("RGB") for image in images[start:start + CLIP_BATCH_SIZE]]
            batch_texts = list(texts[start:start + CLIP_BATCH_SIZE])
            pixels = image_processor(images=batch_images, return_tensors="pt")["pixel_values"]
            tokens = tokenizer(batch_texts, padding=True, truncation=True, max_length=max_length,
                               return_tensors="pt")
            image_embeds = model.get_image_features(pixel_values=pixels).pooler_output  # (B, D)
            text_embeds = model.get_text_features(input_ids=tokens["input_ids"],
                                                  attention_mask=tokens["attention_mask"]).pooler_output
            cosines.append(torch.nn.functional.cosine_similarity(image_embeds, text_embeds, dim=-1))
    return torch.cat(cosines).double().numpy()


def clip_score(images: list[Image.Image], texts: list[str], clip_dir: str, w: float = 2.5) -> float:
    """CLIPScore (Hessel et al. 2021): mean of w·max(cos(image, text), 0) over pairs (×1; ×100 for display).

    With a multilingual text tower saved in the CLIPModel directory this is MCLIPScore, same formula.
    """
    return float((w * np.maximum(clip_cosines(images, texts, clip_dir), 0.0)).mean())


# ---- CoMMuTE lexical ambiguity ----

def ambiguity_accuracy(correct_losses: Sequence[float], incorrect_losses: Sequence[float]) -> float:
    """Fraction of items whose correct translation has the strictly lower loss (ties count as wrong, §6.4).

    Losses are per-item mean token cross-entropies (or perplexities: exp is monotone, the order is the same).
    """
    correct, incorrect = np.asarray(correct_losses, dtype=float), np.asarray(incorrect_losses, dtype=float)
    if correct.shape != incorrect.shape or correct.ndim != 1 or len(correct) == 0:
        raise FlorenzError(f"ambiguity accuracy needs two equally long, non-empty lists of losses; got "
                           f"shapes {correct.shape} and {incorrect.shape}")
    not_finite = np.flatnonzero(~(np.isfinite(correct) & np.isfinite(incorrect)))
    if len(not_finite):
        raise FlorenzError(f"ambiguity items {not_finite[:10].tolist()} have a NaN or infinite loss; check "
                           "the model and those items before scoring")
    return float((correct < incorrect).mean())
