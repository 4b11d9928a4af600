"""German: three genders, article and adjective declension by case, dative after every spatial preposition.

"Das Bild zeigt", "Man sieht" and "Es gibt" take the accusative ("einen roten Kreis"), "Auf dem Bild
ist/sind" and "Abgebildet ist/sind" the nominative; "links von", "rechts von", "über", "unter", "neben"
(location) take the dative, with "von dem" contracted to "vom". Adjectives decline weak after der/die/das,
mixed after ein, strong after a bare numeral; a definite two is "die beiden". Orange and purple are the
declinable "orangefarben" and "violett". German is verb-second: a known subject comes first ("Der Stern ist
oben"), a new one after the place ("Oben ist ein Stern"), and an object can lead ("Den Stern sieht man oben").
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
    "bow_ribbon": (_FEMININE, "Schleife", "Schleife", "Schleifen", "Schleifen"),
    "bow_weapon": (_MASCULINE, "Bogen", "Bogen", "Bögen", "Bögen"),
    "bat_animal": (_FEMININE, "Fledermaus", "Fledermaus", "Fledermäuse", "Fledermäusen"),
    "bat_club": (_MASCULINE, "Schläger", "Schläger", "Schläger", "Schlägern"),
    "key_door": (_MASCULINE, "Schlüssel", "Schlüssel", "Schlüssel", "Schlüsseln"),
    "key_keyboard": (_FEMININE, "Taste", "Taste", "Tasten", "Tasten"),
    "nut_food": (_FEMININE, "Nuss", "Nuss", "Nüsse", "Nüssen"),
    "nut_hardware": (_FEMININE, "Mutter", "Mutter", "Muttern", "Muttern"),
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
_PRONOUNS = ("er", "sie", "es", "sie")  # nominative, by gender
_RELATIVE_PRONOUNS = ("der", "die", "das", "die")  # nominative, by gender
_RELATIONS = {"left_of": "links von", "right_of": "rechts von", "above": "über", "below": "unter",
              "next_to": "neben"}
_POSITIONS = {
    "top_left": "in der oberen linken Ecke", "top": "oben", "top_right": "in der oberen rechten Ecke",
    "left": "links", "centre": "in der Mitte", "right": "rechts",
    "bottom_left": "in der unteren linken Ecke", "bottom": "unten",
    "bottom_right": "in der unteren rechten Ecke",
}
_BACKGROUNDS = {"white": "weiß", "beige": "beige", "black": "schwarz"}  # predicative
_BACKGROUND_STEMS = {"white": "weiß", "beige": "beig", "black": "schwarz"}  # before an ending: "beigem"


def _content_words() -> dict[str, str]:
    """Every surface form of a German content word or phrase, by class (skeletons.py masks them)."""
    words = {form: "SHAPE" for _, *forms in _NOUNS.values() for form in forms}
    endings = ("", "e", "en", "er", "es", "em")
    for colour in _COLOURS.values():
        words |= {shade + colour + ending: "COLOUR" for shade in _SHADES.values() for ending in endings}
    words |= {size + ending: "SIZE" for size in _SIZES.values() for ending in endings}
    words |= {stem + ending: "BACKGROUND" for stem in _BACKGROUND_STEMS.values() for ending in endings}
    words |= {number: "NUMBER" for number in (*_NUMBERS[2:9], "beiden")}
    words |= {phrase: "RELATION" for phrase in (*_RELATIONS.values(), "links vom", "rechts vom")}
    return words | {phrase: "POSITION" for phrase in _POSITIONS.values()}


CONTENT_WORDS = _content_words()


class _Style(NamedTuple):
    plain_blue: bool
    is_located: tuple[str, str]  # singular, plural
    lies: tuple[str, str]  # the verb of an inverted relation ("Links vom Kreis liegt der Stern")
    exist: str
    see: str


def style(description: Description, choices: Choices) -> _Style:
    return _Style(description.plain_blue,
                  is_located=choices.pick((("ist", "sind"), ("befindet sich", "befinden sich"))),
                  lies=choices.pick((("liegt", "liegen"), ("befindet sich", "befinden sich"))),
                  exist=choices.pick(("Auf dem Bild", "Zu sehen", "Es gibt")),
                  see=choices.pick(("Man sieht", "Wir sehen")))


def _gender(mention: Mention) -> int:
    return _PLURAL if mention.count > 1 else _NOUNS[mention.shape][0]


def _noun_phrase(mention: Mention, case: str, style: _Style) -> str:
    if mention.pronoun:
        return _PRONOUNS[_gender(mention)]  # only ever a subject
    gender, singular, singular_dative, plural, plural_dative = _NOUNS[mention.shape]
    if mention.count == 1:
        determiner = (_DEFINITE if mention.known else _INDEFINITE)[case][gender]
        ending = (_WEAK if mention.known else _MIXED)[case][gender]
        noun = singular_dative if case == "dat" else singular
    else:
        number = "beiden" if mention.known and mention.count == 2 else _NUMBERS[mention.count]
        determiner = f"{_DEFINITE[case][_PLURAL]} {number}" if mention.known else number
        ending = _WEAK[case][_PLURAL] if mention.known else _STRONG_PLURAL[case]
        noun = plural_dative if case == "dat" else plural
    words = [determiner]
    if mention.name_size:
        words.append(_SIZES[mention.size] + ending)
    if mention.name_colour:
        shade = said_shade(mention.colour, mention.shade, style.plain_blue)
        words.append(_SHADES[shade] + _COLOURS[mention.colour] + ending)
    words.append(noun)
    return " ".join(words)


def _place(relation: str, anchor: Mention, style: _Style) -> str:
    """"links vom Kreis": the relation word and its anchor in the dative, "von dem" contracted."""
    preposition = _RELATIONS[relation]
    phrase = _noun_phrase(anchor, "dat", style)
    if preposition.endswith("von") and phrase.startswith("dem "):
        preposition, phrase = preposition[:-3] + "vom", phrase[4:]
    return f"{preposition} {phrase}"


def _verb(forms: tuple[str, str], mention: Mention) -> str:
    return forms[mention.count > 1]


def sentence(clauses: list[str], style: _Style) -> str:
    # a comma before "und" (allowed between main clauses) and semicolons keep clauses apart from lists
    return coordinated(clauses, ", und ", ".", separator="; ")


def overview(description: Description, style: _Style) -> str:
    mentions = description.mentions
    several = len(mentions) > 1 or mentions[0].count > 1
    opener = description.opener
    accusative = opener in ("prefix", "see") or (opener == "exist" and style.exist == "Es gibt")
    case = "acc" if accusative else "nom"
    phrases = [_noun_phrase(m, case, style) for m in mentions]
    if description.relative:
        pronoun = _RELATIVE_PRONOUNS[_gender(mentions[0])]
        place = _place(description.relative, mentions[1], style)
        first = f"{phrases[0]}, {pronoun} {place} {_verb(('liegt', 'liegen'), mentions[0])}"
        objects = first + (f", sowie {join_list(phrases[2:], ' und ')}" if phrases[2:] else "")
    else:
        objects = join_list(phrases, " und ")
    if description.background:
        colour = _BACKGROUND_STEMS[description.background]
        objects += f"{', alles' if description.relative else ''} vor {colour}em Hintergrund"
    if opener == "exist":
        verb = "" if style.exist == "Es gibt" else " sind" if several else " ist"
        return f"{style.exist}{verb} {objects}"
    return {
        "prefix": f"{CAPTION_PREFIXES['de']} {objects}",
        "see": f"{style.see} {objects}",
        "depicted": f"abgebildet {'sind' if several else 'ist'} {objects}",
        "fragment": objects,
    }[opener]


def _located_clause(subject: Mention, place: str, form: int, style: _Style) -> str:
    """A subject and where it is: known first, new after the place; form 1 inverted, form 2 "man sieht"."""
    if form == 2:
        seen = _noun_phrase(subject, "acc", style)
        return f"{seen} sieht man {place}" if subject.known else f"man sieht {seen} {place}"
    nominative = _noun_phrase(subject, "nom", style)
    if form == 1:
        return f"{place} {_verb(style.lies, subject)} {nominative}"
    verb = _verb(style.is_located, subject)
    return f"{nominative} {verb} {place}" if subject.known else f"{place} {verb} {nominative}"


def relation(sentence: RelationSentence, style: _Style) -> str:
    return _located_clause(sentence.subject, _place(sentence.relation, sentence.object, style), sentence.form,
                           style)


def position(sentence: PositionSentence, style: _Style) -> str:
    places = join_list([_POSITIONS[p] for p in sentence.positions], " und ")
    return _located_clause(sentence.subject, places, sentence.form, style)


def count(sentence: CountSentence, style: _Style) -> str:
    if sentence.total == 1:
        return ("es ist nur ein Objekt zu sehen", "insgesamt enthält das Bild ein einziges Objekt",
                "auf dem Bild gibt es nur ein einziges Objekt")[sentence.form]
    total = _NUMBERS[sentence.total]
    return (f"insgesamt sind es {total} Objekte", f"insgesamt enthält das Bild {total} Objekte",
            f"auf dem Bild gibt es {total} Objekte")[sentence.form]


def background(sentence: BackgroundSentence, style: _Style) -> str:
    stem = _BACKGROUND_STEMS[sentence.background]
    return (f"der Hintergrund ist {_BACKGROUNDS[sentence.background]}",
            f"alles befindet sich vor {stem}em Hintergrund",
            f"das Ganze ist vor einem {stem}en Hintergrund zu sehen")[sentence.form]
