"""Six realisers of the embedded world: a language-independent plan of what to say about a scene, and
one grammar per language that puts the plan into words.

    plan = plan_description(scene, "detailed", rng)      # what to say, shared by a text and its translation
    realise(plan, "en", rng), realise(plan, "ru", rng)   # a translation pair saying the same thing
    realise(plan, "de")                                  # rng=None: the canonical wording, which tests pin
"""

from __future__ import annotations

import numpy as np

from florenz.world.languages import check_language
from florenz.world.realise import de, en, es, fr, ru, zh
from florenz.world.realise.common import Choices
from florenz.world.realise.plan import (
    OPENERS,
    POSITIONS,
    RELATION_WORDS,
    BackgroundSentence,
    CountSentence,
    Description,
    Mention,
    PositionSentence,
    RelationSentence,
    Sentence,
    plan_description,
    position_of,
)

__all__ = [
    "OPENERS", "POSITIONS", "RELATION_WORDS", "BackgroundSentence", "CountSentence", "Description", "Mention",
    "PositionSentence", "RelationSentence", "Sentence", "plan_description", "position_of", "realise",
]

_GRAMMARS = {"en": en, "de": de, "fr": fr, "es": es, "ru": ru, "zh": zh}
# each grammar module has one function per kind of sentence, named like this
_SENTENCE_FUNCTIONS = {RelationSentence: "relation", PositionSentence: "position", CountSentence: "count",
                       BackgroundSentence: "background"}


def realise(description: Description, lang: str, rng: np.random.Generator | None = None) -> str:
    """The text `description` plans, in `lang`; `rng` picks synonyms (None: the first, canonical ones)."""
    grammar = _GRAMMARS[check_language(lang)]
    style = grammar.style(description, Choices(rng))
    sentences = [grammar.overview(description, style)]
    for sentence in description.sentences:
        sentences.append(getattr(grammar, _SENTENCE_FUNCTIONS[type(sentence)])(sentence, style))
    return grammar.SEPARATOR.join(sentences)
