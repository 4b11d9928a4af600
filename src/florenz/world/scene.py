"""Scene graphs of the embedded world: what an image shows, before it is rendered or described.

A scene holds 1-8 objects (shape, colour, shade, size, position; 1-4 by default) on a background, plus the
spatial relations that clearly hold between them. Identical-looking objects form groups so realisers can say
"two big red squares" or, in larger scenes, "six small stars". Everything here is deterministic given a
`numpy.random.Generator`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

# English names the two senses of "bow", "bat", "key" and "nut" alike, every other language names them apart:
# the world's CoMMuTE ambiguities, which the picture decides (render.py draws each sense its own way).
AMBIGUOUS_NOUNS = {
    "bow": ("bow_ribbon", "bow_weapon"),
    "bat": ("bat_animal", "bat_club"),
    "key": ("key_door", "key_keyboard"),
    "nut": ("nut_food", "nut_hardware"),
}
SHAPES = ("circle", "square", "rectangle", "triangle", "star", "heart", "diamond",
          *(sense for senses in AMBIGUOUS_NOUNS.values() for sense in senses))
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "grey")
SHADES = ("light", "plain", "dark")
# Blue is always light or dark: the image must decide Russian голубой (light) vs синий (dark).
BLUE_SHADES = ("light", "dark")
SIZES = ("small", "big")
BACKGROUNDS = ("white", "beige", "black")
RELATIONS = ("left_of", "right_of", "above", "below")
AMBIGUOUS_BOX_SHAPES = ("square", "rectangle")  # TEMPORARY: goes once plan.py and en.py (W1) drop "box"
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


def _sample_object(rng: np.random.Generator, x: float, y: float) -> SceneObject:
    colour = str(rng.choice(COLOURS))
    shade = str(rng.choice(BLUE_SHADES if colour == "blue" else SHADES, p=None))
    return SceneObject(
        shape=str(rng.choice(SHAPES)), colour=colour, shade=shade, size=str(rng.choice(SIZES)), x=x, y=y)


def _positions(rng: np.random.Generator, count: int) -> list[tuple[float, float]]:
    """Centres on a jittered 3x3 grid, one object per cell, so objects rarely overlap."""
    cells = rng.choice(9, size=count, replace=False)
    jitter = rng.uniform(-CELL_JITTER, CELL_JITTER, size=(count, 2))
    return [((c % 3 + 0.5) / 3 + jx, (c // 3 + 0.5) / 3 + jy) for c, (jx, jy) in zip(cells, jitter)]


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
            objects.append(_sample_object(rng, x, y))
    ordered = tuple(objects)
    background = str(rng.choice(BACKGROUNDS))
    return Scene(objects=ordered, relations=spatial_relations(ordered), background=background)
