"""The language-independent content plan of one text about a scene.

A Description fixes everything a text and its translation must share: which groups of look-alike objects
are named and in which order, which relations and positions are stated, how the first sentence opens (with
the language's caption prefix or not), whether later sentences refer back with definite articles, and the
two English-only ambiguity choices ("blue" without its shade, "box" for a square or rectangle). Synonyms and
other choices internal to a language are left to that language's realiser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from florenz.world.languages import DETAIL_LEVELS
from florenz.world.realise.common import Choices
from florenz.world.scene import AMBIGUOUS_BOX_SHAPES, Group, Scene, SceneObject

# The pilot needed the caption prefix in a good share of training targets (world.md, "decisive knob").
PREFIX_SHARE = 0.45
# English-only ambiguity choices, taken only where the English text stays unambiguous about the scene.
PLAIN_BLUE_SHARE = 0.3
BOX_SHARE = 0.3
# Share of left/right relations said as "next to": less precise, a paraphrase all languages share.
NEXT_TO_SHARE = 0.2
DEFINITE_SHARE = 0.6  # later sentences refer back ("the star") rather than restate ("a star")
MINIMAL_REFERENCE_SHARE = 0.5  # later sentences name only the attributes that tell the groups apart
BACKGROUND_IN_DETAILED_SHARE = 0.3
BACKGROUND_IN_FIRST_SENTENCE_SHARE = 0.5  # of paragraphs long enough without a background sentence

OPENERS = ("prefix", "exist", "see")  # "The image shows …", "There are …", "We see …"
RELATION_WORDS = ("left_of", "right_of", "above", "below", "next_to")
# the cells of a 3x3 grid, row by row
POSITIONS = ("top_left", "top", "top_right", "left", "centre", "right",
             "bottom_left", "bottom", "bottom_right")
_INVERSE = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}


@dataclass(frozen=True, slots=True)
class Mention:
    """One noun phrase: `count` look-alike objects, naming their size and colour or not."""

    shape: str
    colour: str
    shade: str
    size: str
    count: int = 1
    name_size: bool = True
    name_colour: bool = True


@dataclass(frozen=True, slots=True)
class RelationSentence:
    subject: Mention
    relation: str  # one of RELATION_WORDS: "subject is <relation> object"
    object: Mention


@dataclass(frozen=True, slots=True)
class PositionSentence:
    subject: Mention
    positions: tuple[str, ...]  # one of POSITIONS per object of the group, in reading order


@dataclass(frozen=True, slots=True)
class CountSentence:
    total: int  # objects in the scene


@dataclass(frozen=True, slots=True)
class BackgroundSentence:
    background: str  # one of scene.BACKGROUNDS


Sentence = RelationSentence | PositionSentence | CountSentence | BackgroundSentence


@dataclass(frozen=True, slots=True)
class Description:
    """What one text says, before it is put into words; realise() turns it into any language."""

    detail: str  # one of DETAIL_LEVELS
    mentions: tuple[Mention, ...]  # the first sentence names these, in this order
    opener: str = "prefix"  # one of OPENERS; "prefix" opens with the language's caption prefix phrase
    background: str | None = None  # said in the first sentence ("on a beige background") when set
    sentences: tuple[Sentence, ...] = ()  # the sentences after the first
    definite: bool = True  # later sentences say "the star" (else "a star")
    plain_blue: bool = False  # English says "blue" without its shade
    box: bool = False  # English says "box" for squares and rectangles

    @property
    def prefix(self) -> bool:
        return self.opener == "prefix"


def plan_description(scene: Scene, detail: str, rng: np.random.Generator, prefix: bool | None = None, *,
                     plain_blue: bool | None = None, box: bool | None = None) -> Description:
    """A random content plan of a `detail`-level text about `scene`.

    `prefix`: None opens a share PREFIX_SHARE of texts with the caption prefix, True always, False never.
    `plain_blue`, `box`: None takes the English-only ambiguity at random where the scene allows it, True
    takes it wherever the scene has a blue object / a square or rectangle, False never.
    """
    if detail not in DETAIL_LEVELS:
        raise ValueError(f"detail {detail!r} is not one of {', '.join(DETAIL_LEVELS)}")
    choices = Choices(rng)
    groups = _shuffled(list(scene.groups()), choices)
    opens_with_prefix = choices.chance(PREFIX_SHARE) if prefix is None else prefix
    opener = "prefix" if opens_with_prefix else choices.pick(OPENERS[1:])
    say_plain_blue, say_box = _ambiguity_choices(groups, choices, plain_blue, box)
    mentions = tuple(_mention(group.prototype, group.count) for group in groups)
    if detail == "short":
        return Description(detail, mentions, opener, plain_blue=say_plain_blue, box=say_box)

    references = list(mentions)
    if choices.chance(MINIMAL_REFERENCE_SHARE):
        english_looks = [_english_look(group.prototype, say_plain_blue, say_box) for group in groups]
        references = [_reference(index, english_looks, mention) for index, mention in enumerate(mentions)]
    relations = _relation_sentences(scene, groups, references, choices)
    background = None
    if detail == "detailed":
        wanted = 1 + choices.index(2)  # two or three sentences in all
        sentences = relations[:wanted]
        if len(sentences) < wanted:  # positions where the relations run out
            sentences += _position_sentences(scene, groups, references, choices)[:wanted - len(sentences)]
        if choices.chance(BACKGROUND_IN_DETAILED_SHARE):
            background = scene.background
    else:
        positions = _position_sentences(scene, groups, references, choices)
        sentences = relations[:2] + positions[:2] + [CountSentence(len(scene.objects))]
        # a paragraph has at least four sentences: the background gets its own when they are short
        if len(sentences) >= 3 and choices.chance(BACKGROUND_IN_FIRST_SENTENCE_SHARE):
            background = scene.background
        else:
            sentences.append(BackgroundSentence(scene.background))
    return Description(detail, mentions, opener, background, tuple(sentences), choices.chance(DEFINITE_SHARE),
                       say_plain_blue, say_box)


def position_of(obj: SceneObject) -> str:
    """The cell of the 3x3 grid the object's centre lies in, as one of POSITIONS."""
    return POSITIONS[_cell(obj)]


def _cell(obj: SceneObject) -> int:
    return 3 * min(max(int(obj.y * 3), 0), 2) + min(max(int(obj.x * 3), 0), 2)


def _shuffled(items: list, choices: Choices) -> list:
    for last in range(len(items) - 1, 0, -1):  # Fisher-Yates
        other = choices.index(last + 1)
        items[last], items[other] = items[other], items[last]
    return items


def _mention(obj: SceneObject, count: int) -> Mention:
    return Mention(obj.shape, obj.colour, obj.shade, obj.size, count)


def _english_look(obj: SceneObject, plain_blue: bool, box: bool) -> tuple[str, str, str, str]:
    """(shape, colour, shade, size) as English names them under the ambiguity choices."""
    shape = "box" if box and obj.shape in AMBIGUOUS_BOX_SHAPES else obj.shape
    shade = "plain" if plain_blue and obj.colour == "blue" else obj.shade
    return shape, obj.colour, shade, obj.size


def _ambiguity_choices(groups: list[Group], choices: Choices, plain_blue: bool | None,
                       box: bool | None) -> tuple[bool, bool]:
    """(say plain "blue", say "box") such that English still names every group differently."""
    has_blue = any(group.prototype.colour == "blue" for group in groups)
    has_box = any(group.prototype.shape in AMBIGUOUS_BOX_SHAPES for group in groups)
    say_plain_blue = has_blue and (choices.chance(PLAIN_BLUE_SHARE) if plain_blue is None else plain_blue)
    say_box = has_box and (choices.chance(BOX_SHARE) if box is None else box)
    if not (say_plain_blue or say_box):
        return False, False
    # if random choices merge two groups in English, drop them; forced ones must hold on their own
    forced_only = (say_plain_blue and plain_blue is True, say_box and box is True)
    for candidate in ((say_plain_blue, say_box), forced_only):
        if len({_english_look(group.prototype, *candidate) for group in groups}) == len(groups):
            return candidate
    raise ValueError("plain_blue/box forced, but English would then name two different groups of this scene "
                     "alike; pass None to let the planner decide")


def _reference(index: int, english_looks: list[tuple[str, str, str, str]], mention: Mention) -> Mention:
    """`mention` naming only the attributes needed to tell its group from the others in English."""
    for name_size, name_colour in ((False, False), (False, True), (True, False)):
        named = [_named(look, name_size, name_colour) for look in english_looks]
        if named.count(named[index]) == 1:
            return Mention(mention.shape, mention.colour, mention.shade, mention.size, mention.count,
                           name_size, name_colour)
    return mention


def _named(look: tuple[str, str, str, str], name_size: bool, name_colour: bool) -> tuple[str, ...]:
    shape, colour, shade, size = look
    return shape, *((colour, shade) if name_colour else ()), *((size,) if name_size else ())


def _relation_sentences(scene: Scene, groups: list[Group], references: list[Mention],
                        choices: Choices) -> list[Sentence]:
    """One sentence per pair of groups whose every member pair stands in the same relation, shuffled."""
    stated = {}
    for relation in scene.relations:
        stated[relation.subject, relation.object] = relation.relation
        stated[relation.object, relation.subject] = _INVERSE[relation.relation]
    sentences: list[Sentence] = []
    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            kinds = {stated.get((i, j)) for i in groups[a].indices for j in groups[b].indices}
            if len(kinds) != 1 or None in kinds:
                continue
            relation = kinds.pop()
            subject, obj = (a, b) if choices.index(2) == 0 else (b, a)
            if subject != a:
                relation = _INVERSE[relation]
            if relation in ("left_of", "right_of") and choices.chance(NEXT_TO_SHARE):
                relation = "next_to"
            sentences.append(RelationSentence(references[subject], relation, references[obj]))
    return _shuffled(sentences, choices)


def _position_sentences(scene: Scene, groups: list[Group], references: list[Mention],
                        choices: Choices) -> list[Sentence]:
    """Where each group's objects are, one sentence per group, shuffled."""
    sentences: list[Sentence] = []
    for group, reference in zip(groups, references):
        cells = sorted({_cell(scene.objects[i]) for i in group.indices})
        sentences.append(PositionSentence(reference, tuple(POSITIONS[cell] for cell in cells)))
    return _shuffled(sentences, choices)
