"""The language-independent plan: what it states must be true of the scene, and its choices well spread."""

from dataclasses import replace

import numpy as np
import pytest

from florenz.world.realise import (
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


def objects_of(scene: Scene, mention: Mention) -> list[SceneObject]:
    look = (mention.shape, mention.colour, mention.shade, mention.size)
    return [o for o in scene.objects if (o.shape, o.colour, o.shade, o.size) == look]


def grid_cell(obj: SceneObject) -> str:
    """The 3x3 cell of a centre, written out independently of the planner."""
    row = "top" if obj.y < 1 / 3 else "middle" if obj.y < 2 / 3 else "bottom"
    column = "left" if obj.x < 1 / 3 else "middle" if obj.x < 2 / 3 else "right"
    return {("middle", "middle"): "centre", ("top", "middle"): "top", ("bottom", "middle"): "bottom",
            ("middle", "left"): "left", ("middle", "right"): "right"}.get((row, column), f"{row}_{column}")


def holds(subject: SceneObject, relation: str, obj: SceneObject) -> bool:
    """Is `subject` <relation> `obj` on the image (y grows downwards)?"""
    dx, dy = obj.x - subject.x, obj.y - subject.y
    horizontal = abs(dx) >= abs(dy)
    return {"left_of": horizontal and dx > 0, "right_of": horizontal and dx < 0, "next_to": horizontal,
            "above": not horizontal and dy > 0, "below": not horizontal and dy < 0}[relation]


@pytest.fixture(scope="module")
def plans():
    rng = np.random.default_rng(11)
    items = []
    for _ in range(1500):
        scene = sample_scene(rng)
        for detail in ("short", "detailed", "paragraph"):
            items.append((scene, plan_description(scene, detail, rng)))
    return items


def test_first_sentence_names_every_object_once(plans):
    for scene, plan in plans:
        assert sum(m.count for m in plan.mentions) == len(scene.objects)
        assert all(m.name_size and m.name_colour for m in plan.mentions)
        for mention in plan.mentions:
            assert len(objects_of(scene, mention)) == mention.count


def test_stated_relations_hold_between_every_pair_of_the_groups(plans):
    stated = 0
    for scene, plan in plans:
        for sentence in plan.sentences:
            if isinstance(sentence, RelationSentence):
                stated += 1
                for subject in objects_of(scene, sentence.subject):
                    for obj in objects_of(scene, sentence.object):
                        assert holds(subject, sentence.relation, obj), (sentence, scene)
    assert stated > 500


def test_stated_positions_are_the_cells_of_the_group(plans):
    for scene, plan in plans:
        for sentence in plan.sentences:
            if isinstance(sentence, PositionSentence):
                cells = {grid_cell(o) for o in objects_of(scene, sentence.subject)}
                assert set(sentence.positions) == cells and len(sentence.positions) == len(cells)


def test_paragraphs_state_count_and_background(plans):
    for scene, plan in plans:
        kinds = [type(s) for s in plan.sentences]
        if plan.detail == "paragraph":
            assert CountSentence(len(scene.objects)) in plan.sentences
            assert (BackgroundSentence in kinds) != (plan.background == scene.background)
        if plan.detail == "short":
            assert plan.sentences == () and plan.background is None


def english_words(mention: Mention, plan: Description) -> str:
    """How English names `mention` under the plan's ambiguity choices."""
    return realise(Description("short", (mention,), "see", plain_blue=plan.plain_blue, box=plan.box), "en")


def test_later_references_tell_groups_apart_in_english(plans):
    for _, plan in plans:
        for sentence in plan.sentences:
            for mention in (getattr(sentence, "subject", None), getattr(sentence, "object", None)):
                if mention is None:
                    continue
                said = english_words(mention, plan)
                same_words = [m for m in plan.mentions if english_words(
                    replace(m, name_size=mention.name_size, name_colour=mention.name_colour), plan) == said]
                assert len(same_words) == 1, (said, plan)


def test_ambiguity_choices_are_taken_only_where_the_scene_has_them(plans):
    blue_scenes = box_scenes = plain_blue = box = 0
    for scene, plan in plans:
        has_blue = any(o.colour == "blue" for o in scene.objects)
        has_box = any(o.shape in ("square", "rectangle") for o in scene.objects)
        assert plan.plain_blue <= has_blue and plan.box <= has_box
        blue_scenes += has_blue
        box_scenes += has_box
        plain_blue += plan.plain_blue
        box += plan.box
    assert 0.15 < plain_blue / blue_scenes < 0.35 and 0.15 < box / box_scenes < 0.35


def test_two_red_squares_left_of_a_triangle_is_said_as_one_relation():
    squares = (SceneObject("square", "red", "plain", "big", 0.15, 0.2),
               SceneObject("square", "red", "plain", "big", 0.2, 0.8))
    triangle = SceneObject("triangle", "green", "dark", "small", 0.8, 0.5)
    objects = (*squares, triangle)
    scene = Scene(objects, spatial_relations(objects), "white")
    relations = set()
    for seed in range(40):
        plan = plan_description(scene, "detailed", np.random.default_rng(seed))
        relations |= {(s.subject.shape, s.subject.count, s.relation, s.object.shape) for s in plan.sentences
                      if isinstance(s, RelationSentence)}
    assert relations <= {("square", 2, "left_of", "triangle"), ("square", 2, "next_to", "triangle"),
                         ("triangle", 1, "right_of", "square"), ("triangle", 1, "next_to", "square")}
    assert ("square", 2, "left_of", "triangle") in relations
    assert ("triangle", 1, "right_of", "square") in relations


def test_forced_ambiguity_that_would_merge_two_groups_is_refused():
    light = SceneObject("circle", "blue", "light", "big", 0.2, 0.5)
    dark = SceneObject("circle", "blue", "dark", "big", 0.8, 0.5)
    scene = Scene((light, dark), spatial_relations((light, dark)), "white")
    with pytest.raises(ValueError, match="plain_blue"):
        plan_description(scene, "short", np.random.default_rng(0), plain_blue=True)
    for seed in range(30):  # left to chance, the planner never merges them
        assert not plan_description(scene, "short", np.random.default_rng(seed)).plain_blue


def test_bad_detail_and_language_are_refused_with_the_valid_choices():
    rng = np.random.default_rng(0)
    scene = sample_scene(rng)
    with pytest.raises(ValueError, match="short, detailed, paragraph"):
        plan_description(scene, "long", rng)
    with pytest.raises(ValueError, match="en, de, fr, es, ru, zh"):
        realise(plan_description(scene, "short", rng), "it")
