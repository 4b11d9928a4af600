"""German: three genders, article and adjective declension by case, dative after every spatial preposition.

"Das Bild zeigt" and "Man sieht" take the accusative ("einen roten Kreis"), "Auf dem Bild ist/sind" the
nominative; "links von", "rechts von", "über", "unter", "neben" (location) take the dative, with "von dem"
contracted to "vom". Adjectives decline weak after der/die/das, mixed after ein, strong after a bare
numeral; a definite two is "die beiden". Orange and purple are the declinable "orangefarben" and "violett".
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

SEPARATOR = " "
_MASCULINE, _FEMININE, _NEUTER, _PLURAL = 0, 1, 2, 3
_NOUNS = {  # gender, singular, dative singular, plural, dative plural
    "circle": (_MASCULINE, "Kreis", "Kreis", "Kreise", "Kreisen"),
    "square": (_NEUTER, "Quadrat", "Quadrat", "Quadrate", "Quadraten"),
    "rectangle": (_NEUTER, "Rechteck", "Rechteck", "Rechtecke", "Rechtecken"),
    "triangle": (_NEUTER, "Dreieck", "Dreieck", "Dreiecke", "Dreiecken"),
    "star": (_MASCULINE, "Stern", "Stern", "Sterne", "Sternen"),
    "heart": (_NEUTER, "Herz", "Herzen", "Herzen", "Herzen"),  # "dem Herzen": Herz keeps its old dative
    "diamond": (_FEMININE, "Raute", "Raute", "Rauten", "Rauten"),
}
_COLOURS = {"red": "rot", "green": "grün", "blue": "blau", "yellow": "gelb", "purple": "violett",
            "orange": "orangefarben", "grey": "grau"}
_SHADES = {"plain": "", "light": "hell", "dark": "dunkel"}
_SIZES = {"small": "klein", "big": "groß"}
_NUMBERS = ("null", "ein", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn")
# articles and adjective endings by case, indexed by gender (masculine, feminine, neuter, plural)
_DEFINITE = {"nom": ("der", "die", "das", "die"), "acc": ("den", "die", "das", "die"),
             "dat": ("dem", "der", "dem", "den")}
_INDEFINITE = {"nom": ("ein", "eine", "ein"), "acc": ("einen", "eine", "ein"),
               "dat": ("einem", "einer", "einem")}
_WEAK = {"nom": ("e", "e", "e", "en"), "acc": ("en", "e", "e", "en"), "dat": ("en", "en", "en", "en")}
_MIXED = {"nom": ("er", "e", "es"), "acc": ("en", "e", "es"), "dat": ("en", "en", "en")}
_STRONG_PLURAL = {"nom": "e", "acc": "e", "dat": "en"}
_RELATIONS = {"left_of": "links von", "right_of": "rechts von", "above": "über", "below": "unter",
              "next_to": "neben"}
_POSITIONS = {
    "top_left": "in der oberen linken Ecke", "top": "oben", "top_right": "in der oberen rechten Ecke",
    "left": "links", "centre": "in der Mitte", "right": "rechts",
    "bottom_left": "in der unteren linken Ecke", "bottom": "unten",
    "bottom_right": "in der unteren rechten Ecke",
}
_BACKGROUNDS = {"white": "weiß", "beige": "beige", "black": "schwarz"}  # predicative
_BACKGROUND_PHRASES = {"white": "vor weißem Hintergrund", "beige": "vor beigem Hintergrund",
                       "black": "vor schwarzem Hintergrund"}


class _Style(NamedTuple):
    definite: bool
    plain_blue: bool
    is_located: tuple[str, str]  # singular, plural
    exist: str
    see: str


def style(description: Description, choices: Choices) -> _Style:
    return _Style(description.definite, description.plain_blue,
                  is_located=choices.pick((("ist", "sind"), ("befindet sich", "befinden sich"))),
                  exist=choices.pick(("Auf dem Bild", "Zu sehen")),
                  see=choices.pick(("Man sieht", "Wir sehen")))


def _noun_phrase(mention: Mention, case: str, definite: bool, style: _Style) -> str:
    gender, singular, singular_dative, plural, plural_dative = _NOUNS[mention.shape]
    if mention.count == 1:
        determiner = (_DEFINITE if definite else _INDEFINITE)[case][gender]
        ending = (_WEAK if definite else _MIXED)[case][gender]
        noun = singular_dative if case == "dat" else singular
    else:
        number = "beiden" if definite and mention.count == 2 else _NUMBERS[mention.count]
        determiner = f"{_DEFINITE[case][_PLURAL]} {number}" if definite else number
        ending = _WEAK[case][_PLURAL] if definite else _STRONG_PLURAL[case]
        noun = plural_dative if case == "dat" else plural
    words = [determiner]
    if mention.name_size:
        words.append(_SIZES[mention.size] + ending)
    if mention.name_colour:
        shade = said_shade(mention.colour, mention.shade, style.plain_blue)
        words.append(_SHADES[shade] + _COLOURS[mention.colour] + ending)
    words.append(noun)
    return " ".join(words)


def _located(mention: Mention, style: _Style) -> str:
    return style.is_located[mention.count > 1]


def overview(description: Description, style: _Style) -> str:
    case = "nom" if description.opener == "exist" else "acc"
    objects = join_list([_noun_phrase(m, case, False, style) for m in description.mentions], " und ")
    if description.background:
        objects += " " + _BACKGROUND_PHRASES[description.background]
    if description.opener == "prefix":
        return f"{CAPTION_PREFIXES['de']} {objects}."
    if description.opener == "exist":
        several = len(description.mentions) > 1 or description.mentions[0].count > 1
        return f"{style.exist} {'sind' if several else 'ist'} {objects}."
    return f"{style.see} {objects}."


def relation(sentence: RelationSentence, style: _Style) -> str:
    preposition = _RELATIONS[sentence.relation]
    anchor = _noun_phrase(sentence.object, "dat", style.definite, style)
    if preposition.endswith("von") and anchor.startswith("dem "):
        preposition, anchor = preposition[:-3] + "vom", anchor[4:]
    place = f"{preposition} {anchor}"
    subject = _noun_phrase(sentence.subject, "nom", style.definite, style)
    verb = _located(sentence.subject, style)
    # a known subject comes first; a new one follows the place ("Links vom Kreis ist ein Stern")
    return capitalise(f"{subject} {verb} {place}." if style.definite else f"{place} {verb} {subject}.")


def position(sentence: PositionSentence, style: _Style) -> str:
    place = join_list([_POSITIONS[p] for p in sentence.positions], " und ")
    subject = _noun_phrase(sentence.subject, "nom", style.definite, style)
    verb = _located(sentence.subject, style)
    return capitalise(f"{subject} {verb} {place}." if style.definite else f"{place} {verb} {subject}.")


def count(sentence: CountSentence, style: _Style) -> str:
    if sentence.total == 1:
        return "Es ist nur ein Objekt zu sehen."
    return f"Insgesamt sind es {_NUMBERS[sentence.total]} Objekte."


def background(sentence: BackgroundSentence, style: _Style) -> str:
    return f"Der Hintergrund ist {_BACKGROUNDS[sentence.background]}."
