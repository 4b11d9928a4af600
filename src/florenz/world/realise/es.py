"""Spanish: gender and number agreement, size before the noun ("un pequeño círculo rojo", "una gran
estrella") and colours after it.

"grande" shortens to "gran" before a singular noun, compound colours are invariable ("estrellas azul
claro"), "de el" contracts to "del", and a new subject follows the place ("A la izquierda de un círculo hay
una estrella") while a known one comes first ("La estrella está a la izquierda del círculo").
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
    "circle": (False, "círculo", "círculos"),
    "square": (False, "cuadrado", "cuadrados"),
    "rectangle": (False, "rectángulo", "rectángulos"),
    "triangle": (False, "triángulo", "triángulos"),
    "star": (True, "estrella", "estrellas"),
    "heart": (False, "corazón", "corazones"),
    "diamond": (False, "rombo", "rombos"),
}
# adjective forms: masculine singular, feminine singular, masculine plural, feminine plural
_COLOURS = {
    "red": ("rojo", "roja", "rojos", "rojas"),
    "green": ("verde", "verde", "verdes", "verdes"),
    "blue": ("azul", "azul", "azules", "azules"),
    "yellow": ("amarillo", "amarilla", "amarillos", "amarillas"),
    "purple": ("morado", "morada", "morados", "moradas"),
    "orange": ("naranja", "naranja", "naranjas", "naranjas"),
    "grey": ("gris", "gris", "grises", "grises"),
}
_SHADES = {"light": "claro", "dark": "oscuro"}
_SIZES = {"small": ("pequeño", "pequeña", "pequeños", "pequeñas"),
          "big": ("gran", "gran", "grandes", "grandes")}  # "gran" before a singular noun
_NUMBERS = ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez")
_RELATIONS = {"left_of": "a la izquierda", "right_of": "a la derecha", "above": "encima", "below": "debajo",
              "next_to": "al lado"}  # each followed by "de"
_POSITIONS = {
    "top_left": "en la esquina superior izquierda", "top": "arriba",
    "top_right": "en la esquina superior derecha", "left": "a la izquierda", "centre": "en el centro",
    "right": "a la derecha", "bottom_left": "en la esquina inferior izquierda", "bottom": "abajo",
    "bottom_right": "en la esquina inferior derecha",
}
_BACKGROUNDS = {"white": "blanco", "beige": "beige", "black": "negro"}


class _Style(NamedTuple):
    definite: bool
    plain_blue: bool
    is_located: tuple[str, str]  # singular, plural
    exist: str


def style(description: Description, choices: Choices) -> _Style:
    return _Style(description.definite, description.plain_blue,
                  is_located=choices.pick((("está", "están"), ("se encuentra", "se encuentran"))),
                  exist=choices.pick(("En la imagen hay", "Hay")))


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
        return f"{'las' if feminine else 'los'} {number} {head}" if definite else f"{number} {head}"
    if definite:
        return f"{'la' if feminine else 'el'} {head}"
    return f"{'una' if feminine else 'un'} {head}"


def _of(noun_phrase: str) -> str:
    """`noun_phrase` after "de", with "de el" contracted to "del"."""
    return "del " + noun_phrase[3:] if noun_phrase.startswith("el ") else "de " + noun_phrase


def overview(description: Description, style: _Style) -> str:
    objects = join_list([_noun_phrase(m, False, style) for m in description.mentions], " y ")
    if description.background:
        objects += f" sobre un fondo {_BACKGROUNDS[description.background]}"
    if description.opener == "prefix":
        return f"{CAPTION_PREFIXES['es']} {objects}."
    if description.opener == "exist":
        return f"{style.exist} {objects}."
    several = len(description.mentions) > 1 or description.mentions[0].count > 1
    return f"En la imagen {'se ven' if several else 'se ve'} {objects}."


def relation(sentence: RelationSentence, style: _Style) -> str:
    subject = _noun_phrase(sentence.subject, style.definite, style)
    place = f"{_RELATIONS[sentence.relation]} {_of(_noun_phrase(sentence.object, style.definite, style))}"
    if style.definite:
        return capitalise(f"{subject} {style.is_located[sentence.subject.count > 1]} {place}.")
    return capitalise(f"{place} hay {subject}.")


def position(sentence: PositionSentence, style: _Style) -> str:
    subject = _noun_phrase(sentence.subject, style.definite, style)
    place = join_list([_POSITIONS[p] for p in sentence.positions], " y ")
    if style.definite:
        return capitalise(f"{subject} {style.is_located[sentence.subject.count > 1]} {place}.")
    return capitalise(f"{place} hay {subject}.")


def count(sentence: CountSentence, style: _Style) -> str:
    if sentence.total == 1:
        return "Solo hay un objeto."
    return f"En total hay {_NUMBERS[sentence.total]} objetos."


def background(sentence: BackgroundSentence, style: _Style) -> str:
    return f"El fondo es {_BACKGROUNDS[sentence.background]}."
