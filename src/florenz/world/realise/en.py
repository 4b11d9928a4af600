"""English: "a"/"an", plurals, size before colour ("two big red squares"), hyphenated shades ("light-blue").

English alone may say plain "blue" and "box" for squares and rectangles (the plan decides): the source
side of the world's two ambiguities.
"""

from __future__ import annotations

from typing import NamedTuple

from florenz.world.languages import CAPTION_PREFIXES
from florenz.world.realise.common import Choices, capitalise, join_list, said_shade
from florenz.world.realise.plan import (
    BackgroundSentence,
    CountSentence,
    Description,
    Mention,
    PositionSentence,
    RelationSentence,
)
from florenz.world.scene import AMBIGUOUS_BOX_SHAPES

SEPARATOR = " "
_NOUNS = {  # singular, plural
    "circle": ("circle", "circles"),
    "square": ("square", "squares"),
    "rectangle": ("rectangle", "rectangles"),
    "triangle": ("triangle", "triangles"),
    "star": ("star", "stars"),
    "heart": ("heart", "hearts"),
    "diamond": ("diamond", "diamonds"),
    "box": ("box", "boxes"),
}
_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_RELATIONS = {"left_of": "to the left of", "right_of": "to the right of", "above": "above", "below": "below",
              "next_to": "next to"}
_POSITIONS = {
    "top_left": "in the top left corner", "top": "at the top", "top_right": "in the top right corner",
    "left": "on the left", "right": "on the right",
    "bottom_left": "in the bottom left corner", "bottom": "at the bottom",
    "bottom_right": "in the bottom right corner",
}


class _Style(NamedTuple):
    """Surface choices of one text: the plan's English-only flags and this text's synonyms."""

    definite: bool
    plain_blue: bool
    box: bool
    small: str
    big: str
    centre: str
    see: str


def style(description: Description, choices: Choices) -> _Style:
    return _Style(description.definite, description.plain_blue, description.box,
                  small=choices.pick(("small", "little")), big=choices.pick(("big", "large")),
                  centre=choices.pick(("in the centre", "in the middle")),
                  see=choices.pick(("We see", "We can see")))


def _noun_phrase(mention: Mention, definite: bool, style: _Style) -> str:
    shape = "box" if style.box and mention.shape in AMBIGUOUS_BOX_SHAPES else mention.shape
    words = []
    if mention.name_size:
        words.append(style.big if mention.size == "big" else style.small)
    if mention.name_colour:
        shade = said_shade(mention.colour, mention.shade, style.plain_blue)
        words.append(mention.colour if shade == "plain" else f"{shade}-{mention.colour}")
    words.append(_NOUNS[shape][mention.count > 1])
    head = " ".join(words)
    if mention.count > 1:
        number = _NUMBERS[mention.count]
        return f"the {number} {head}" if definite else f"{number} {head}"
    if definite:
        return f"the {head}"
    return f"an {head}" if head[0] in "aeiou" else f"a {head}"


def _be(mention: Mention) -> str:
    return "is" if mention.count == 1 else "are"


def overview(description: Description, style: _Style) -> str:
    objects = join_list([_noun_phrase(m, False, style) for m in description.mentions], " and ")
    if description.background:
        objects += f" on a {description.background} background"
    if description.opener == "prefix":
        return f"{CAPTION_PREFIXES['en']} {objects}."
    if description.opener == "exist":
        return f"There {_be(description.mentions[0])} {objects}."  # agrees with the nearest noun phrase
    return f"{style.see} {objects}."


def relation(sentence: RelationSentence, style: _Style) -> str:
    subject = _noun_phrase(sentence.subject, style.definite, style)
    obj = _noun_phrase(sentence.object, style.definite, style)
    return capitalise(f"{subject} {_be(sentence.subject)} {_RELATIONS[sentence.relation]} {obj}.")


def position(sentence: PositionSentence, style: _Style) -> str:
    subject = _noun_phrase(sentence.subject, style.definite, style)
    places = join_list([style.centre if p == "centre" else _POSITIONS[p] for p in sentence.positions],
                       " and ")
    return capitalise(f"{subject} {_be(sentence.subject)} {places}.")


def count(sentence: CountSentence, style: _Style) -> str:
    if sentence.total == 1:
        return "There is only one object."
    return f"There are {_NUMBERS[sentence.total]} objects in total."


def background(sentence: BackgroundSentence, style: _Style) -> str:
    return f"The background is {sentence.background}."
