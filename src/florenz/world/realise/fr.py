"""French: gender and number agreement, "petit"/"grand"/"gros" before the noun and colours after it.

Compound colours are invariable ("des étoiles bleu clair"), "orange" never agrees, "le"/"la" elide before a
vowel ("l'étoile", "l'écrou") and "ce" becomes "cet" ("cet arc"), "de" contracts with the article ("à gauche
du cercle", "des deux étoiles", "d'une noix") and "que" elides ("ainsi qu'un cercle"); "huit" keeps its
aspirated h ("de huit étoiles"). A new group comes with "il y a" or after its place ("À gauche du cercle se
trouve une étoile"), a known one with "le"/"la"/"l'" or "ce"/"cette", a known pair as "les deux …", and a
repeated subject as "il"/"elle"/"ils"/"elles".
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


# per shape, the nouns a native speaker uses for it (the first is canonical)
_NOUNS = {
    "circle": (_Noun(False, "cercle", "cercles"), _Noun(False, "rond", "ronds")),
    "square": (_Noun(False, "carré", "carrés"),),
    "rectangle": (_Noun(False, "rectangle", "rectangles"),),
    "triangle": (_Noun(False, "triangle", "triangles"),),
    "star": (_Noun(True, "étoile", "étoiles"),),
    "heart": (_Noun(False, "cœur", "cœurs"),),
    "diamond": (_Noun(False, "losange", "losanges"),),
    "bow_ribbon": (_Noun(False, "nœud", "nœuds"),),
    "bow_weapon": (_Noun(False, "arc", "arcs"),),
    "bat_animal": (_Noun(True, "chauve-souris", "chauves-souris"),),
    "bat_club": (_Noun(True, "batte", "battes"),),
    "key_door": (_Noun(True, "clé", "clés"),),
    "key_keyboard": (_Noun(True, "touche", "touches"),),
    "nut_food": (_Noun(True, "noix", "noix"),),
    "nut_hardware": (_Noun(False, "écrou", "écrous"),),
}
# what the count and background sentences call the things in the picture
_THINGS = (_Noun(False, "objet", "objets"), _Noun(True, "forme", "formes"))
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
_SMALL = ("petit", "petite", "petits", "petites")
_BIG = (("grand", "grande", "grands", "grandes"), ("gros", "grosse", "gros", "grosses"))
_NUMBERS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit")
_PRONOUNS = ("il", "elle", "ils", "elles")
_VOWELS = "aeiouéèêâîôœ"  # no h: the world's only h-word, "huit", is aspirated
# each followed by "de"; the first is canonical
_RELATIONS = {"left_of": ("à gauche",), "right_of": ("à droite",), "above": ("au-dessus",),
              "below": ("au-dessous", "en dessous"), "next_to": ("à côté", "près")}
_POSITIONS = {
    "top_left": ("dans le coin supérieur gauche", "en haut à gauche"), "top": ("en haut",),
    "top_right": ("dans le coin supérieur droit", "en haut à droite"),
    "left": ("à gauche",), "centre": ("au centre", "au milieu"), "right": ("à droite",),
    "bottom_left": ("dans le coin inférieur gauche", "en bas à gauche"), "bottom": ("en bas",),
    "bottom_right": ("dans le coin inférieur droit", "en bas à droite"),
}
_BACKGROUNDS = {"white": "blanc", "beige": "beige", "black": "noir"}
_IS_LOCATED = (("est", "sont"), ("se trouve", "se trouvent"))  # singular, plural
_PLACED = (("situé", "située", "situés", "situées"), ("placé", "placée", "placés", "placées"))
_SEE = ("on voit", "on aperçoit", "on peut voir")
_OPENERS = {"exist": ("il y a", "sur la photo, il y a"), "see": _SEE,
            "depicted": ("sur la photo, on voit", "l'image représente")}
DEMONSTRATIVE_SHARE = 0.25  # a known subject said with "ce"/"cette" rather than the article


def _content_words() -> dict[str, str]:
    """Every surface form of a French content word or phrase, by class (skeletons.py masks them)."""
    words = {form: "SHAPE" for nouns in _NOUNS.values() for noun in nouns for form in noun[1:]}
    words |= {form: "COLOUR" for forms in _COLOURS.values() for form in forms}
    words |= {shade: "SHADE" for shade in _SHADES.values()}
    words |= {form: "SIZE" for forms in (_SMALL, *_BIG) for form in forms}
    words |= {number: "NUMBER" for number in _NUMBERS[2:]}
    # a relation word with its "de" (longest match), so "à gauche" alone stays a position
    words |= {f"{word} {of}": "RELATION" for options in _RELATIONS.values() for word in options
              for of in ("de", "du", "des", "d'")}
    words |= {phrase: "POSITION" for phrases in _POSITIONS.values() for phrase in phrases}
    return words | {colour: "BACKGROUND" for colour in _BACKGROUNDS.values()}


CONTENT_WORDS = _content_words()


class _Style(NamedTuple):
    choices: Choices  # per-clause choices (verb, determiner, place words) are drawn as the text is written
    plain_blue: bool
    nouns: dict[str, _Noun]  # the noun this text uses for each shape, drawn when it first names the shape
    big: tuple[str, str, str, str]
    thing: _Noun
    image: str  # "l'image" or "la photo"
    total: int  # objects in the scene: "l'objet se détache" or "les objets se détachent"


def style(description: Description, choices: Choices) -> _Style:
    return _Style(choices, description.plain_blue, {}, big=choices.pick(_BIG), thing=choices.pick(_THINGS),
                  image=choices.pick(("l'image", "la photo")),
                  total=sum(m.count for m in description.mentions))


def _noun(shape: str, style: _Style) -> _Noun:
    if shape not in style.nouns:
        style.nouns[shape] = style.choices.pick(_NOUNS[shape])
    return style.nouns[shape]


def _form(feminine: bool, count: int) -> int:
    """Index into the four adjective forms."""
    return feminine + 2 * (count > 1)


def _noun_phrase(mention: Mention, style: _Style, determiner: str) -> str:
    """The phrase with `determiner` "new" (un/une/deux …), "the" (le/la/les deux …) or "this" (ce/cette)."""
    noun = _noun(mention.shape, style)
    form = _form(noun.feminine, mention.count)
    words = []
    if mention.name_size:
        words.append((style.big if mention.size == "big" else _SMALL)[form])
    words.append(noun.plural if mention.count > 1 else noun.singular)
    if mention.name_colour:
        shade = said_shade(mention.colour, mention.shade, style.plain_blue)
        colour = _COLOURS[mention.colour]
        words.append(colour[form] if shade == "plain" else f"{colour[0]} {_SHADES[shade]}")  # invariable
    head = " ".join(words)
    return _determined(head, noun.feminine, mention.count, determiner)


def _determined(head: str, feminine: bool, count: int, determiner: str) -> str:
    """`head` (adjectives and noun) after its determiner, elided where French elides."""
    if count > 1:
        number = _NUMBERS[count]
        return {"new": number, "the": f"les {number}", "this": f"ces {number}"}[determiner] + " " + head
    if determiner == "new":
        return ("une " if feminine else "un ") + head
    vowel = head[0] in _VOWELS
    if determiner == "this":
        return ("cette " if feminine else "cet " if vowel else "ce ") + head
    return ("l'" if vowel else "la " if feminine else "le ") + head


def _reference(mention: Mention, style: _Style, subject: bool = False) -> str:
    """A mention as the text says it: new with un/une, known with the article (a subject also with "ce")."""
    if not mention.known:
        return _noun_phrase(mention, style, "new")
    pointing = subject and style.choices.chance(DEMONSTRATIVE_SHARE)
    return _noun_phrase(mention, style, "this" if pointing else "the")


def _of(phrase: str) -> str:
    """`phrase` after "de": "du cercle", "des deux étoiles", "de la", "de l'étoile", "d'un", "de huit"."""
    if phrase.startswith("le "):
        return "du " + phrase[3:]
    if phrase.startswith("les "):
        return "des " + phrase[4:]
    return ("d'" if phrase[0] in _VOWELS else "de ") + phrase


def _that(phrase: str) -> str:
    """"que" before `phrase`, elided before a vowel ("qu'un cercle")."""
    return ("qu'" if phrase[0] in _VOWELS else "que ") + phrase


def _agreeing(forms: tuple[str, ...], mention: Mention, style: _Style) -> str:
    return forms[_form(_noun(mention.shape, style).feminine, mention.count)]


def _place(relation: str, anchor: Mention, style: _Style) -> str:
    """"à gauche du cercle": the relation word and its anchor after "de"."""
    return f"{style.choices.pick(_RELATIONS[relation])} {_of(_reference(anchor, style))}"


def sentence(clauses: list[str], style: _Style) -> str:
    """One written sentence: "A et B", "A, et B" or "A ; B ; et C" (common.conjoined_sentence)."""
    return conjoined_sentence(clauses, "et", " ;")


def overview(description: Description, style: _Style) -> str:
    mentions = description.mentions
    phrases = [_noun_phrase(m, style, "new") for m in mentions]
    if description.relative:
        verb = style.choices.pick(_IS_LOCATED)[mentions[0].count > 1]
        objects = f"{phrases[0]} qui {verb} {_place(description.relative, mentions[1], style)}"
        if phrases[2:]:
            objects += f", ainsi {_that(join_list(phrases[2:], ' et '))}"
    else:
        objects = join_list(phrases, " et ")
    if description.background:
        colour = _BACKGROUNDS[description.background]
        ground = style.choices.pick((f"sur fond {colour}", f"sur un fond {colour}"))
        objects += f", le tout {ground}" if description.relative else f" {ground}"
    if description.opener == "prefix":
        return f"{CAPTION_PREFIXES['fr']} {objects}"
    if description.opener == "fragment":
        return objects
    return f"{style.choices.pick(_OPENERS[description.opener])} {objects}"


def _located(kind: str, sentence: RelationSentence | PositionSentence, place: str, style: _Style) -> str:
    """A clause placing the subject: form 0 subject first (a new one after "il y a"), form 1 the place first,
    form 2 "… est située …" (relation) or "on voit … " (position)."""
    subject = sentence.subject
    plural = subject.count > 1
    pick = style.choices.pick
    if sentence.form == 1:
        phrase = _reference(subject, style)
        inverted = [f"{place} {pick(_IS_LOCATED[1:])[plural]} {phrase}", f"{place}, on trouve {phrase}"]
        if not subject.known:
            inverted.append(f"{place}, il y a {phrase}")
        return pick(tuple(inverted))
    if sentence.form == 2 and kind == "position":
        return f"{pick(_SEE)} {_reference(subject, style)} {place}"
    if sentence.form == 2:
        placed = f"{_IS_LOCATED[0][plural]} {_agreeing(pick(_PLACED), subject, style)}"  # "sont situées"
        return f"{_reference(subject, style, True)} {placed} {place}"
    if not subject.known:
        return f"il y a {_reference(subject, style)} {place}"
    said = _agreeing(_PRONOUNS, subject, style) if subject.pronoun else _reference(subject, style, True)
    return f"{said} {pick(_IS_LOCATED)[plural]} {place}"


def _clause(kind: str, sentence: RelationSentence | PositionSentence, place: str, style: _Style) -> str:
    return conjoined(_located(kind, sentence, place, style), sentence.joined, sentence.subject.pronoun, "et")


def relation(sentence: RelationSentence, style: _Style) -> str:
    return _clause("relation", sentence, _place(sentence.relation, sentence.object, style), style)


def position(sentence: PositionSentence, style: _Style) -> str:
    places = join_list([style.choices.pick(_POSITIONS[p]) for p in sentence.positions], " et ")
    return _clause("position", sentence, places, style)


def count(sentence: CountSentence, style: _Style) -> str:
    thing = style.thing
    if sentence.total == 1:
        one = "une" if thing.feminine else "un"
        return (f"il n'y a qu'{one} seul{'e' if thing.feminine else ''} {thing.singular}",
                f"au total, {style.image} ne contient qu'{one} {thing.singular}",
                f"on ne compte qu'{one} seul{'e' if thing.feminine else ''} {thing.singular}")[sentence.form]
    total = _NUMBERS[sentence.total]
    return (f"il y a {total} {thing.plural} au total",
            f"au total, {style.image} contient {total} {thing.plural}",
            f"on compte {total} {thing.plural} en tout")[sentence.form]


def background(sentence: BackgroundSentence, style: _Style) -> str:
    colour = _BACKGROUNDS[sentence.background]
    if sentence.form == 2:
        thing = style.thing
        if style.total > 1:
            return f"les {thing.plural} se détachent sur un fond {colour}"
        return f"{_determined(thing.singular, thing.feminine, 1, 'the')} se détache sur un fond {colour}"
    options = ((f"le fond est {colour}", f"l'arrière-plan est {colour}"),
               (f"tout est sur fond {colour}", f"le tout est sur un fond {colour}"))
    return style.choices.pick(options[sentence.form])
