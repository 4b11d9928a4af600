"""Sentence skeletons: a sentence with its content masked, to count templates.

"Links vom Kreis liegt ein kleiner roter Stern." -> "RELATION NP liegt NP ." — two sentences with one
skeleton differ only in what they say, not in how. Each realiser's CONTENT_WORDS lists every surface form
of its content words and phrases by class; the longest match wins (phrases before their words). Chinese,
written without spaces, is segmented by the same longest match, every other character a token. A noun
phrase (its articles, numerals, adjectives and noun) becomes NP, and a list of NPs or of positions one NP
or POSITION, so "a star and two circles" and "a circle" share a skeleton, while "the star is at the top"
and "at the top is the star" do not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from florenz.world.languages import check_language

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = {"zh": re.compile(r"(?<=。)")}
_DEFAULT_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NOUN_PHRASE_CLASSES = {"SHAPE", "SIZE", "COLOUR", "SHADE", "NUMBER"}
# function words that belong to a noun phrase: articles, determiners, measure words, inner glue
_NOUN_PHRASE_WORDS = {
    "en": {"a", "an", "the", "both", "-"},
    "de": {"ein", "eine", "einen", "einem", "einer", "der", "die", "das", "den", "dem", "beiden"},
    "fr": {"un", "une", "des", "le", "la", "les", "l", "'", "du", "de", "d"},
    "es": {"un", "una", "unos", "unas", "el", "la", "los", "las", "del", "de"},
    "ru": {"-", "оба", "обе", "обоих", "обеих", "обоим", "обеим", "обоими", "обеими"},
    "zh": {"一", "两", "个", "颗", "只", "把", "张", "根", "的", "这", "那", "些"},
}
# what joins the items of a list ("a, b and c")
_LIST_WORDS = {"en": {",", "and"}, "de": {",", "und"}, "fr": {",", "et"}, "es": {",", "y", "e"},
               "ru": {",", "и"}, "zh": {"、", "和"}}


def _tokens(text: str, lang: str) -> list[str]:
    return list(text) if lang == "zh" else _TOKEN.findall(text.lower())


@cache
def _phrases(lang: str) -> tuple[dict[tuple[str, ...], str], int]:
    """CONTENT_WORDS of `lang` as token tuples -> class, and the longest phrase in tokens."""
    from florenz.world.realise import GRAMMARS  # the grammars import plan, which this module must not need

    table = {tuple(_tokens(phrase, lang)): kind for phrase, kind in GRAMMARS[lang].CONTENT_WORDS.items()}
    return table, max(map(len, table))


def split_sentences(text: str, lang: str) -> list[str]:
    """The written sentences of a text, each with its end mark."""
    pattern = _SENTENCE_END.get(check_language(lang), _DEFAULT_SENTENCE_END)
    return [part.strip() for part in pattern.split(text) if part.strip()]


def skeleton(sentence: str, lang: str) -> str:
    """`sentence` with content words masked, noun phrases as NP, lists as one item; tokens space-joined."""
    masked = _noun_phrases(_masked(sentence, check_language(lang)), lang)
    collapsed: list[str] = []
    for token in masked:  # a list of one kind of item ("NP , NP and NP") as one item
        # one list word between two items; ", and" joins clauses ("…, and the circle is …"), not items
        if token in ("NP", "POSITION") and len(collapsed) > 1 and collapsed[-1] in _LIST_WORDS[lang] \
                and collapsed[-2] == token:
            collapsed.pop()
            continue
        collapsed.append(token)
    return " ".join(collapsed)


def _noun_phrases(tokens: list[str], lang: str) -> list[str]:
    """Runs of noun-phrase classes and words that hold a SHAPE, each replaced by NP."""
    result: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:  # the empty token ends the last run
        if token in _NOUN_PHRASE_CLASSES or token in _NOUN_PHRASE_WORDS[lang]:
            run.append(token)
            continue
        result += ["NP"] if "SHAPE" in run else run
        run = []
        if token:
            result.append(token)
    return result


def _masked(sentence: str, lang: str) -> list[str]:
    """The tokens of `sentence`, every content word or phrase replaced by its class."""
    table, longest = _phrases(lang)
    tokens = _tokens(sentence, lang)
    masked = []
    start = 0
    while start < len(tokens):
        for length in range(min(longest, len(tokens) - start), 0, -1):
            kind = table.get(tuple(tokens[start:start + length]))
            if kind is not None:
                masked.append(kind)
                start += length
                break
        else:
            masked.append(tokens[start])
            start += 1
    return masked


def distinct_skeletons(texts: Iterable[str], lang: str) -> set[str]:
    """The distinct sentence skeletons of `texts` in `lang`."""
    return {skeleton(sentence, lang) for text in texts for sentence in split_sentences(text, lang)}
