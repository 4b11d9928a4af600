"""Discourse: at variety high a group is introduced once, as new, and referred back to as known after that.

Each language's parse-back (facts_*.py) marks a noun phrase `new` by the language's own means (a/an,
ein/eine/einen…, un/une/des, un/una/unos, Russian new-subject-last order, Chinese 一+measure word / 有),
so the same check covers all six languages.
"""

from dataclasses import replace

import numpy as np
import pytest

from florenz.world.languages import LANGUAGES
from florenz.world.realise import realise
from tests.world.facts import introduced_once
from tests.world.test_facts import parser
from tests.world.test_realise_plan import random_plans

SCENES = 50


@pytest.fixture(scope="module")
def texts():
    """(scene, plan, seed of its words) at variety high, both registers, every detail, up to 8 objects."""
    plans = random_plans(23, SCENES, varieties=("high",))
    return [(scene, plan, seed) for seed, (scene, _, _, plan) in enumerate(plans)]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_group_is_introduced_twice(texts, lang):
    parse = parser(lang)
    later_mentions = 0
    for scene, plan, seed in texts:
        text = realise(plan, lang, np.random.default_rng(seed))
        facts = parse(text)
        if plan.opener == "statement":
            assert introduced_once([p for p in facts.phrases if p.new], scene.groups()), text
        else:
            assert not any(p.new for p in facts.phrases), text
        later_mentions += len(facts.phrases)
    assert later_mentions > 300


@pytest.mark.parametrize("lang", ("en", "de"))
def test_a_restated_group_is_caught(texts, lang):
    """The same plans with every later mention made new again (variety low's restating): the check fails."""
    parse = parser(lang)
    caught = total = 0
    for _, plan, seed in texts:
        if plan.opener == "statement" or not plan.sentences:
            continue
        restated = replace(plan, sentences=tuple(
            replace(s, **{k: replace(getattr(s, k), known=False, pronoun=False)
                          for k in ("subject", "object") if hasattr(s, k)}) for s in plan.sentences))
        total += 1
        caught += any(p.new for p in parse(realise(restated, lang, np.random.default_rng(seed))).phrases)
    assert caught == total > 50
