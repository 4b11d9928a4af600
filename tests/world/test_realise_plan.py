"""The language-independent plan: what it states must be true of the scene, and its choices well spread."""

import functools
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from florenz.world.languages import DETAIL_LEVELS
from florenz.world.realise import (
    FORMS,
    REGISTERS,
    VARIETIES,
    BackgroundSentence,
    CountSentence,
    Description,
    Mention,
    PositionSentence,
    RelationSentence,
    plan_description,
    realise,
)
from florenz.world.scene import Scene, SceneObject, sample_scene, spatial_relations
from tests.world.facts import grid_cell, holds

SCENES = 300
LOW_OPENERS = {"prefix", "exist", "see"}


def objects_of(scene: Scene, mention: Mention) -> list[SceneObject]:
    look = (mention.shape, mention.colour, mention.shade, mention.size)
    return [o for o in scene.objects if (o.shape, o.colour, o.shade, o.size) == look]


def look(mention: Mention) -> tuple[str, str, str, str]:
    return mention.shape, mention.colour, mention.shade, mention.size


def adjacent(a: SceneObject, b: SceneObject) -> bool:
    """Neighbouring cells of the 3x3 grid (written out apart from the planner), centres under 0.45 apart."""
    rows = abs(int(a.y * 3) - int(b.y * 3))
    columns = abs(int(a.x * 3) - int(b.x * 3))
    return max(rows, columns) == 1 and np.hypot(a.x - b.x, a.y - b.y) < 0.45


def random_plans(seed: int, scenes: int, varieties: tuple[str, ...] = VARIETIES
                 ) -> list[tuple[Scene, str, str, Description]]:
    """(scene, variety, register, plan) for every variety, register and detail level of `scenes` random
    scenes, alternately of up to 4 and up to 8 objects."""
    rng = np.random.default_rng(seed)
    items = []
    for index in range(scenes):
        scene = sample_scene(rng, max_objects=8 if index % 2 else 4)
        for variety in varieties:
            for register in REGISTERS:
                for detail in DETAIL_LEVELS:
                    plan = plan_description(scene, detail, rng, variety=variety, register=register)
                    items.append((scene, variety, register, plan))
    return items


@pytest.fixture(scope="module")
def plans():
    return random_plans(11, SCENES)


def naming_mentions(sentence) -> list[Mention]:
    return [m for m in (getattr(sentence, "subject", None), getattr(sentence, "object", None)) if m]


def test_overview_names_every_object_once(plans):
    for scene, _, register, plan in plans:
        assert (plan.opener == "statement") == (register == "translation")
        assert sum(m.count for m in plan.mentions) == len(scene.objects)
        assert all(m.name_size and m.name_colour and not m.known for m in plan.mentions)
        for mention in plan.mentions:
            assert len(objects_of(scene, mention)) == mention.count


def test_statement_names_every_group_new_first_then_known(plans):
    for _, _, register, plan in plans:
        if register != "translation":
            continue
        seen = set()
        for sentence in plan.sentences:
            for mention in naming_mentions(sentence):
                assert mention.known == (look(mention) in seen), plan
                if not mention.known:
                    assert mention.name_size and mention.name_colour and mention.count >= 1
            seen |= {look(m) for m in naming_mentions(sentence)}
        assert seen == {look(m) for m in plan.mentions}, plan


def test_high_variety_refers_back_to_every_mention_after_the_overview(plans):
    for _, variety, register, plan in plans:
        if variety == "high" and register == "caption":
            assert all(m.known for s in plan.sentences for m in naming_mentions(s)), plan


def test_low_variety_keeps_the_first_templates(plans):
    definite = []
    for _, variety, register, plan in plans:
        if variety != "low":
            continue
        assert all(s.form == 0 and not getattr(s, "subject", Mention("", "", "", "")).pronoun
                   for s in plan.sentences)
        assert plan.relative is None
        if register == "caption":
            assert plan.opener in LOW_OPENERS and not any(s.joined for s in plan.sentences)
            kinds = [type(s) for s in plan.sentences]
            assert kinds == sorted(kinds, key=[RelationSentence, PositionSentence, CountSentence,
                                               BackgroundSentence].index)
            said = {m.known for s in plan.sentences for m in naming_mentions(s)}
            assert len(said) <= 1  # all refer back, or all restate
            definite += list(said)
    assert 0.5 < np.mean(definite) < 0.7


def test_high_variety_uses_every_form_opener_and_device(plans):
    high = [(register, plan) for _, variety, register, plan in plans if variety == "high"]
    forms = Counter((type(s), s.form) for _, plan in high for s in plan.sentences)
    for kind, count in FORMS.items():
        assert all(forms[kind, form] > 30 for form in range(count)), (kind, forms)
    openers = Counter(plan.opener for register, plan in high if register == "caption")
    assert set(openers) == {"prefix", "exist", "see", "depicted", "fragment"}
    assert 0.38 < openers["prefix"] / sum(openers.values()) < 0.52
    assert sum(plan.relative is not None for _, plan in high) > 15
    assert sum(s.joined for _, plan in high for s in plan.sentences) > 100
    assert sum(s.subject.pronoun for _, plan in high for s in plan.sentences if hasattr(s, "subject")) > 15
    # count and background are not always last
    last = Counter(type(plan.sentences[-1]) for _, plan in high if plan.detail == "paragraph")
    assert last[RelationSentence] + last[PositionSentence] > 0.2 * sum(last.values())


def test_joins_pronouns_and_relatives_follow_their_rules(plans):
    for scene, _, _, plan in plans:
        sentences = plan.sentences
        for previous, sentence in zip((None, *sentences), sentences):
            if sentence.joined:
                assert isinstance(sentence, RelationSentence | PositionSentence)
                assert isinstance(previous, RelationSentence | PositionSentence)
            if hasattr(sentence, "subject") and sentence.subject.pronoun:
                assert sentence.form == 0 and sentence.subject.known
                assert look(previous.subject) == look(sentence.subject)
        if plan.relative:
            assert len(plan.mentions) >= 2 and plan.opener != "statement"
            pair = {look(plan.mentions[0]), look(plan.mentions[1])}
            for subject in objects_of(scene, plan.mentions[0]):
                for obj in objects_of(scene, plan.mentions[1]):
                    assert holds(subject, plan.relative, obj)
                    assert plan.relative != "next_to" or adjacent(subject, obj)
            assert not any({look(s.subject), look(s.object)} == pair for s in sentences
                           if isinstance(s, RelationSentence))


def test_stated_relations_hold_between_every_pair_of_the_groups(plans):
    stated = Counter()
    for scene, _, _, plan in plans:
        for sentence in plan.sentences:
            if isinstance(sentence, RelationSentence):
                stated[sentence.relation] += 1
                for subject in objects_of(scene, sentence.subject):
                    for obj in objects_of(scene, sentence.object):
                        assert holds(subject, sentence.relation, obj), (sentence, scene)
                        assert sentence.relation != "next_to" or adjacent(subject, obj), (sentence, scene)
    assert sum(stated.values()) > 1200 and stated["next_to"] > 30


def test_stated_positions_are_the_cells_of_the_group(plans):
    for scene, _, _, plan in plans:
        for sentence in plan.sentences:
            if isinstance(sentence, PositionSentence):
                cells = {grid_cell(o) for o in objects_of(scene, sentence.subject)}
                assert set(sentence.positions) == cells and len(sentence.positions) == len(cells)


def test_paragraphs_state_count_and_background(plans):
    for scene, _, register, plan in plans:
        kinds = [type(s) for s in plan.sentences]
        if plan.detail == "paragraph":
            assert CountSentence(len(scene.objects), form=plan.sentences[kinds.index(CountSentence)].form) \
                in plan.sentences
            assert (BackgroundSentence in kinds) != (plan.background == scene.background)
        if plan.detail == "short" and register == "caption":
            assert plan.sentences == () and plan.background is None


@functools.cache
def english_words(mention: Mention, plan: Description) -> str:
    """How English names `mention` under the plan's ambiguity choice."""
    return realise(Description("short", (replace(mention, known=False, pronoun=False),), "see",
                               plain_blue=plan.plain_blue), "en")


def test_later_references_tell_groups_apart_in_english(plans):
    for _, _, _, plan in plans:
        english_looks = [english_words(m, plan) for m in plan.mentions]
        for sentence in plan.sentences:
            for mention in naming_mentions(sentence):
                if mention.pronoun or english_looks.count(english_words(
                        plan.mentions[[look(m) for m in plan.mentions].index(look(mention))], plan)) > 1:
                    continue  # English itself names two groups alike (homonyms): no reference can help
                said = english_words(mention, plan)
                same_words = [m for m in plan.mentions if english_words(
                    replace(m, name_size=mention.name_size, name_colour=mention.name_colour), plan) == said]
                assert len(same_words) == 1, (said, plan)


def test_plain_blue_is_taken_only_where_the_scene_has_blue(plans):
    blue_scenes = plain_blue = 0
    for scene, _, _, plan in plans:
        has_blue = any(o.colour == "blue" for o in scene.objects)
        assert plan.plain_blue <= has_blue
        blue_scenes += has_blue
        plain_blue += plan.plain_blue
    assert 0.15 < plain_blue / blue_scenes < 0.35


def scene_of(*objects: SceneObject) -> Scene:
    return Scene(objects, spatial_relations(objects), "white")


def test_next_to_only_for_neighbours():
    far = scene_of(SceneObject("star", "red", "plain", "big", 0.15, 0.5),
                   SceneObject("circle", "green", "plain", "big", 0.85, 0.5))
    near = scene_of(SceneObject("star", "red", "plain", "big", 0.2, 0.5),
                    SceneObject("circle", "green", "plain", "big", 0.5, 0.5))
    said = {"far": set(), "near": set()}
    for seed in range(200):
        for name, scene in (("far", far), ("near", near)):
            plan = plan_description(scene, "detailed", np.random.default_rng(seed))
            said[name] |= {s.relation for s in plan.sentences if isinstance(s, RelationSentence)}
            said[name] |= {plan.relative} - {None}
    assert "next_to" not in said["far"] and "next_to" in said["near"]


def test_two_red_squares_left_of_a_triangle_is_said_as_one_relation():
    squares = (SceneObject("square", "red", "plain", "big", 0.15, 0.2),
               SceneObject("square", "red", "plain", "big", 0.2, 0.8))
    triangle = SceneObject("triangle", "green", "dark", "small", 0.8, 0.5)
    scene = scene_of(*squares, triangle)
    relations = set()
    for seed in range(40):
        plan = plan_description(scene, "detailed", np.random.default_rng(seed), variety="low")
        relations |= {(s.subject.shape, s.subject.count, s.relation, s.object.shape) for s in plan.sentences
                      if isinstance(s, RelationSentence)}
    assert relations == {("square", 2, "left_of", "triangle"), ("triangle", 1, "right_of", "square")}


def test_forced_ambiguity_that_would_merge_two_groups_is_refused():
    light = SceneObject("circle", "blue", "light", "big", 0.2, 0.5)
    dark = SceneObject("circle", "blue", "dark", "big", 0.8, 0.5)
    scene = scene_of(light, dark)
    with pytest.raises(ValueError, match="plain_blue"):
        plan_description(scene, "short", np.random.default_rng(0), plain_blue=True)
    for seed in range(30):  # left to chance, the planner never merges them
        assert not plan_description(scene, "short", np.random.default_rng(seed)).plain_blue


def test_bad_arguments_are_refused_with_the_valid_choices():
    rng = np.random.default_rng(0)
    scene = sample_scene(rng)
    with pytest.raises(ValueError, match="short, detailed, paragraph"):
        plan_description(scene, "long", rng)
    with pytest.raises(ValueError, match="low, high"):
        plan_description(scene, "short", rng, variety="rich")
    with pytest.raises(ValueError, match="caption, translation"):
        plan_description(scene, "short", rng, register="bitext")
    with pytest.raises(ValueError, match="translation register"):
        plan_description(scene, "short", rng, prefix=True, register="translation")
    with pytest.raises(ValueError, match="en, de, fr, es, ru, zh"):
        realise(plan_description(scene, "short", rng), "it")
