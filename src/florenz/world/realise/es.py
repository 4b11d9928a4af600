"""Spanish: gender and number agreement, colour and size after the noun ("un círculo rojo pequeño").

Size adjectives stand where Spanish puts them in a plain description: after the noun and its colour ("una
estrella roja pequeña", "dos círculos azules grandes"); "grande" may also come first as "gran" before a
singular noun ("una gran estrella roja"), which is just as common. "Pequeño" before the noun is literary
("un pequeño círculo") and is not used. Compound colours are invariable ("estrellas azul claro"), "de el" and
"a el" contract to "del" and "al". A new group follows "hay" or its place ("A la izquierda del círculo hay una
estrella"), a known one takes "el"/"la" or "este"/"esta" and goes with "está" ("La estrella está arriba"), a
known pair is "los dos"/"ambos", and a repeated subject is dropped (pro-drop: "Está a la izquierda del
círculo").
"""

from __future__ import annotations

from typing import NamedTuple

from florenz.world.languages import CAPTION_PREFIXES
from florenz.world.realise.common import Choices, conjoined, conjoined_sentence, join_list, said_shade
from florenz.world.realise.plan import (
    BackgroundSentence,
    CountSentence,
    Description,
    Mention,
    PositionSentence,
    RelationSentence,
)

SEPARATOR = " "


class _Noun(NamedTuple):
    feminine: bool
    singular: str
    plural: str


_NOUNS = {
    "circle": _Noun(False, "círculo", "círculos"),
    "square": _Noun(False, "cuadrado", "cuadrados"),
    "rectangle": _Noun(False, "rectángulo", "rectángulos"),
    "triangle": _Noun(False, "triángulo", "triángulos"),
    "star": _Noun(True, "estrella", "estrellas"),
    "heart": _Noun(False, "corazón", "corazones"),
    "diamond": _Noun(False, "rombo", "rombos"),
    "bow_ribbon": _Noun(False, "lazo", "lazos"),
    "bow_weapon": _Noun(False, "arco", "arcos"),
    "bat_animal": _Noun(False, "murciélago", "murciélagos"),
    "bat_club": _Noun(False, "bate", "bates"),
    "key_door": _Noun(True, "llave", "llaves"),
    "key_keyboard": _Noun(True, "tecla", "teclas"),
    "nut_food": _Noun(True, "nuez", "nueces"),
    "nut_hardware": _Noun(True, "tuerca", "tuercas"),
}
# what the count and background sentences call the things in the picture
_THINGS = (_Noun(False, "objeto", "objetos"), _Noun(True, "figura", "figuras"))
# adjective forms: masculine singular, feminine singular, masculine plural, feminine plural; per colour the
# words a native speaker uses (the first is canonical)
_COLOURS = {
    "red": (("rojo", "roja", "rojos", "rojas"),),
    "green": (("verde", "verde", "verdes", "verdes"),),
    "blue": (("azul", "azul", "azules", "azules"),),
    "yellow": (("amarillo", "amarilla", "amarillos", "amarillas"),),
    "purple": (("morado", "morada", "morados", "moradas"), ("violeta", "violeta", "violetas", "violetas")),
    "orange": (("naranja", "naranja", "naranjas", "naranjas"),
               ("anaranjado", "anaranjada", "anaranjados", "anaranjadas")),
    "grey": (("gris", "gris", "grises", "grises"),),
}
_SHADES = {"light": "claro", "dark": "oscuro"}
_SIZES = {"small": ("pequeño", "pequeña", "pequeños", "pequeñas"),
          "big": ("grande", "grande", "grandes", "grandes")}
_NUMBERS = ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho")
# (words, preposition) per relation, the first canonical
_RELATIONS = {"left_of": (("a la izquierda", "de"),), "right_of": (("a la derecha", "de"),),
              "above": (("encima", "de"), ("por encima", "de")),
              "below": (("debajo", "de"), ("por debajo", "de")),
              "next_to": (("al lado", "de"), ("junto", "a"))}
_CONTRACTED = {"de": "del", "a": "al"}  # before "el"
_POSITIONS = {
    "top_left": ("en la esquina superior izquierda", "arriba a la izquierda"),
    "top": ("arriba", "en la parte superior"),
    "top_right": ("en la esquina superior derecha", "arriba a la derecha"),
    "left": ("a la izquierda",), "centre": ("en el centro", "en el medio"), "right": ("a la derecha",),
    "bottom_left": ("en la esquina inferior izquierda", "abajo a la izquierda"),
    "bottom": ("abajo", "en la parte inferior"),
    "bottom_right": ("en la esquina inferior derecha", "abajo a la derecha"),
}
_BACKGROUNDS = {"white": "blanco", "beige": "beige", "black": "negro"}
_IS_LOCATED = (("está", "están"), ("se encuentra", "se encuentran"))  # singular, plural
_PLACED = ("situado", "situada", "situados", "situadas")
_SEEN = (("se ve", "se ven"), ("se puede ver", "se pueden ver"))
_OPENERS = {"exist": ("hay", "en la imagen hay"), "see": ("vemos", "podemos ver"),
            "depicted": (("se ve", "se ven"), ("en la imagen se ve", "en la imagen se ven"),
                         ("en la imagen aparece", "en la imagen aparecen"))}
DEMONSTRATIVE_SHARE = 0.25  # a known subject said with "este"/"esta" rather than the article


def _content_words() -> dict[str, str]:
    """Every surface form of a Spanish content word or phrase, by class (skeletons.py masks them)."""
    words = {form: "SHAPE" for noun in _NOUNS.values() for form in noun[1:]}
    words |= {form: "COLOUR" for options in _COLOURS.values() for forms in options for form in forms}
    words |= {shade: "SHADE" for shade in _SHADES.values()}
    words |= {form: "SIZE" for forms in _SIZES.values() for form in (*forms, "gran")}
    words |= {number: "NUMBER" for number in (*_NUMBERS[2:], "ambos", "ambas")}
    # a relation word with its preposition (longest match), so "a la izquierda" alone stays a position
    words |= {f"{word} {after}": "RELATION" for options in _RELATIONS.values()
              for word, preposition in options for after in (preposition, _CONTRACTED[preposition])}
    words |= {phrase: "POSITION" for phrases in _POSITIONS.values() for phrase in phrases}
    return words | {colour: "BACKGROUND" for colour in _BACKGROUNDS.values()}


CONTENT_WORDS = _content_words()


class _Style(NamedTuple):
    choices: Choices  # per-clause choices (verb, determiner, place words) are drawn as the text is written
    plain_blue: bool
    colours: dict[str, tuple[str, str, str, str]]  # this text's word for each colour, drawn when first said
    big_first: bool  # "una gran estrella" rather than "una estrella grande"
    thing: _Noun
    total: int  # objects in the scene: "el objeto destaca" or "los objetos destacan"


def style(description: Description, choices: Choices) -> _Style:
    return _Style(choices, description.plain_blue, {}, big_first=choices.pick((False, True)),
                  thing=choices.pick(_THINGS), total=sum(m.count for m in description.mentions))


def _form(mention: Mention) -> int:
    """Index into the four adjective forms."""
    return _NOUNS[mention.shape].feminine + 2 * (mention.count > 1)


def _noun_phrase(mention: Mention, style: _Style, determiner: str) -> str:
    """The phrase with `determiner` "new" (un/una/dos), "the" (el/la/los dos/ambos) or "this" (este/esta)."""
    noun = _NOUNS[mention.shape]
    form = _form(mention)
    words = [noun.plural if mention.count > 1 else noun.singular]
    if mention.name_colour:
        shade = said_shade(mention.colour, mention.shade, style.plain_blue)
        if mention.colour not in style.colours:
            style.colours[mention.colour] = style.choices.pick(_COLOURS[mention.colour])
        colour = style.colours[mention.colour]
        words.append(colour[form] if shade == "plain" else f"{colour[0]} {_SHADES[shade]}")  # invariable
    if mention.name_size:
        if mention.size == "big" and mention.count == 1 and style.big_first:
            words.insert(0, "gran")
        else:
            words.append(_SIZES[mention.size][form])
    head = " ".join(words)
    if mention.count > 1:
        number = _NUMBERS[mention.count]
        if determiner == "new":
            return f"{number} {head}"
        if determiner == "this":
            return f"{'estas' if noun.feminine else 'estos'} {number} {head}"
        if mention.count == 2 and style.choices.pick((False, True)):
            return f"{'ambas' if noun.feminine else 'ambos'} {head}"
        return f"{'las' if noun.feminine else 'los'} {number} {head}"
    articles = {"new": ("un", "una"), "the": ("el", "la"), "this": ("este", "esta")}[determiner]
    return f"{articles[noun.feminine]} {head}"


def _reference(mention: Mention, style: _Style, subject: bool = False) -> str:
    """A mention as the text says it: new with un/una, known with the article (a subject also with "este")."""
    if not mention.known:
        return _noun_phrase(mention, style, "new")
    pointing = subject and style.choices.chance(DEMONSTRATIVE_SHARE)
    return _noun_phrase(mention, style, "this" if pointing else "the")


def _after(preposition: str, phrase: str) -> str:
    """`phrase` after "de" or "a", "de el"/"a el" contracted to "del"/"al"."""
    if phrase.startswith("el "):
        return f"{_CONTRACTED[preposition]} {phrase[3:]}"
    return f"{preposition} {phrase}"


def _place(relation: str, anchor: Mention, style: _Style) -> str:
    """"a la izquierda del círculo", "junto al círculo": the relation words and their anchor."""
    words, preposition = style.choices.pick(_RELATIONS[relation])
    return f"{words} {_after(preposition, _reference(anchor, style))}"


def sentence(clauses: list[str], style: _Style) -> str:
    """One written sentence: "A y B", "A, y B" or "A; B; y C" (common.conjoined_sentence)."""
    return conjoined_sentence(clauses, "y", ";")


def overview(description: Description, style: _Style) -> str:
    mentions = description.mentions
    phrases = [_noun_phrase(m, style, "new") for m in mentions]
    if description.relative:
        verb = style.choices.pick(_IS_LOCATED)[mentions[0].count > 1]
        objects = f"{phrases[0]} que {verb} {_place(description.relative, mentions[1], style)}"
        if phrases[2:]:
            objects += f", así como {join_list(phrases[2:], ' y ')}"
    else:
        objects = join_list(phrases, " y ")
    if description.background:
        colour = _BACKGROUNDS[description.background]
        ground = style.choices.pick((f"sobre un fondo {colour}", f"sobre fondo {colour}"))
        objects += f", todo {ground}" if description.relative else f" {ground}"
    opener = description.opener
    if opener == "prefix":
        return f"{CAPTION_PREFIXES['es']} {objects}"
    if opener == "fragment":
        return objects
    if opener == "depicted":  # the verb agrees with the list, or with the first phrase before its relative
        several = mentions[0].count > 1 or (len(mentions) > 1 and not description.relative)
        return f"{style.choices.pick(_OPENERS[opener])[several]} {objects}"
    return f"{style.choices.pick(_OPENERS[opener])} {objects}"


def _located(kind: str, sentence: RelationSentence | PositionSentence, place: str, style: _Style) -> str:
    """A clause placing the subject: a new one after "hay", a known one with "está"; form 0 subject first,
    form 1 the place first, form 2 "queda"/"está situada" (relation) or "se ve" (position, new subjects)."""
    subject = sentence.subject
    plural = subject.count > 1
    pick = style.choices.pick
    if sentence.form == 1:
        verb = pick(_IS_LOCATED)[plural] if subject.known else "hay"
        return f"{place} {verb} {_reference(subject, style)}"
    if sentence.form == 2 and (kind == "position" or not subject.known):
        return f"{pick(_SEEN)[plural]} {_reference(subject, style)} {place}"
    if sentence.form == 2:
        stays = pick((f"queda{'n' if plural else ''}", f"{_IS_LOCATED[0][plural]} {_PLACED[_form(subject)]}"))
        return f"{_reference(subject, style, True)} {stays} {place}"
    if not subject.known:
        return f"hay {_reference(subject, style)} {place}"
    verb = pick(_IS_LOCATED)[plural]
    if subject.pronoun:  # the subject is dropped
        return f"{verb} {place}"
    return f"{_reference(subject, style, True)} {verb} {place}"


def _clause(kind: str, sentence: RelationSentence | PositionSentence, place: str, style: _Style) -> str:
    return conjoined(_located(kind, sentence, place, style), sentence.joined, sentence.subject.pronoun, "y")


def relation(sentence: RelationSentence, style: _Style) -> str:
    return _clause("relation", sentence, _place(sentence.relation, sentence.object, style), style)


def position(sentence: PositionSentence, style: _Style) -> str:
    places = join_list([style.choices.pick(_POSITIONS[p]) for p in sentence.positions], " y ")
    return _clause("position", sentence, places, style)


def count(sentence: CountSentence, style: _Style) -> str:
    thing = style.thing
    if sentence.total == 1:
        one, single, only = ("una", "sola", "única") if thing.feminine else ("un", "solo", "único")
        return (f"solo hay {one} {thing.singular}",
                f"en total, la imagen contiene {one} {single} {thing.singular}",
                f"la imagen tiene {one} {only} {thing.singular}")[sentence.form]
    total = _NUMBERS[sentence.total]
    return (f"en total hay {total} {thing.plural}", f"en total, la imagen contiene {total} {thing.plural}",
            f"la imagen tiene {total} {thing.plural} en total")[sentence.form]


def background(sentence: BackgroundSentence, style: _Style) -> str:
    colour = _BACKGROUNDS[sentence.background]
    if sentence.form == 2:
        thing = style.thing
        article = ("las", "la") if thing.feminine else ("los", "el")
        if style.total > 1:
            return f"{article[0]} {thing.plural} destacan sobre un fondo {colour}"
        return f"{article[1]} {thing.singular} destaca sobre un fondo {colour}"
    options = ((f"el fondo es {colour}", f"el fondo de la imagen es {colour}"),
               (f"todo está sobre un fondo {colour}", f"todo aparece sobre un fondo {colour}"))
    return style.choices.pick(options[sentence.form])
