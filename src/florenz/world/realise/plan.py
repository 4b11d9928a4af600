"""The language-independent content plan of one text about a scene.

A Description fixes everything a text and its translation must share: which groups of look-alike objects
are named and in which order, which relations and positions are stated and in which skeleton (form), which
sentences are coordinated into one, which mentions are already known to the reader (definite article or
pronoun), how the text opens (caption prefix, "There are …", a bare noun phrase, or no overview at all in
the translation register), and the English-only choice of saying "blue" without its shade. Synonyms and
other choices internal to a language are left to that language's realiser.

Variety "low" reproduces the world's first templates (one skeleton per sentence kind, fixed order); "high"
draws every form, joins, relative clauses and orders (issue 17).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from florenz.world.languages import DETAIL_LEVELS
from florenz.world.realise.common import Choices
from florenz.world.scene import Group, Scene, SceneObject, english_shape

# The pilot needed the caption prefix in a good share of training targets (world.md, "decisive knob").
PREFIX_SHARE = 0.45
# English-only ambiguity choice, taken only where the English text stays unambiguous about the scene.
PLAIN_BLUE_SHARE = 0.3
# Share of left/right relations between adjacent groups said as "next to": a paraphrase all languages share.
NEXT_TO_SHARE = 0.2
DEFINITE_SHARE = 0.6  # variety "low": later sentences refer back ("the star") rather than restate ("a star")
MINIMAL_REFERENCE_SHARE = 0.5  # later sentences name only the attributes that tell the groups apart
BACKGROUND_IN_DETAILED_SHARE = 0.3
BACKGROUND_IN_FIRST_SENTENCE_SHARE = 0.5  # of paragraphs long enough without a background sentence
RELATIVE_SHARE = 0.3  # variety "high": the first pair's relation said as a relative clause in the overview
JOIN_SHARE = 0.3  # variety "high": a relation/position sentence coordinated with the one before it
PRONOUN_SHARE = 0.6  # variety "high": a repeated subject said as a pronoun

OPENERS = ("prefix", "exist", "see", "depicted", "fragment", "statement")
CAPTION_OPENERS = OPENERS[:5]
LOW_OPENERS = ("prefix", "exist", "see")  # the first templates' openers
VARIETIES = ("low", "high")
REGISTERS = ("caption", "translation")
RELATION_WORDS = ("left_of", "right_of", "above", "below", "next_to")
# the cells of a 3x3 grid, row by row
POSITIONS = ("top_left", "top", "top_right", "left", "centre", "right",
             "bottom_left", "bottom", "bottom_right")
_INVERSE = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}
# "next to" only for neighbouring cells whose centres are this close (fraction of the image side)
NEXT_TO_DISTANCE = 0.45


@dataclass(frozen=True, slots=True)
class Mention:
    """One noun phrase: `count` look-alike objects, naming their size and colour or not.

    `known`: the group was named earlier in this text, so the language refers back to it (definite article,
    demonstrative, "both", word order) instead of introducing it. `pronoun`: this subject repeats the
    previous sentence's subject and is said as the language's pronoun (only on form-0 relation and
    position sentences, and only with `known`).
    """

    shape: str
    colour: str
    shade: str
    size: str
    count: int = 1
    name_size: bool = True
    name_colour: bool = True
    known: bool = False
    pronoun: bool = False


@dataclass(frozen=True, slots=True)
class RelationSentence:
    subject: Mention
    relation: str  # one of RELATION_WORDS: "subject is <relation> object"
    object: Mention
    form: int = 0  # skeleton, < FORMS[RelationSentence]: plain, locative inversion, other verb/perspective
    joined: bool = False  # coordinated with the sentence before it into one sentence


@dataclass(frozen=True, slots=True)
class PositionSentence:
    subject: Mention
    positions: tuple[str, ...]  # one of POSITIONS per object of the group, in reading order
    form: int = 0  # plain, inversion ("At the top is …"), "… can be seen at the top"
    joined: bool = False


@dataclass(frozen=True, slots=True)
class CountSentence:
    total: int  # objects in the scene
    form: int = 0  # "There are …", "In total the image contains …", "The picture has … altogether"
    joined: bool = False  # never set: only relation/position sentences are coordinated


@dataclass(frozen=True, slots=True)
class BackgroundSentence:
    background: str  # one of scene.BACKGROUNDS
    form: int = 0  # "The background is …", "Everything is on a … background", "… against a … background"
    joined: bool = False  # never set


Sentence = RelationSentence | PositionSentence | CountSentence | BackgroundSentence
# how many skeletons each kind of sentence has in every language
FORMS = {RelationSentence: 3, PositionSentence: 3, CountSentence: 3, BackgroundSentence: 3}


@dataclass(frozen=True, slots=True)
class Description:
    """What one text says, before it is put into words; realise() turns it into any language."""

    detail: str  # one of DETAIL_LEVELS
    mentions: tuple[Mention, ...]  # the overview names these, in this order (opener "statement": none)
    opener: str = "prefix"  # one of OPENERS; "prefix" opens with the language's caption prefix phrase
    background: str | None = None  # said in the overview ("on a beige background") when set
    sentences: tuple[Sentence, ...] = ()  # the sentences after the overview
    plain_blue: bool = False  # English says "blue" without its shade
    relative: str | None = None  # one of RELATION_WORDS: "mentions[0] that is <relative> mentions[1]"

    @property
    def prefix(self) -> bool:
        return self.opener == "prefix"


def plan_description(scene: Scene, detail: str, rng: np.random.Generator | None,
                     prefix: bool | None = None, *, plain_blue: bool | None = None, variety: str = "high",
                     register: str = "caption") -> Description:
    """A random content plan of a `detail`-level text about `scene`.

    `prefix`: None opens a share PREFIX_SHARE of captions with the caption prefix, True always, False never
    (the translation register never does). `plain_blue`: None says "blue" without its shade at random where
    the scene allows it, True wherever the scene has a blue object, False never. `variety`: "low" keeps the
    first templates, "high" varies forms, order, joins and references. `register`: "caption" opens with an
    overview of every group; "translation" states facts with no overview, as bitext does.
    """
    for name, value, valid in (("detail", detail, DETAIL_LEVELS), ("variety", variety, VARIETIES),
                               ("register", register, REGISTERS)):
        if value not in valid:
            raise ValueError(f"{name} {value!r} is not one of {', '.join(valid)}")
    if register == "translation" and prefix:
        raise ValueError("prefix=True asks for a caption opener, which the translation register never has; "
                         "pass prefix=None or register='caption'")
    choices = Choices(rng)
    high = variety == "high"
    groups = _shuffled(list(scene.groups()), choices)
    opener = _opener(register, high, prefix, choices)
    say_plain_blue = _plain_blue_choice(groups, choices, plain_blue)
    mentions = tuple(_mention(group.prototype, group.count) for group in groups)
    stated = _stated_relations(scene, groups)
    relative = None
    if high and opener != "statement" and (0, 1) in stated and choices.chance(RELATIVE_SHARE):
        relative = _said_relation(scene, groups, 0, 1, stated[0, 1], choices)
        del stated[0, 1]
    if detail == "short" and opener != "statement":
        return Description(detail, mentions, opener, plain_blue=say_plain_blue, relative=relative)

    references = list(mentions)
    if choices.chance(MINIMAL_REFERENCE_SHARE):
        english_looks = [_english_look(group.prototype, say_plain_blue) for group in groups]
        references = [_reference(index, english_looks, mention) for index, mention in enumerate(mentions)]
    relations = _relation_sentences(scene, groups, stated, choices)
    positions = _position_sentences(scene, groups, choices)
    background = None
    overview = opener != "statement"
    if detail == "short":  # a statement of one sentence: a relation of two groups or where each group is
        sentences = relations[:1] if len(groups) == 2 and relations and choices.chance(0.5) else positions
    elif detail == "detailed":
        wanted = 1 + choices.index(2) + (not overview)  # two or three sentences in all
        sentences = relations[:wanted]
        if len(sentences) < wanted:  # positions where the relations run out
            sentences += positions[:wanted - len(sentences)]
        if overview and choices.chance(BACKGROUND_IN_DETAILED_SHARE):
            background = scene.background
    else:
        sentences = relations[:2] + positions[:2] + [CountSentence(len(scene.objects))]
        # a paragraph has at least four sentences: the background gets its own when they are short
        if overview and len(sentences) >= 3 and choices.chance(BACKGROUND_IN_FIRST_SENTENCE_SHARE):
            background = scene.background
        else:
            sentences.append(BackgroundSentence(scene.background))
    if not overview:  # every group is named once at least: where it is, for those no sentence names
        named = {_group_of(s.subject, groups) for s in sentences if isinstance(s, _NAMING)}
        named |= {_group_of(s.object, groups) for s in sentences if isinstance(s, RelationSentence)}
        sentences += [s for s in positions if _group_of(s.subject, groups) not in named]
        if detail == "detailed" and len(sentences) < 2:  # one group, no relation: its background too
            sentences.append(BackgroundSentence(scene.background))
    if high:
        sentences = _ordered(sentences, overview, choices)
        sentences = [_with_form(s, choices) for s in sentences]
    # written sentences, the overview included; a statement paragraph may have three
    fewest, most = {"short": (1, 1), "detailed": (2, 3), "paragraph": (4 - (not overview), 99)}[detail]
    sentences = _joined(sentences, choices, fewest - overview, most - overview, high)
    definite = choices.chance(DEFINITE_SHARE) if overview and not high else None
    sentences = _referred(sentences, groups, references, overview, definite, high, choices)
    return Description(detail, mentions, opener, background, tuple(sentences), say_plain_blue, relative)


def position_of(obj: SceneObject) -> str:
    """The cell of the 3x3 grid the object's centre lies in, as one of POSITIONS."""
    return POSITIONS[_cell(obj)]


_NAMING = (RelationSentence, PositionSentence)  # the sentences that name groups


def _cell(obj: SceneObject) -> int:
    return 3 * min(max(int(obj.y * 3), 0), 2) + min(max(int(obj.x * 3), 0), 2)


def _shuffled(items: list, choices: Choices) -> list:
    for last in range(len(items) - 1, 0, -1):  # Fisher-Yates
        other = choices.index(last + 1)
        items[last], items[other] = items[other], items[last]
    return items


def _opener(register: str, high: bool, prefix: bool | None, choices: Choices) -> str:
    if register == "translation":
        return "statement"
    opens_with_prefix = choices.chance(PREFIX_SHARE) if prefix is None else prefix
    if opens_with_prefix:
        return "prefix"
    return choices.pick((CAPTION_OPENERS if high else LOW_OPENERS)[1:])


def _mention(obj: SceneObject, count: int) -> Mention:
    return Mention(obj.shape, obj.colour, obj.shade, obj.size, count)


def _english_look(obj: SceneObject, plain_blue: bool) -> tuple[str, str, str, str]:
    """(shape, colour, shade, size) as English names them: homonyms alike, "blue" plain where chosen."""
    shade = "plain" if plain_blue and obj.colour == "blue" else obj.shade
    return english_shape(obj.shape), obj.colour, shade, obj.size


def _plain_blue_choice(groups: list[Group], choices: Choices, plain_blue: bool | None) -> bool:
    """Whether English says plain "blue", only where it still names as many groups apart as with shades."""
    if not any(group.prototype.colour == "blue" for group in groups):
        return False
    say = choices.chance(PLAIN_BLUE_SHARE) if plain_blue is None else plain_blue
    if not say:
        return False
    distinct = len({_english_look(group.prototype, False) for group in groups})
    if len({_english_look(group.prototype, True) for group in groups}) == distinct:
        return True
    if plain_blue is None:
        return False  # a random choice that would merge two groups in English is dropped
    raise ValueError("plain_blue forced, but English would then name two different groups of this scene "
                     "alike; pass None to let the planner decide")


def _reference(index: int, english_looks: list[tuple[str, str, str, str]], mention: Mention) -> Mention:
    """`mention` naming only the attributes needed to tell its group from the others in English."""
    for name_size, name_colour in ((False, False), (False, True), (True, False)):
        named = [_named(look, name_size, name_colour) for look in english_looks]
        if named.count(named[index]) == 1:
            return replace(mention, name_size=name_size, name_colour=name_colour)
    return mention


def _named(look: tuple[str, str, str, str], name_size: bool, name_colour: bool) -> tuple[str, ...]:
    shape, colour, shade, size = look
    return shape, *((colour, shade) if name_colour else ()), *((size,) if name_size else ())


def _stated_relations(scene: Scene, groups: list[Group]) -> dict[tuple[int, int], str]:
    """(a, b) -> relation for group pairs a < b whose every member pair stands in the same relation."""
    stated = {}
    for relation in scene.relations:
        stated[relation.subject, relation.object] = relation.relation
        stated[relation.object, relation.subject] = _INVERSE[relation.relation]
    pairs = {}
    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            kinds = {stated.get((i, j)) for i in groups[a].indices for j in groups[b].indices}
            if len(kinds) == 1 and None not in kinds:
                pairs[a, b] = kinds.pop()
    return pairs


def _adjacent(scene: Scene, a: Group, b: Group) -> bool:
    """Every object of `a` in a cell neighbouring every object of `b`, centres close: fit for "next to"."""
    for i in a.indices:
        for j in b.indices:
            p, q = scene.objects[i], scene.objects[j]
            rows, columns = divmod(_cell(p), 3), divmod(_cell(q), 3)
            if max(abs(rows[0] - columns[0]), abs(rows[1] - columns[1])) != 1:
                return False
            if np.hypot(p.x - q.x, p.y - q.y) >= NEXT_TO_DISTANCE:
                return False
    return True


def _said_relation(scene: Scene, groups: list[Group], a: int, b: int, relation: str, choices: Choices) -> str:
    """`relation` of group a to b, or "next to" for a share of adjacent left/right pairs."""
    if relation in ("left_of", "right_of") and _adjacent(scene, groups[a], groups[b]) \
            and choices.chance(NEXT_TO_SHARE):
        return "next_to"
    return relation


def _relation_sentences(scene: Scene, groups: list[Group], stated: dict[tuple[int, int], str],
                        choices: Choices) -> list[Sentence]:
    """One sentence per pair of groups in `stated`, either way round, shuffled."""
    sentences: list[Sentence] = []
    for (a, b), relation in stated.items():
        subject, obj = (a, b) if choices.index(2) == 0 else (b, a)
        if subject != a:
            relation = _INVERSE[relation]
        relation = _said_relation(scene, groups, subject, obj, relation, choices)
        sentences.append(RelationSentence(_full(groups[subject]), relation, _full(groups[obj])))
    return _shuffled(sentences, choices)


def _position_sentences(scene: Scene, groups: list[Group], choices: Choices) -> list[Sentence]:
    """Where each group's objects are, one sentence per group, shuffled."""
    sentences: list[Sentence] = []
    for group in groups:
        cells = sorted({_cell(scene.objects[i]) for i in group.indices})
        sentences.append(PositionSentence(_full(group), tuple(POSITIONS[cell] for cell in cells)))
    return _shuffled(sentences, choices)


def _full(group: Group) -> Mention:
    return _mention(group.prototype, group.count)


def _group_of(mention: Mention, groups: list[Group]) -> int:
    look = (mention.shape, mention.colour, mention.shade, mention.size)
    return next(index for index, group in enumerate(groups) if look == (
        group.prototype.shape, group.prototype.colour, group.prototype.shade, group.prototype.size))


def _ordered(sentences: list[Sentence], overview: bool, choices: Choices) -> list[Sentence]:
    """Relations and positions in one of three orders; count and background anywhere after the overview
    (without one, after the first sentence, which introduces a group)."""
    naming = [s for s in sentences if isinstance(s, _NAMING)]
    others = [s for s in sentences if not isinstance(s, _NAMING)]
    order = choices.index(3)
    if order == 1:  # positions first
        naming = [s for s in naming if isinstance(s, PositionSentence)] + \
                 [s for s in naming if isinstance(s, RelationSentence)]
    elif order == 2:
        naming = _shuffled(naming, choices)
    for sentence in _shuffled(others, choices):
        place = choices.index(len(naming) + 1) if overview else 1 + choices.index(len(naming))
        naming.insert(place, sentence)
    return naming


def _with_form(sentence: Sentence, choices: Choices) -> Sentence:
    return replace(sentence, form=choices.index(FORMS[type(sentence)]))


def _joined(sentences: list[Sentence], choices: Choices, fewest: int, most: int,
            high: bool) -> list[Sentence]:
    """Coordinate neighbouring relation/position sentences: as many as needed to keep to `most` sentences,
    and (variety high) a share more, never two in a row by chance, never below `fewest`."""
    joined = [False] * len(sentences)
    joinable = [i for i in range(1, len(sentences))
                if isinstance(sentences[i - 1], _NAMING) and isinstance(sentences[i], _NAMING)]
    count = len(sentences)
    for i in joinable:
        if count <= most:
            break
        joined[i], count = True, count - 1
    if high:
        for i in joinable:
            if count > fewest and not joined[i] and not joined[i - 1] and choices.chance(JOIN_SHARE):
                joined[i], count = True, count - 1
    return [replace(s, joined=True) if join else s for s, join in zip(sentences, joined)]


def _referred(sentences: list[Sentence], groups: list[Group], references: list[Mention], overview: bool,
              definite: bool | None, high: bool, choices: Choices) -> list[Sentence]:
    """Mentions known or new by discourse: after the overview every group is known (variety low: all known
    or all restated, `definite`); without it a group is new in the first sentence naming it. Known mentions
    name what tells them apart; a form-0 subject repeating the last subject is (variety high) a pronoun."""
    introduced = set(range(len(groups))) if overview else set()
    previous_subject = None
    result = []
    for sentence in sentences:
        if not isinstance(sentence, _NAMING):
            result.append(sentence)
            previous_subject = None
            continue
        indices = [_group_of(sentence.subject, groups)]
        if isinstance(sentence, RelationSentence):
            indices.append(_group_of(sentence.object, groups))
        if definite is not None:  # variety low after an overview: all refer back, or all restate
            said = [replace(references[index], known=definite) for index in indices]
        else:
            said = [replace(references[index], known=True) if index in introduced else _full(groups[index])
                    for index in indices]
        if high and said[0].known and sentence.form == 0 and indices[0] == previous_subject \
                and choices.chance(PRONOUN_SHARE):
            said[0] = replace(said[0], pronoun=True)
        introduced |= set(indices)
        previous_subject = indices[0]
        if isinstance(sentence, RelationSentence):
            result.append(replace(sentence, subject=said[0], object=said[1]))
        else:
            result.append(replace(sentence, subject=said[0]))
    return result
