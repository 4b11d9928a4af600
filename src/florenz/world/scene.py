"""Scene graphs of the embedded world: what an image shows, before it is rendered or described.

A scene holds 1-8 objects (shape, colour, shade, size, position; 1-4 by default) on a background, plus the
spatial relations that clearly hold between them. Identical-looking objects form groups so realisers can say
"two big red squares" or, in larger scenes, "six small stars". Everything here is deterministic given a
`numpy.random.Generator`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

# English names the two senses of "bow", "bat", "key" and "nut" alike, every other language names them apart:
# the world's CoMMuTE ambiguities, which the picture decides (render.py draws each sense its own way).
AMBIGUOUS_NOUNS = {
    "bow": ("bow_ribbon", "bow_weapon"),
    "bat": ("bat_animal", "bat_club"),
    "key": ("key_door", "key_keyboard"),
    "nut": ("nut_food", "nut_hardware"),
}
_ENGLISH_HOMONYMS = {sense: noun for noun, senses in AMBIGUOUS_NOUNS.items() for sense in senses}
SHAPES = ("circle", "square", "rectangle", "triangle", "star", "heart", "diamond",
          *(sense for senses in AMBIGUOUS_NOUNS.values() for sense in senses))
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "grey")
SHADES = ("light", "plain", "dark")
# Blue is always light or dark: the image must decide Russian голубой (light) vs синий (dark).
BLUE_SHADES = ("light", "dark")
SIZES = ("small", "big")
BACKGROUNDS = ("white", "beige", "black")
RELATIONS = ("left_of", "right_of", "above", "below")
MAX_OBJECTS = 8  # one object per cell of a 3x3 grid, and one cell always free
# Largest offset of an object's centre from its cell's centre (fraction of the image side): a big object
# (render.RADIUS 0.12) then stays inside its cell (half side 1/6), so neighbours never touch.
CELL_JITTER = 0.04
# Share of scenes of 5+ objects (possible with max_objects >= 5) built around one crowd of 5+ look-alike
# objects ("six small stars"): repeats alone make such groups vanishingly rare.
CROWD_SHARE = 0.25

# A relation is stated only when the centres are this far apart (fraction of the image side).
_RELATION_MARGIN = 0.2


@dataclass(frozen=True)
class SceneObject:
    shape: str  # one of SHAPES
    colour: str  # one of COLOURS
    shade: str  # one of SHADES ("plain" = no shade word); blue is never "plain"
    size: str  # one of SIZES
    x: float  # centre, fraction of image width from the left, in [0, 1]
    y: float  # centre, fraction of image height from the top, in [0, 1]

    def looks_like(self, other: SceneObject) -> bool:
        """Same shape, colour, shade and size: described together with a count."""
        return (self.shape, self.colour, self.shade, self.size) == (
            other.shape, other.colour, other.shade, other.size)


@dataclass(frozen=True)
class Relation:
    subject: int  # index into Scene.objects
    relation: str  # one of RELATIONS: "subject is <relation> object"
    object: int


@dataclass(frozen=True)
class Group:
    """Objects that look alike, described as one noun phrase with a count."""

    prototype: SceneObject
    indices: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    relations: tuple[Relation, ...]
    background: str  # one of BACKGROUNDS

    def groups(self) -> tuple[Group, ...]:
        """Look-alike objects grouped, in order of first appearance."""
        return self._groups

    @cached_property
    def _groups(self) -> tuple[Group, ...]:  # every plan of the scene asks again: ~17 per training image
        groups: list[list[int]] = []
        for index, obj in enumerate(self.objects):
            for group in groups:
                if self.objects[group[0]].looks_like(obj):
                    group.append(index)
                    break
            else:
                groups.append([index])
        return tuple(Group(self.objects[g[0]], tuple(g)) for g in groups)

    def largest_object(self) -> SceneObject:
        """The first big object, else the first object (what a probe is asked to recognise)."""
        return next((o for o in self.objects if o.size == "big"), self.objects[0])


def spatial_relations(objects: tuple[SceneObject, ...]) -> tuple[Relation, ...]:
    """Every clearly-holding relation between distinct-looking objects, each pair stated once."""
    relations = []
    for i, a in enumerate(objects):
        for j, b in enumerate(objects):
            if j <= i or a.looks_like(b):
                continue
            dx, dy = b.x - a.x, b.y - a.y
            if abs(dx) >= abs(dy) and abs(dx) > _RELATION_MARGIN:
                relations.append(Relation(i, "left_of" if dx > 0 else "right_of", j))
            elif abs(dy) > abs(dx) and abs(dy) > _RELATION_MARGIN:
                relations.append(Relation(i, "above" if dy > 0 else "below", j))
    return tuple(relations)


def english_shape(shape: str) -> str:
    """The English noun's shape: both senses of a homonym ("bow_ribbon", "bow_weapon") are "bow"."""
    return _ENGLISH_HOMONYMS.get(shape, shape)


def _english_look(obj: SceneObject) -> tuple[str, str, str, str]:
    return english_shape(obj.shape), obj.colour, obj.shade, obj.size


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    """One of `options` at random (rng.choice converts them to an array first: ten times slower)."""
    return options[int(rng.integers(len(options)))]


def _sample_object(rng: np.random.Generator, x: float, y: float) -> SceneObject:
    colour = _pick(rng, COLOURS)
    shade = _pick(rng, BLUE_SHADES if colour == "blue" else SHADES)
    return SceneObject(shape=_pick(rng, SHAPES), colour=colour, shade=shade, size=_pick(rng, SIZES), x=x, y=y)


def _positions(rng: np.random.Generator, count: int) -> list[tuple[float, float]]:
    """Centres on a jittered 3x3 grid, one object per cell, so objects never overlap."""
    return _centres(rng, rng.choice(9, size=count, replace=False).tolist())


def _centres(rng: np.random.Generator, cells: list[int]) -> list[tuple[float, float]]:
    """A jittered centre in each of `cells` (numbered row by row)."""
    jitter = rng.uniform(-CELL_JITTER, CELL_JITTER, size=(len(cells), 2))
    return [((c % 3 + 0.5) / 3 + jx, (c // 3 + 0.5) / 3 + jy) for c, (jx, jy) in zip(cells, jitter.tolist())]


def sample_scene(rng: np.random.Generator, max_objects: int = 4, repeat_probability: float = 0.3) -> Scene:
    """A random scene of 1..max_objects objects; with `repeat_probability` an object copies the
    look of an earlier one, so counted groups ("three small stars") occur. A share CROWD_SHARE of scenes
    of five or more objects starts with a crowd of 5..count look-alike objects."""
    if not 1 <= max_objects <= MAX_OBJECTS:
        raise ValueError(f"max_objects is {max_objects}; a scene holds 1 to {MAX_OBJECTS} objects")
    count = int(rng.integers(1, max_objects + 1))
    crowd = int(rng.integers(5, count + 1)) if count >= 5 and rng.random() < CROWD_SHARE else 0
    objects: list[SceneObject] = []
    for x, y in _positions(rng, count):
        if 0 < len(objects) < crowd:
            objects.append(replace(objects[0], x=x, y=y))
        elif objects and rng.random() < repeat_probability:
            objects.append(replace(objects[int(rng.integers(len(objects)))], x=x, y=y))
        else:
            obj = _sample_object(rng, x, y)
            # two groups English would name alike ("a small red bow and a small red bow") cannot be told
            # apart by any English text: the other sense is drawn again
            while any(_english_look(obj) == _english_look(other) and not obj.looks_like(other)
                      for other in objects):
                obj = _sample_object(rng, x, y)
            objects.append(obj)
    ordered = tuple(objects)
    background = _pick(rng, BACKGROUNDS)
    return Scene(objects=ordered, relations=spatial_relations(ordered), background=background)


def similar_scene(scene: Scene, similarity: float, rng: np.random.Generator) -> Scene:
    """A scene like `scene`: the same groups and counts, with a share 1 - `similarity` of its attributes
    changed (each group's shape, colour with shade, size and cells, and the background; the number changed
    is rounded at random so the expected share is exact). Stands in for the near-miss scene a contrastive
    model matches to a text, as the paper's CLIP-aligned bitext is attached to images."""
    if not 0 <= similarity <= 1:
        raise ValueError(f"similarity is {similarity}; use a share of attributes kept in [0, 1]")
    groups = list(scene.groups())
    slots = [(number, attribute) for number in range(len(groups)) for attribute in _GROUP_ATTRIBUTES]
    slots.append((-1, "background"))
    expected = (1 - similarity) * len(slots)
    changes = int(expected) + int(rng.random() < expected - int(expected))
    looks = [group.prototype for group in groups]
    cells = [[_cell_of(scene.objects[i]) for i in group.indices] for group in groups]
    moved = [False] * len(groups)
    background = scene.background
    for slot in rng.choice(len(slots), size=changes, replace=False):
        number, attribute = slots[slot]
        if attribute == "background":
            background = _pick(rng, [b for b in BACKGROUNDS if b != background])
        elif attribute == "cells":
            cells[number], moved[number] = _other_cells(cells, number, rng), True
        else:
            looks[number] = _other_look(looks, number, attribute, rng)
    objects = list(scene.objects)
    for group, look, group_cells, group_moved in zip(groups, looks, cells, moved):
        centres = (_centres(rng, group_cells) if group_moved
                   else [(objects[i].x, objects[i].y) for i in group.indices])
        for index, (x, y) in zip(group.indices, centres):
            objects[index] = replace(look, x=x, y=y)
    ordered = tuple(objects)
    return Scene(ordered, spatial_relations(ordered), background)


_GROUP_ATTRIBUTES = ("shape", "colour", "size", "cells")


def _cell_of(obj: SceneObject) -> int:
    return 3 * min(int(obj.y * 3), 2) + min(int(obj.x * 3), 2)


def _other_look(looks: list[SceneObject], number: int, attribute: str,
                rng: np.random.Generator) -> SceneObject:
    """Group `number`'s look with `attribute` (shape, colour or size) changed, unlike every other group's
    (unchanged where every other value would make it look like another group)."""
    look = looks[number]
    if attribute == "shape":
        candidates = [replace(look, shape=shape) for shape in SHAPES if shape != look.shape]
    elif attribute == "colour":
        candidates = [replace(look, colour=colour, shade=shade) for colour in COLOURS
                      for shade in (BLUE_SHADES if colour == "blue" else SHADES) if colour != look.colour]
    else:
        candidates = [replace(look, size=size) for size in SIZES if size != look.size]
    others = [other for index, other in enumerate(looks) if index != number]
    candidates = [c for c in candidates if not any(c.looks_like(other) for other in others)]
    return candidates[int(rng.integers(len(candidates)))] if candidates else look


def _other_cells(cells: list[list[int]], number: int, rng: np.random.Generator) -> list[int]:
    """New cells for group `number`: free ones or its own, not the same set (a scene has a free cell)."""
    taken = {cell for index, group_cells in enumerate(cells) if index != number for cell in group_cells}
    free = [cell for cell in range(9) if cell not in taken]
    while True:
        chosen = [int(cell) for cell in rng.choice(free, size=len(cells[number]), replace=False)]
        if set(chosen) != set(cells[number]):
            return chosen
