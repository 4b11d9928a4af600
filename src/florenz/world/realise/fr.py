"""French: gender and number agreement, "petit"/"grand" before the noun and colours after it.

Compound colours are invariable ("des étoiles bleu clair"), "orange" never agrees, "le"/"la" elide before
a vowel ("l'étoile"), and "de" contracts with the article ("à gauche du cercle", "des", "d'une").
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
_NOUNS = {  # feminine, singular, plural
    "circle": (False, "cercle", "cercles"),
    "square": (False, "carré", "carrés"),
    "rectangle": (False, "rectangle", "rectangles"),
    "triangle": (False, "triangle", "triangles"),
    "star": (True, "étoile", "étoiles"),
    "heart": (False, "cœur", "cœurs"),
    "diamond": (False, "losange", "losanges"),
}
# adjective forms: masculine singular, feminine singular, masculine plural, feminine plural
_COLOURS = {
    "red": ("rouge", "rouge", "rouges", "rouges"),
    "green": ("vert", "verte", "verts", "vertes"),
    "blue": ("bleu", "bleue", "bleus", "bleues"),
    "yellow": ("jaune", "jaune", "jaunes", "jaunes"),
    "purple": ("violet", "violette", "violets", "violettes"),
    "orange": ("orange", "orange", "orange", "orange"),
    "grey": ("gris", "grise", "gris", "grises"),
}
_SHADES = {"light": "clair", "dark": "foncé"}
_SIZES = {"small": ("petit", "petite", "petits", "petites"), "big": ("grand", "grande", "grands", "grandes")}
_NUMBERS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix")
_VOWELS = "aeiouéèêâîô"
_RELATIONS = {"left_of": "à gauche", "right_of": "à droite", "above": "au-dessus", "below": "au-dessous",
              "next_to": "à côté"}  # each followed by "de"
_POSITIONS = {
    "top_left": "dans le coin supérieur gauche", "top": "en haut",
    "top_right": "dans le coin supérieur droit",
    "left": "à gauche", "right": "à droite",
    "bottom_left": "dans le coin inférieur gauche", "bottom": "en bas",
    "bottom_right": "dans le coin inférieur droit",
}
_BACKGROUNDS = {"white": "blanc", "beige": "beige", "black": "noir"}


class _Style(NamedTuple):
    definite: bool
    plain_blue: bool
    is_located: tuple[str, str]  # singular, plural
    centre: str
    exist: str


def style(description: Description, choices: Choices) -> _Style:
    return _Style(description.definite, description.plain_blue,
                  is_located=choices.pick((("est", "sont"), ("se trouve", "se trouvent"))),
                  centre=choices.pick(("au centre", "au milieu")),
                  exist=choices.pick(("Il y a", "Sur la photo, il y a")))


def _noun_phrase(mention: Mention, definite: bool, style: _Style) -> str:
    feminine, singular, plural = _NOUNS[mention.shape]
    form = feminine + 2 * (mention.count > 1)
    words = []
    if mention.name_size:
        words.append(_SIZES[mention.size][form])
    words.append(plural if mention.count > 1 else singular)
    if mention.name_colour:
        shade = said_shade(mention.colour, mention.shade, style.plain_blue)
        colour = _COLOURS[mention.colour]
        words.append(colour[form] if shade == "plain" else f"{colour[0]} {_SHADES[shade]}")
    head = " ".join(words)
    if mention.count > 1:
        number = _NUMBERS[mention.count]
        return f"les {number} {head}" if definite else f"{number} {head}"
    if not definite:
        return f"{'une' if feminine else 'un'} {head}"
    if head[0] in _VOWELS:
        return f"l'{head}"
    return f"{'la' if feminine else 'le'} {head}"


def _of(noun_phrase: str) -> str:
    """`noun_phrase` after "de": "du cercle", "des étoiles", "de la", "de l'étoile", "d'un", "de deux"."""
    if noun_phrase.startswith("le "):
        return "du " + noun_phrase[3:]
    if noun_phrase.startswith("les "):
        return "des " + noun_phrase[4:]
    if noun_phrase[0] in _VOWELS:
        return "d'" + noun_phrase
    return "de " + noun_phrase


def overview(description: Description, style: _Style) -> str:
    objects = join_list([_noun_phrase(m, False, style) for m in description.mentions], " et ")
    if description.background:
        objects += f" sur fond {_BACKGROUNDS[description.background]}"
    opening = {"prefix": CAPTION_PREFIXES["fr"], "exist": style.exist, "see": "On voit"}[description.opener]
    return f"{opening} {objects}."


def relation(sentence: RelationSentence, style: _Style) -> str:
    subject = _noun_phrase(sentence.subject, style.definite, style)
    anchor = _of(_noun_phrase(sentence.object, style.definite, style))
    verb = style.is_located[sentence.subject.count > 1]
    return capitalise(f"{subject} {verb} {_RELATIONS[sentence.relation]} {anchor}.")


def position(sentence: PositionSentence, style: _Style) -> str:
    subject = _noun_phrase(sentence.subject, style.definite, style)
    places = join_list([style.centre if p == "centre" else _POSITIONS[p] for p in sentence.positions], " et ")
    verb = style.is_located[sentence.subject.count > 1]
    return capitalise(f"{subject} {verb} {places}.")


def count(sentence: CountSentence, style: _Style) -> str:
    if sentence.total == 1:
        return "Il n'y a qu'un seul objet."
    return f"Il y a {_NUMBERS[sentence.total]} objets au total."


def background(sentence: BackgroundSentence, style: _Style) -> str:
    return f"Le fond est {_BACKGROUNDS[sentence.background]}."
