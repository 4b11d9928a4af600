"""Scenes: the shapes of the ambiguous nouns, one object per cell, and crowds of five and more."""

import numpy as np
import pytest

from florenz.world.scene import (
    AMBIGUOUS_NOUNS,
    CELL_JITTER,
    CROWD_SHARE,
    MAX_OBJECTS,
    SHAPES,
    english_shape,
    sample_scene,
    similar_scene,
)


def test_each_ambiguous_noun_has_two_distinct_shapes_that_english_names_alike():
    senses = [sense for pair in AMBIGUOUS_NOUNS.values() for sense in pair]
    assert len(senses) == len(set(senses)) == 8 and set(senses) <= set(SHAPES)
    assert len(SHAPES) == len(set(SHAPES)) == 15
    for noun, (first, second) in AMBIGUOUS_NOUNS.items():
        assert english_shape(first) == english_shape(second) == noun  # the plan keeps English unambiguous
    assert english_shape("circle") == "circle"


def test_no_scene_holds_two_groups_that_english_names_alike():
    """"a small red bow and a small red bow" (ribbon and archery bow) could not be told apart in English."""
    rng = np.random.default_rng(7)
    homonym_scenes = 0
    for _ in range(3000):
        looks = [(english_shape(g.prototype.shape), g.prototype.colour, g.prototype.shade, g.prototype.size)
                 for g in sample_scene(rng, max_objects=MAX_OBJECTS).groups()]
        assert len(set(looks)) == len(looks), looks
        homonym_scenes += any(shape in AMBIGUOUS_NOUNS for shape, *_ in looks)
    assert homonym_scenes > 1000  # the homonyms themselves are as common as before


def test_objects_sit_one_per_cell_near_its_centre():
    rng = np.random.default_rng(1)
    for _ in range(300):
        scene = sample_scene(rng, max_objects=MAX_OBJECTS)
        cells = [(int(obj.x * 3), int(obj.y * 3)) for obj in scene.objects]
        assert len(set(cells)) == len(cells) <= MAX_OBJECTS
        for obj, (column, row) in zip(scene.objects, cells):
            assert abs(obj.x - (column + 0.5) / 3) <= CELL_JITTER + 1e-12
            assert abs(obj.y - (row + 0.5) / 3) <= CELL_JITTER + 1e-12


def test_crowds_of_five_and_more_occur_only_when_max_objects_allows():
    rng = np.random.default_rng(2)
    largest = {limit: [max(g.count for g in sample_scene(rng, max_objects=limit).groups())
                       for _ in range(1000)] for limit in (4, 8)}
    assert max(largest[4]) <= 4
    # at 8: half the scenes have 5+ objects, CROWD_SHARE of those a crowd; repeats add a few more
    share = np.mean(np.array(largest[8]) >= 5)
    assert 0.5 * CROWD_SHARE - 0.02 < share < 0.5 * CROWD_SHARE + 0.05
    assert set(largest[8]) == set(range(1, 9))


@pytest.mark.parametrize("limit", [0, MAX_OBJECTS + 1])
def test_object_limit_outside_one_to_eight_is_refused(limit):
    with pytest.raises(ValueError, match="max_objects is"):
        sample_scene(np.random.default_rng(0), max_objects=limit)


def changed_share(scene, other) -> float:
    """Share of (group shape, colour+shade, size, cells; background) that differ, groups matched in order."""
    changed, slots = int(scene.background != other.background), 1
    for group, twin in zip(scene.groups(), other.groups(), strict=True):
        assert group.indices == twin.indices  # the same groups of the same objects
        a, b = group.prototype, twin.prototype
        cells = [{(int(scene_.objects[i].x * 3), int(scene_.objects[i].y * 3)) for i in g.indices}
                 for scene_, g in ((scene, group), (other, twin))]
        changed += (a.shape != b.shape) + ((a.colour, a.shade) != (b.colour, b.shade)) + (a.size != b.size)
        changed += cells[0] != cells[1]
        slots += 4
    return changed / slots


@pytest.mark.parametrize("similarity", [1.0, 0.7, 0.3, 0.0])
def test_similar_scenes_keep_the_groups_and_the_asked_share_of_attributes(similarity):
    rng = np.random.default_rng(3)
    shares = []
    for _ in range(200):
        scene = sample_scene(rng, max_objects=MAX_OBJECTS)
        other = similar_scene(scene, similarity, rng)
        shares.append(changed_share(scene, other))
        if similarity == 1.0:
            assert other == scene
    # a change is dropped only where every other value would merge two groups: rare
    assert np.mean(shares) == pytest.approx(1 - similarity, abs=0.02)


def test_similarity_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="similarity is 1.5"):
        similar_scene(sample_scene(np.random.default_rng(0)), 1.5, np.random.default_rng(0))
