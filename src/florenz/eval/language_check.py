"""Which language a caption is in: a script and lexicon check built from the world's own realisers.

A model asked for a French caption may answer in English or German (the paper's failure without a
prefix), or slide into German mid-sentence. Every word votes: a word that only one language's world
lexicon holds votes for that language; a word no lexicon holds votes by script (Cyrillic: ru, Han: zh);
words several languages share ("beige", "six") do not vote. The caption's language is the majority vote;
no votes or a tie give None, which never counts as the requested language.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

import numpy as np

from florenz.world.languages import DETAIL_LEVELS, LANGUAGES
from florenz.world.realise import plan_description, realise
from florenz.world.scene import sample_scene

_LEXICON_SCENES = 300  # scenes per lexicon: 600 add only a few rare inflections (de 168, ru 207 -> 209 words)
_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]|[^\W\d_\u3400-\u4dbf\u4e00-\u9fff]+")  # Han char | letters
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def words(text: str) -> list[str]:
    """Lower-cased words: runs of letters, every Han character on its own."""
    return _WORD.findall(text.lower())


@lru_cache(maxsize=1)
def world_lexicons() -> dict[str, frozenset[str]]:
    """Every word the world's realisers use, per language, from random scenes at every detail level."""
    rng = np.random.default_rng(0)
    lexicons: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}
    for _ in range(_LEXICON_SCENES):
        scene = sample_scene(rng)
        for detail in DETAIL_LEVELS:
            plan = plan_description(scene, detail, rng)
            for lang in LANGUAGES:
                lexicons[lang].update(words(realise(plan, lang, rng)))
    return {lang: frozenset(lexicon) for lang, lexicon in lexicons.items()}


@lru_cache(maxsize=1)
def _distinctive() -> dict[str, str]:
    """word -> the one language whose lexicon holds it (shared words are left out)."""
    owners: dict[str, list[str]] = {}
    for lang, lexicon in world_lexicons().items():
        for word in lexicon:
            owners.setdefault(word, []).append(lang)
    return {word: langs[0] for word, langs in owners.items() if len(langs) == 1}


def language_votes(text: str) -> Counter:
    """Votes per language from the words of `text` (see the module docstring)."""
    distinctive = _distinctive()
    votes: Counter = Counter()
    for word in words(text):
        if word in distinctive:
            votes[distinctive[word]] += 1
        elif not any(word in lexicon for lexicon in world_lexicons().values()):
            if _HAN.search(word):
                votes["zh"] += 1
            elif _CYRILLIC.search(word):
                votes["ru"] += 1
    return votes


def detect_language(text: str) -> str | None:
    """The language most words of `text` vote for; None when nothing votes or the top two tie."""
    ranked = language_votes(text).most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def language_share(text: str, lang: str) -> float:
    """The share of the voting words of `text` that vote for `lang` (0.0 when nothing votes)."""
    votes = language_votes(text)
    total = sum(votes.values())
    return votes[lang] / total if total else 0.0
