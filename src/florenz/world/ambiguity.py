"""The world's CoMMuTE: English sentences with an ambiguous word that only the image resolves.

English "bow", "bat", "key" and "nut" each name two things that German, French, Spanish, Russian and
Chinese name apart (scene.AMBIGUOUS_NOUNS: a ribbon bow or an archery bow, an animal or a club, a door key
or a keyboard key, a nut to eat or a hardware nut), and English "blue" is Russian голубой (light) or синий
(dark). An item holds a scene whose picture decides the reading, an English source that uses the ambiguous
word for exactly one group of the scene, and two translations of one plan: the correct one (the reading the
picture shows) and the incorrect one (the other reading, with whatever agreement it brings). Readings are
balanced: item i of a language asks word i mod n of its n words, in reading (i div n) mod 2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from florenz.world.realise import (
    Description,
    Mention,
    PositionSentence,
    RelationSentence,
    plan_description,
    realise,
)
from florenz.world.scene import (
    AMBIGUOUS_NOUNS,
    BLUE_SHADES,
    COLOURS,
    SHAPES,
    Scene,
    english_shape,
    sample_scene,
    spatial_relations,
)

# the words each target language must resolve: Russian alone splits blue
AMBIGUOUS_WORDS = {"de": tuple(AMBIGUOUS_NOUNS), "fr": tuple(AMBIGUOUS_NOUNS), "es": tuple(AMBIGUOUS_NOUNS),
                   "ru": (*AMBIGUOUS_NOUNS, "blue"), "zh": tuple(AMBIGUOUS_NOUNS)}
# the two readings of each word: the shapes of a noun's senses, blue's shades
READINGS = AMBIGUOUS_NOUNS | {"blue": BLUE_SHADES}
_OTHER_COLOURS = tuple(colour for colour in COLOURS if colour != "blue")
_PLAIN_SHAPES = tuple(shape for shape in SHAPES if english_shape(shape) == shape)


@dataclass(frozen=True)
class AmbiguityItem:
    scene: Scene  # shows the reading: the shape of the named group, or the shade of the blue one
    source: str  # English, says `word` for exactly one group of the scene
    correct: str  # translation that matches the scene
    incorrect: str  # the same plan translated with the other reading
    word: str  # one of AMBIGUOUS_WORDS[lang]
    reading: str  # one of READINGS[word]: what the picture shows
    lang: str  # target language


def word_and_reading(lang: str, index: int) -> tuple[str, str]:
    """The word and reading of item `index` of `lang`: every word equally often, each reading half the
    time."""
    if lang not in AMBIGUOUS_WORDS:
        raise ValueError(f"no ambiguity for target language {lang!r}; "
                         f"choose from {', '.join(AMBIGUOUS_WORDS)}")
    words = AMBIGUOUS_WORDS[lang]
    word = words[index % len(words)]
    return word, READINGS[word][(index // len(words)) % 2]


def make_ambiguity_item(rng: np.random.Generator, lang: str, index: int, variety: str = "high",
                        register: str = "translation") -> AmbiguityItem:
    """Item `index` of `lang` (its word and reading by word_and_reading): a one-sentence English source about
    a random scene of up to four objects, translated with each reading."""
    word, reading = word_and_reading(lang, index)
    scene = _scene_showing(rng, word, reading)
    plan = plan_description(scene, "short", rng, prefix=False if register == "caption" else None,
                            plain_blue=word == "blue", variety=variety, register=register)
    source = realise(plan, "en", rng)
    state = rng.bit_generator.state
    correct = realise(plan, lang, rng)
    rng.bit_generator.state = state  # the same synonyms, so the two translations differ only by the reading
    incorrect = realise(_other_reading(plan, word), lang, rng)
    return AmbiguityItem(scene, source, correct, incorrect, word, reading, lang)


def _scene_showing(rng: np.random.Generator, word: str, reading: str) -> Scene:
    """A random scene whose first object's group shows `reading`; no other group is ambiguous in English
    (no bow, bat, key or nut; for "blue", nothing else blue), so the word names that group alone and it is
    the source's only ambiguity."""
    scene = sample_scene(rng)
    objects = list(scene.objects)
    for number, group in enumerate(scene.groups()):
        look = group.prototype
        if english_shape(look.shape) != look.shape:
            look = replace(look, shape=str(rng.choice(_PLAIN_SHAPES)))
        if number == 0 and word == "blue":
            look = replace(look, colour="blue", shade=reading)
        elif number == 0:
            look = replace(look, shape=reading)
        elif word == "blue" and look.colour == "blue":  # its light/dark shade stays valid for any colour
            look = replace(look, colour=str(rng.choice(_OTHER_COLOURS)))
        for index in group.indices:
            objects[index] = replace(look, x=objects[index].x, y=objects[index].y)
    ordered = tuple(objects)
    return Scene(ordered, spatial_relations(ordered), scene.background)


def _other_reading(plan: Description, word: str) -> Description:
    """`plan` with `word` read the other way in every mention (dark for light, bow_weapon for bow_ribbon…)."""
    first, second = READINGS[word]
    other = {first: second, second: first}

    def flipped(mention: Mention) -> Mention:
        if word == "blue":
            return replace(mention, shade=other[mention.shade]) if mention.colour == "blue" else mention
        return replace(mention, shape=other[mention.shape]) if mention.shape in other else mention

    sentences = []
    for sentence in plan.sentences:
        if isinstance(sentence, RelationSentence):
            sentence = replace(sentence, subject=flipped(sentence.subject), object=flipped(sentence.object))
        elif isinstance(sentence, PositionSentence):
            sentence = replace(sentence, subject=flipped(sentence.subject))
        sentences.append(sentence)
    return replace(plan, mentions=tuple(flipped(m) for m in plan.mentions), sentences=tuple(sentences))
