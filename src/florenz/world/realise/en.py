"""English: "a"/"an", plurals, size before colour ("two big red squares"), hyphenated shades ("light-blue").

English alone may say plain "blue" (the plan decides) and names both senses of bow, bat, key and nut alike:
the source side of the world's ambiguities. Locative inversion puts the subject last ("To the left of the
circle is a star"), so a new subject can follow what is known.
"""

from __future__ import annotations

from typing import NamedTuple

from florenz.world.languages import CAPTION_PREFIXES
from florenz.world.realise.common import Choices, coordinated, join_list, said_shade
from florenz.world.realise.plan import (
    BackgroundSentence,
    CountSentence,
    Description,
    Mention,
    PositionSentence,
    RelationSentence,
)
from florenz.world.scene import english_shape

SEPARATOR = " "
_NOUNS = {  # singular, plural
    "circle": ("circle", "circles"),
    "square": ("square", "squares"),
    "rectangle": ("rectangle", "rectangles"),
    "triangle": ("triangle", "triangles"),
    "star": ("star", "stars"),
    "heart": ("heart", "hearts"),
    "diamond": ("diamond", "diamonds"),
    "bow": ("bow", "bows"),
    "bat": ("bat", "bats"),
    "key": ("key", "keys"),
    "nut": ("nut", "nuts"),
}
_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "grey")
_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_RELATIONS = {"left_of": "to the left of", "right_of": "to the right of", "above": "above", "below": "below",
              "next_to": "next to"}
# "the circle has the star <relation>": the relation seen from the object, singular and plural object
_HAS_RELATIONS = {"left_of": ("to its left", "to their left"), "right_of": ("to its right", "to their right"),
                  "above": ("above it", "above them"), "below": ("below it", "below them"),
                  "next_to": ("next to it", "next to them")}
_POSITIONS = {
    "top_left": "in the top left corner", "top": "at the top", "top_right": "in the top right corner",
    "left": "on the left", "right": "on the right",
    "bottom_left": "in the bottom left corner", "bottom": "at the bottom",
    "bottom_right": "in the bottom right corner",
}
_CENTRES = ("in the centre", "in the middle")
_SMALL, _BIG = ("small", "little"), ("big", "large")
_BACKGROUNDS = ("white", "beige", "black")
# every surface form of a content word or phrase, by class (skeletons.py masks them)
CONTENT_WORDS = {
    **{form: "SHAPE" for forms in _NOUNS.values() for form in forms},
    **{colour: "COLOUR" for colour in _COLOURS}, "light": "SHADE", "dark": "SHADE",
    **{size: "SIZE" for size in _SMALL + _BIG},
    **{number: "NUMBER" for number in _NUMBERS[1:9]},
    **{phrase: "RELATION" for phrase in _RELATIONS.values()},
    **{phrase: "RELATION" for phrases in _HAS_RELATIONS.values() for phrase in phrases},
    **{phrase: "POSITION" for phrase in (*_POSITIONS.values(), *_CENTRES)},
    **{background: "BACKGROUND" for background in _BACKGROUNDS},
}


class _Style(NamedTuple):
    """Surface choices of one text: the plan's English-only flag and this text's synonyms."""

    plain_blue: bool
    small: str
    big: str
    centre: str
    see: str
    both: str  # a known pair: "the two stars" or "both stars"


def style(description: Description, choices: Choices) -> _Style:
    return _Style(description.plain_blue, small=choices.pick(_SMALL), big=choices.pick(_BIG),
                  centre=choices.pick(_CENTRES), see=choices.pick(("we see", "we can see")),
                  both=choices.pick(("the two", "both")))


def _noun_phrase(mention: Mention, style: _Style) -> str:
    if mention.pronoun:
        return "they" if mention.count > 1 else "it"
    words = []
    if mention.name_size:
        words.append(style.big if mention.size == "big" else style.small)
    if mention.name_colour:
        shade = said_shade(mention.colour, mention.shade, style.plain_blue)
        words.append(mention.colour if shade == "plain" else f"{shade}-{mention.colour}")
    words.append(_NOUNS[english_shape(mention.shape)][mention.count > 1])
    head = " ".join(words)
    if mention.count > 1:
        if not mention.known:
            return f"{_NUMBERS[mention.count]} {head}"
        return f"{style.both} {head}" if mention.count == 2 else f"the {_NUMBERS[mention.count]} {head}"
    if mention.known:
        return f"the {head}"
    return f"an {head}" if head[0] in "aeiou" else f"a {head}"


def _be(mention: Mention) -> str:
    return "is" if mention.count == 1 else "are"


def sentence(clauses: list[str], style: _Style) -> str:
    # semicolons between clauses that hold lists with commas ("A is here; B is there, and C …")
    return coordinated(clauses, ", and ", ".", separator="; ")


def overview(description: Description, style: _Style) -> str:
    mentions = description.mentions
    phrases = [_noun_phrase(m, style) for m in mentions]
    if description.relative:
        first = f"{phrases[0]} that {_be(mentions[0])} {_RELATIONS[description.relative]} {phrases[1]}"
        objects = first + (f", as well as {join_list(phrases[2:], ' and ')}" if phrases[2:] else "")
    else:
        objects = join_list(phrases, " and ")
    if description.background:
        objects += f"{',' if description.relative else ''} on a {description.background} background"
    several = len(mentions) > 1 or mentions[0].count > 1
    return {
        "prefix": f"{CAPTION_PREFIXES['en']} {objects}",
        "exist": f"there {_be(mentions[0])} {objects}",  # agrees with the nearest noun phrase
        "see": f"{style.see} {objects}",
        "depicted": f"depicted {'are' if several else 'is'} {objects}",
        "fragment": objects,
    }[description.opener]


def relation(sentence: RelationSentence, style: _Style) -> str:
    subject = _noun_phrase(sentence.subject, style)
    obj = _noun_phrase(sentence.object, style)
    where = _RELATIONS[sentence.relation]
    if sentence.form == 1:
        return f"{where} {obj} {_be(sentence.subject)} {subject}"
    if sentence.form == 2:  # seen from the object: "the circle has the star to its left"
        has = "has" if sentence.object.count == 1 else "have"
        return f"{obj} {has} {subject} {_HAS_RELATIONS[sentence.relation][sentence.object.count > 1]}"
    return f"{subject} {_be(sentence.subject)} {where} {obj}"


def position(sentence: PositionSentence, style: _Style) -> str:
    subject = _noun_phrase(sentence.subject, style)
    places = join_list([style.centre if p == "centre" else _POSITIONS[p] for p in sentence.positions],
                       " and ")
    if sentence.form == 1:
        return f"{places} {_be(sentence.subject)} {subject}"
    if sentence.form == 2:
        return f"{subject} can be seen {places}"
    return f"{subject} {_be(sentence.subject)} {places}"


def count(sentence: CountSentence, style: _Style) -> str:
    if sentence.total == 1:
        return ("there is only one object", "the image contains a single object",
                "the picture has just one object")[sentence.form]
    total = _NUMBERS[sentence.total]
    return (f"there are {total} objects in total", f"in total, the image contains {total} objects",
            f"the picture has {total} objects altogether")[sentence.form]


def background(sentence: BackgroundSentence, style: _Style) -> str:
    colour = sentence.background
    return (f"the background is {colour}", f"everything is on a {colour} background",
            f"the scene is set against a {colour} background")[sentence.form]
