"""The world's CoMMuTE: English sentences with an ambiguous word that only the image resolves.

Two ambiguities: English "blue" is Russian голубой (light) or синий (dark); English "box" is a square or a
rectangle, which German, French, Spanish, Russian and Chinese always name apart. An item holds a scene that
shows the deciding feature, the English source, and two translations that differ only in that word: the
correct one (what the image shows) and the incorrect one (the other reading).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from florenz.world.realise import Description, Mention, plan_description, realise
from florenz.world.scene import (
    AMBIGUOUS_BOX_SHAPES,
    BLUE_SHADES,
    COLOURS,
    SHAPES,
    Scene,
    sample_scene,
    spatial_relations,
)

# which ambiguities each target language has: Russian alone splits blue
AMBIGUITY_KINDS = {"de": ("box",), "fr": ("box",), "es": ("box",), "ru": ("blue", "box"), "zh": ("box",)}
_OTHER_COLOURS = tuple(colour for colour in COLOURS if colour != "blue")
_OTHER_SHAPES = tuple(shape for shape in SHAPES if shape not in AMBIGUOUS_BOX_SHAPES)
_OTHER_READING = {"light": "dark", "dark": "light", "square": "rectangle", "rectangle": "square"}


@dataclass(frozen=True)
class AmbiguityItem:
    scene: Scene  # shows the deciding feature: the shade of the blue object, or the box's aspect ratio
    source: str  # English, contains "blue" or "box"
    correct: str  # translation that matches the scene
    incorrect: str  # the same translation with the ambiguous word read the other way
    kind: str  # "blue" or "box"
    lang: str  # target language


def make_ambiguity_item(rng: np.random.Generator, lang: str) -> AmbiguityItem:
    """A random one-sentence item whose English source says "blue" or "box" for one object of the scene."""
    if lang not in AMBIGUITY_KINDS:
        raise ValueError(f"no ambiguity for target language {lang!r}; "
                         f"choose from {', '.join(AMBIGUITY_KINDS)}")
    kinds = AMBIGUITY_KINDS[lang]
    kind = kinds[int(rng.integers(len(kinds)))]
    scene = _scene_with_one_ambiguous_look(rng, kind)
    plan = plan_description(scene, "short", rng, plain_blue=kind == "blue", box=kind == "box")
    source = realise(plan, "en", rng)
    state = rng.bit_generator.state
    correct = realise(plan, lang, rng)
    rng.bit_generator.state = state  # the same synonyms, so the two translations differ only in the word
    incorrect = realise(_other_reading(plan, kind), lang, rng)
    return AmbiguityItem(scene, source, correct, incorrect, kind, lang)


def _scene_with_one_ambiguous_look(rng: np.random.Generator, kind: str) -> Scene:
    """A random scene whose first object is blue (or a square/rectangle) and no other-looking object is,
    so the English word names exactly one group of the scene."""
    scene = sample_scene(rng)
    objects = list(scene.objects)
    if kind == "blue":
        target = replace(objects[0], colour="blue", shade=str(rng.choice(BLUE_SHADES)))
    else:
        target = replace(objects[0], shape=str(rng.choice(AMBIGUOUS_BOX_SHAPES)))
    objects[0] = target
    for index, obj in enumerate(objects):
        if obj.looks_like(target):
            continue
        if kind == "blue" and obj.colour == "blue":  # its light/dark shade stays valid for any colour
            objects[index] = replace(obj, colour=str(rng.choice(_OTHER_COLOURS)))
        elif kind == "box" and obj.shape in AMBIGUOUS_BOX_SHAPES:
            objects[index] = replace(obj, shape=str(rng.choice(_OTHER_SHAPES)))
    ordered = tuple(objects)
    return Scene(ordered, spatial_relations(ordered), scene.background)


def _other_reading(plan: Description, kind: str) -> Description:
    """`plan` with the ambiguous attribute of its mentions read the other way (dark for light, …)."""
    def flipped(mention: Mention) -> Mention:
        if kind == "blue" and mention.colour == "blue":
            return replace(mention, shade=_OTHER_READING[mention.shade])
        if kind == "box" and mention.shape in AMBIGUOUS_BOX_SHAPES:
            return replace(mention, shape=_OTHER_READING[mention.shape])
        return mention

    return replace(plan, mentions=tuple(flipped(m) for m in plan.mentions))
