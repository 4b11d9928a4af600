"""Russian: gender, case and the numeral rules; word order instead of articles.

Cases: nominative subjects, accusative after "Мы видим", genitive after "слева от"/"справа от",
instrumental after "над", "под", "рядом с(о)". After 2-4 the noun takes the genitive singular and its
adjectives the genitive plural, feminine ones the nominative plural ("два больших красных квадрата", "две
маленькие звезды"); after 5+ both take the genitive plural; in oblique cases the numeral declines too
("слева от двух квадратов", "над тремя звездами"). The participle of "На картинке изображен" agrees with the
first noun phrase (изображен/изображена/изображено/изображены). Blue is always голубой (light) or синий
(dark), whatever the English says: the image decides. A known subject comes first ("Звезда находится слева
от круга"), a new one last ("Слева от круга находится звезда"). Written without ё, like the paper's prefix.
"""

from __future__ import annotations

from typing import NamedTuple

from florenz.world.realise.common import Choices, capitalise, join_list
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


def _noun(gender: int, nom: str, acc: str, gen: str, ins: str, nom_pl: str, gen_pl: str, ins_pl: str):
    """(gender, {case: singular form}, {case: plural form}); inanimate, so plural acc = nom."""
    return gender, {"nom": nom, "acc": acc, "gen": gen, "ins": ins}, {"nom": nom_pl, "acc": nom_pl,
                                                                      "gen": gen_pl, "ins": ins_pl}


_NOUNS = {
    "circle": _noun(_MASCULINE, "круг", "круг", "круга", "кругом", "круги", "кругов", "кругами"),
    "square": _noun(_MASCULINE, "квадрат", "квадрат", "квадрата", "квадратом", "квадраты", "квадратов",
                    "квадратами"),
    "rectangle": _noun(_MASCULINE, "прямоугольник", "прямоугольник", "прямоугольника", "прямоугольником",
                       "прямоугольники", "прямоугольников", "прямоугольниками"),
    "triangle": _noun(_MASCULINE, "треугольник", "треугольник", "треугольника", "треугольником",
                      "треугольники", "треугольников", "треугольниками"),
    "star": _noun(_FEMININE, "звезда", "звезду", "звезды", "звездой", "звезды", "звезд", "звездами"),
    "heart": _noun(_NEUTER, "сердце", "сердце", "сердца", "сердцем", "сердца", "сердец", "сердцами"),
    "diamond": _noun(_MASCULINE, "ромб", "ромб", "ромба", "ромбом", "ромбы", "ромбов", "ромбами"),
}
_OBJECT = _noun(_MASCULINE, "объект", "объект", "объекта", "объектом", "объекты", "объектов", "объектами")

# adjective endings by declension and case, indexed masculine, feminine, neuter, plural
_ENDINGS = {
    "hard": {"nom": ("ый", "ая", "ое", "ые"), "acc": ("ый", "ую", "ое", "ые"),  # красный
             "gen": ("ого", "ой", "ого", "ых"), "ins": ("ым", "ой", "ым", "ыми")},
    "stressed": {"nom": ("ой", "ая", "ое", "ые"), "acc": ("ой", "ую", "ое", "ые"),  # голубой
                 "gen": ("ого", "ой", "ого", "ых"), "ins": ("ым", "ой", "ым", "ыми")},
    "sibilant": {"nom": ("ой", "ая", "ое", "ие"), "acc": ("ой", "ую", "ое", "ие"),  # большой: и after ш
                 "gen": ("ого", "ой", "ого", "их"), "ins": ("им", "ой", "им", "ими")},
    "velar": {"nom": ("ий", "ая", "ое", "ие"), "acc": ("ий", "ую", "ое", "ие"),  # маленький: и after к
              "gen": ("ого", "ой", "ого", "их"), "ins": ("им", "ой", "им", "ими")},
    "soft": {"nom": ("ий", "яя", "ее", "ие"), "acc": ("ий", "юю", "ее", "ие"),  # синий
             "gen": ("его", "ей", "его", "их"), "ins": ("им", "ей", "им", "ими")},
}
_COLOURS = {"red": "красн", "green": "зелен", "yellow": "желт", "purple": "фиолетов", "orange": "оранжев",
            "grey": "сер"}  # hard stems
_BLUES = {"light": ("голуб", "stressed"), "dark": ("син", "soft")}
_SHADES = {"plain": "", "light": "светло-", "dark": "темно-"}
# numerals by case; 1 is never said in a noun phrase ("круг", not "один круг")
_NUMERALS = {
    "nom": ("", "", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять"),
    "gen": ("", "", "двух", "трех", "четырех", "пяти", "шести", "семи", "восьми", "девяти", "десяти"),
    "ins": ("", "", "двумя", "тремя", "четырьмя", "пятью", "шестью", "семью", "восемью", "девятью",
            "десятью"),
}
# "both" for a known pair ("оба квадрата", "обе звезды"), masculine/neuter and feminine; acc = nom
_BOTH = {"nom": ("оба", "обе"), "acc": ("оба", "обе"), "gen": ("обоих", "обеих"), "ins": ("обоими", "обеими")}
_RELATIONS = {"left_of": ("слева от", "gen"), "right_of": ("справа от", "gen"), "above": ("над", "ins"),
              "below": ("под", "ins"), "next_to": ("рядом с", "ins")}
_POSITIONS = {
    "top_left": "в левом верхнем углу", "top": "вверху", "top_right": "в правом верхнем углу",
    "left": "слева", "centre": "в центре", "right": "справа",
    "bottom_left": "в левом нижнем углу", "bottom": "внизу", "bottom_right": "в правом нижнем углу",
}
_SHOWN = ("изображен", "изображена", "изображено", "изображены")  # the prefix's participle by gender/plural
_BACKGROUNDS = {"white": "бел", "beige": "бежев", "black": "черн"}  # hard stems
_VOWELS = "аеёиоуыэюя"


class _Style(NamedTuple):
    definite: bool
    small: tuple[str, str]  # stem, declension
    big: tuple[str, str]


def style(description: Description, choices: Choices) -> _Style:
    return _Style(description.definite, small=choices.pick((("маленьк", "velar"), ("небольш", "sibilant"))),
                  big=choices.pick((("больш", "sibilant"), ("крупн", "hard"))))


def _adjectives(mention: Mention, style: _Style) -> list[tuple[str, str]]:
    adjectives = []
    if mention.name_size:
        adjectives.append(style.big if mention.size == "big" else style.small)
    if mention.name_colour:
        if mention.colour == "blue":
            adjectives.append(_BLUES[mention.shade])
        else:
            adjectives.append((_SHADES[mention.shade] + _COLOURS[mention.colour], "hard"))
    return adjectives


def _numeral(count: int, gender: int, case: str, definite: bool) -> str:
    if count == 2 and definite:
        return _BOTH[case][gender == _FEMININE]
    if count == 2 and gender == _FEMININE and case in ("nom", "acc"):
        return "две"
    return _NUMERALS["nom" if case == "acc" else case][count]


def _noun_phrase(mention: Mention, case: str, style: _Style, definite: bool = False) -> str:
    """The noun phrase in `case` (nom, acc, gen, ins), with the numeral rules for its count."""
    gender, singular, plural = _NOUNS[mention.shape]
    count = mention.count
    if count == 1:
        words, adjective_form, noun = [], (gender, case), singular[case]
    elif case in ("nom", "acc"):  # inanimate: the accusative of a numeral phrase is its nominative
        words = [_numeral(count, gender, case, definite)]
        if count <= 4:
            adjective_form = (_PLURAL, "nom" if gender == _FEMININE else "gen")
            noun = singular["gen"]
        else:
            adjective_form, noun = (_PLURAL, "gen"), plural["gen"]
    else:
        words, adjective_form, noun = [_numeral(count, gender, case, definite)], (_PLURAL, case), plural[case]
    form, adjective_case = adjective_form
    words += [stem + _ENDINGS[declension][adjective_case][form]
              for stem, declension in _adjectives(mention, style)]
    words.append(noun)
    return " ".join(words)


def _with(instrumental_phrase: str) -> str:
    """"с" + phrase, or "со" before a hard cluster ("со звездой", "со светло-красным")."""
    first, second = instrumental_phrase[:2]
    return ("со " if first in "зсшжщ" and second not in _VOWELS else "с ") + instrumental_phrase


def _is_located(mention: Mention) -> str:
    return "находится" if mention.count == 1 else "находятся"


def overview(description: Description, style: _Style) -> str:
    case = "acc" if description.opener == "see" else "nom"
    objects = join_list([_noun_phrase(m, case, style) for m in description.mentions], " и ")
    if description.background:
        objects += f" на {_BACKGROUNDS[description.background]}ом фоне"
    if description.opener == "see":
        return f"Мы видим {objects}."
    if description.opener == "prefix":
        first = description.mentions[0]
        participle = _SHOWN[_PLURAL if first.count > 1 else _NOUNS[first.shape][0]]
        return f"На картинке {participle} {objects}."
    return f"На картинке {objects}."


def relation(sentence: RelationSentence, style: _Style) -> str:
    preposition, case = _RELATIONS[sentence.relation]
    anchor = _noun_phrase(sentence.object, case, style, style.definite)
    place = f"{preposition[:-2]} {_with(anchor)}" if preposition.endswith(" с") else f"{preposition} {anchor}"
    return _located_sentence(sentence.subject, place, style)


def position(sentence: PositionSentence, style: _Style) -> str:
    return _located_sentence(sentence.subject, join_list([_POSITIONS[p] for p in sentence.positions], " и "),
                             style)


def _located_sentence(subject: Mention, place: str, style: _Style) -> str:
    """A known subject comes first ("Звезда находится …"), a new one last ("… находится звезда")."""
    noun_phrase = _noun_phrase(subject, "nom", style, style.definite)
    return capitalise(f"{noun_phrase} {_is_located(subject)} {place}." if style.definite
                      else f"{place} {_is_located(subject)} {noun_phrase}.")


def count(sentence: CountSentence, style: _Style) -> str:
    total = sentence.total
    if total == 1:
        return "На картинке только один объект."
    noun = _OBJECT[1]["gen"] if total <= 4 else _OBJECT[2]["gen"]
    return f"Всего на картинке {_NUMERALS['nom'][total]} {noun}."


def background(sentence: BackgroundSentence, style: _Style) -> str:
    return f"Фон {_BACKGROUNDS[sentence.background]}ый."
