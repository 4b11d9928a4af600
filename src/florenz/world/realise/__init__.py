"""Six realisers of the embedded world: a language-independent plan of what to say about a scene, and
one grammar per language that puts the plan into words.

    plan = plan_description(scene, "detailed", rng)      # what to say, shared by a text and its translation
    realise(plan, "en", rng), realise(plan, "ru", rng)   # a translation pair saying the same thing
    realise(plan, "de")                                  # rng=None: the canonical wording, which tests pin

Every grammar module has the same face:
    SEPARATOR                      what stands between two sentences (" ", or "" in Chinese)
    CONTENT_WORDS                  every surface form of a content word or phrase -> its class ("SHAPE", …)
    style(description, choices)    this text's synonyms, drawn once
    overview(description, style)   the opening clause naming every mention (not for opener "statement")
    relation / position / count / background(sentence, style)
                                   one clause for one planned sentence, in the form sentence.form says;
                                   lower-case start (unless the language capitalises the word), no end mark
    sentence(clauses, style)       one written sentence of one clause or several coordinated ones (`joined`)
"""

from __future__ import annotations

import numpy as np

from florenz.world.languages import check_language
from florenz.world.realise import de, en, es, fr, ru, zh
from florenz.world.realise.common import Choices
from florenz.world.realise.plan import (
    FORMS,
    OPENERS,
    POSITIONS,
    REGISTERS,
    RELATION_WORDS,
    VARIETIES,
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
    "FORMS", "OPENERS", "POSITIONS", "REGISTERS", "RELATION_WORDS", "VARIETIES", "BackgroundSentence",
    "CountSentence", "Description", "GRAMMARS", "Mention", "PositionSentence", "RelationSentence", "Sentence",
    "plan_description", "position_of", "realise",
]

GRAMMARS = {"en": en, "de": de, "fr": fr, "es": es, "ru": ru, "zh": zh}
# each grammar module has one function per kind of sentence, named like this
_SENTENCE_FUNCTIONS = {RelationSentence: "relation", PositionSentence: "position", CountSentence: "count",
                       BackgroundSentence: "background"}


def realise(description: Description, lang: str, rng: np.random.Generator | None = None) -> str:
    """The text `description` plans, in `lang`; `rng` picks synonyms (None: the first, canonical ones)."""
    grammar = GRAMMARS[check_language(lang)]
    style = grammar.style(description, Choices(rng))
    written: list[list[str]] = []  # the clauses of each written sentence
    if description.opener != "statement":
        written.append([grammar.overview(description, style)])
    for sentence in description.sentences:
        clause = getattr(grammar, _SENTENCE_FUNCTIONS[type(sentence)])(sentence, style)
        if sentence.joined and written:
            written[-1].append(clause)
        else:
            written.append([clause])
    return grammar.SEPARATOR.join(grammar.sentence(clauses, style) for clauses in written)
