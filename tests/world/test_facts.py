"""Parse-back: every fact a realised text states is true of its scene, in every language.

Interface for the per-language parsers (tests/world/facts.py holds Phrase, Facts and the check):

    # tests/world/facts_fr_es.py (W2), tests/world/facts_ru_zh.py (W3), tests/world/facts_en_de.py (W1)
    from tests.world.facts import Facts, Phrase
    def parse_french(text: str) -> Facts: ...
    PARSERS = {"fr": parse_french, "es": parse_spanish}

A parser reads a text as a reader would (its own word lists, written from the language's grammar, not
imported from the realiser) and returns what the text states: the overview's noun phrases, every later
noun phrase (pronouns and zero subjects resolved to the previous subject, `new` marking a phrase said as
new to the reader), relations, positions, totals, backgrounds. This test samples scenes of up to 8 objects
at both varieties and registers and requires each text's facts to be true of its scene and as many as the
plan states (a parser that drops a sentence fails here, too).
"""

import importlib

import numpy as np
import pytest

from florenz.world.languages import DETAIL_LEVELS, LANGUAGES
from florenz.world.realise import (
    REGISTERS,
    VARIETIES,
    BackgroundSentence,
    CountSentence,
    PositionSentence,
    RelationSentence,
    plan_description,
    realise,
)
from florenz.world.scene import sample_scene
from tests.world.facts import check

PARSER_MODULES = {"en": "facts_en_de", "de": "facts_en_de", "fr": "facts_fr_es", "es": "facts_fr_es",
                  "ru": "facts_ru_zh", "zh": "facts_ru_zh"}
SCENES = 100  # x 2 varieties x 2 registers: 400 texts per language, details mixed


def parser(lang: str):
    return importlib.import_module(f"tests.world.{PARSER_MODULES[lang]}").PARSERS[lang]


@pytest.fixture(scope="module")
def plans():
    rng = np.random.default_rng(17)
    items = []
    for index in range(SCENES):
        scene = sample_scene(rng, max_objects=8 if index % 2 else 4)
        for variety in VARIETIES:
            for register in REGISTERS:
                detail = DETAIL_LEVELS[int(rng.integers(len(DETAIL_LEVELS)))]
                items.append((scene, plan_description(scene, detail, rng, variety=variety, register=register),
                              int(rng.integers(1 << 30))))
    return items


def stated_counts(plan) -> tuple[int, int, int, int]:
    """(relations, positions, totals, backgrounds) the plan states."""
    kinds = [type(s) for s in plan.sentences]
    return (kinds.count(RelationSentence) + (plan.relative is not None), kinds.count(PositionSentence),
            kinds.count(CountSentence), kinds.count(BackgroundSentence) + (plan.background is not None))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_stated_fact_is_true_of_the_scene(plans, lang):
    parse = parser(lang)
    for scene, plan, seed in plans:
        text = realise(plan, lang, np.random.default_rng(seed))
        facts = parse(text)
        assert not check(facts, scene), (text, check(facts, scene))
        said = (len(facts.relations), len(facts.positions), len(facts.totals), len(facts.backgrounds))
        assert said == stated_counts(plan), (text, said, stated_counts(plan))
        assert len(facts.overview) == (0 if plan.opener == "statement" else len(plan.mentions)), text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_checker_catches_a_false_text(plans, lang):
    """The same texts checked against another scene: most must fail, or the check proves nothing."""
    parse = parser(lang)
    caught = 0
    for (_, plan, seed), (other, _, _) in zip(plans, plans[4:]):
        caught += bool(check(parse(realise(plan, lang, np.random.default_rng(seed))), other))
    assert caught > 0.9 * (len(plans) - 4)
