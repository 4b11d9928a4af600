"""Russian: gender, case, animacy and the numeral rules; word order and demonstratives instead of articles.

Cases: nominative subjects, accusative after "Мы видим", genitive after "слева от"/"справа от"/"возле",
instrumental after "над", "под", "рядом с(о)". After 2-4 the noun takes the genitive singular and its
adjectives the genitive plural, feminine ones the nominative plural ("два больших красных квадрата", "две
маленькие звезды"); after 5+ both take the genitive plural; in oblique cases the numeral declines too
("слева от двух квадратов", "над тремя звездами"). "Летучая мышь" is animate: its accusative plural is the
genitive ("Мы видим двух летучих мышей"), and "летучая" declines as an adjective. Every participle or short
adjective before a list agrees with its first noun phrase (изображен/изображена/изображено/изображены), so
the caption prefix "На картинке" is continuable by every scene. Blue is always голубой (light) or синий
(dark), whatever the English says: the image decides. A known subject comes first ("Звезда находится слева
от круга"), a new one last ("Слева от круга находится звезда"); the inversion form puts every subject last.
Known groups may take "этот"; a known pair is "оба"/"обе". Written without ё, like the paper's prefix.
"""

from __future__ import annotations

from typing import NamedTuple

from florenz.world.languages import CAPTION_PREFIXES
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
_CASES = ("nom", "acc", "gen", "ins")


class _Noun(NamedTuple):
    gender: int
    singular: dict[str, str]  # case -> form
    plural: dict[str, str]
    epithet: tuple[str, str] | None = None  # an adjective that is part of the name (stem, declension)
    animate: bool = False


def _noun(gender: int, singular: str, plural: str, epithet: tuple[str, str] | None = None,
          animate: bool = False) -> _Noun:
    """A noun from its nom/acc/gen/ins forms, singular and plural, each written as one spaced string."""
    return _Noun(gender, dict(zip(_CASES, singular.split())), dict(zip(_CASES, plural.split())), epithet,
                 animate)


# per shape, the nouns a native speaker uses for it (the first is canonical)
_NOUNS = {
    "circle": (_noun(_MASCULINE, "круг круг круга кругом", "круги круги кругов кругами"),),
    "square": (_noun(_MASCULINE, "квадрат квадрат квадрата квадратом",
                     "квадраты квадраты квадратов квадратами"),),
    "rectangle": (_noun(_MASCULINE, "прямоугольник прямоугольник прямоугольника прямоугольником",
                        "прямоугольники прямоугольники прямоугольников прямоугольниками"),),
    "triangle": (_noun(_MASCULINE, "треугольник треугольник треугольника треугольником",
                       "треугольники треугольники треугольников треугольниками"),),
    "star": (_noun(_FEMININE, "звезда звезду звезды звездой", "звезды звезды звезд звездами"),
             _noun(_FEMININE, "звездочка звездочку звездочки звездочкой",
                   "звездочки звездочки звездочек звездочками")),
    "heart": (_noun(_NEUTER, "сердце сердце сердца сердцем", "сердца сердца сердец сердцами"),
              _noun(_NEUTER, "сердечко сердечко сердечка сердечком",
                    "сердечки сердечки сердечек сердечками")),
    "diamond": (_noun(_MASCULINE, "ромб ромб ромба ромбом", "ромбы ромбы ромбов ромбами"),),
    "bow_ribbon": (_noun(_MASCULINE, "бант бант банта бантом", "банты банты бантов бантами"),
                   _noun(_MASCULINE, "бантик бантик бантика бантиком",
                         "бантики бантики бантиков бантиками")),
    "bow_weapon": (_noun(_MASCULINE, "лук лук лука луком", "луки луки луков луками"),),
    "bat_animal": (_noun(_FEMININE, "мышь мышь мыши мышью", "мыши мышей мышей мышами",
                         epithet=("летуч", "soft_sibilant"), animate=True),),
    "bat_club": (_noun(_FEMININE, "бита биту биты битой", "биты биты бит битами"),),
    "key_door": (_noun(_MASCULINE, "ключ ключ ключа ключом", "ключи ключи ключей ключами"),),
    "key_keyboard": (_noun(_FEMININE, "клавиша клавишу клавиши клавишей",
                           "клавиши клавиши клавиш клавишами"),),
    "nut_food": (_noun(_MASCULINE, "орех орех ореха орехом", "орехи орехи орехов орехами"),),
    "nut_hardware": (_noun(_FEMININE, "гайка гайку гайки гайкой", "гайки гайки гаек гайками"),),
}
# what the count sentence calls the things in the picture
_THINGS = (_noun(_MASCULINE, "объект объект объекта объектом", "объекты объекты объектов объектами"),
           _noun(_FEMININE, "фигура фигуру фигуры фигурой", "фигуры фигуры фигур фигурами"),
           _noun(_MASCULINE, "предмет предмет предмета предметом", "предметы предметы предметов предметами"))

# adjective endings by declension and case, indexed masculine, feminine, neuter, plural (inanimate accusative)
_ENDINGS = {
    "hard": {"nom": ("ый", "ая", "ое", "ые"), "acc": ("ый", "ую", "ое", "ые"),  # красный
             "gen": ("ого", "ой", "ого", "ых"), "ins": ("ым", "ой", "ым", "ыми")},
    "stressed": {"nom": ("ой", "ая", "ое", "ые"), "acc": ("ой", "ую", "ое", "ые"),  # голубой
                 "gen": ("ого", "ой", "ого", "ых"), "ins": ("ым", "ой", "ым", "ыми")},
    "sibilant": {"nom": ("ой", "ая", "ое", "ие"), "acc": ("ой", "ую", "ое", "ие"),  # большой: и after ш
                 "gen": ("ого", "ой", "ого", "их"), "ins": ("им", "ой", "им", "ими")},
    "soft_sibilant": {"nom": ("ий", "ая", "ее", "ие"), "acc": ("ий", "ую", "ее", "ие"),  # летучий: unstressed
                      "gen": ("его", "ей", "его", "их"), "ins": ("им", "ей", "им", "ими")},
    "velar": {"nom": ("ий", "ая", "ое", "ие"), "acc": ("ий", "ую", "ое", "ие"),  # маленький: и after к
              "gen": ("ого", "ой", "ого", "их"), "ins": ("им", "ой", "им", "ими")},
    "soft": {"nom": ("ий", "яя", "ее", "ие"), "acc": ("ий", "юю", "ее", "ие"),  # синий
             "gen": ("его", "ей", "его", "их"), "ins": ("им", "ей", "им", "ими")},
}
_COLOURS = {"red": "красн", "green": "зелен", "yellow": "желт", "purple": "фиолетов", "orange": "оранжев",
            "grey": "сер"}  # hard stems
_BLUES = {"light": ("голуб", "stressed"), "dark": ("син", "soft")}
_SHADES = {"plain": "", "light": "светло-", "dark": "темно-"}
_SMALL = (("маленьк", "velar"), ("небольш", "sibilant"))
_BIG = (("больш", "sibilant"), ("крупн", "hard"))
# numerals 0-8 by case; 1 is never said in a noun phrase ("круг", not "один круг"); 2 has a feminine "две"
_NUMERALS = {
    "nom": ("", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь"),
    "gen": ("", "одного", "двух", "трех", "четырех", "пяти", "шести", "семи", "восьми"),
    "ins": ("", "одним", "двумя", "тремя", "четырьмя", "пятью", "шестью", "семью", "восемью"),
}
_ONE = ("один", "одна", "одно")
_BOTH = {"nom": ("оба", "обе"), "gen": ("обоих", "обеих"), "ins": ("обоими", "обеими")}  # masc/neut, fem
_THIS = {"nom": ("этот", "эта", "это", "эти"), "acc": ("этот", "эту", "это", "эти"),
         "gen": ("этого", "этой", "этого", "этих"), "ins": ("этим", "этой", "этим", "этими")}
_PRONOUNS = ("он", "она", "оно", "они")
_WHICH = ("который", "которая", "которое", "которые")
# (preposition, case) per relation, the first canonical; "с" becomes "со" before some clusters
_RELATIONS = {"left_of": (("слева от", "gen"),), "right_of": (("справа от", "gen"),),
              "above": (("над", "ins"),), "below": (("под", "ins"),),
              "next_to": (("рядом с", "ins"), ("возле", "gen"))}
_POSITIONS = {
    "top_left": ("в левом верхнем углу",), "top": ("вверху", "сверху"),
    "top_right": ("в правом верхнем углу",),
    "left": ("слева",), "centre": ("в центре", "посередине"), "right": ("справа",),
    "bottom_left": ("в левом нижнем углу",), "bottom": ("внизу", "снизу"),
    "bottom_right": ("в правом нижнем углу",),
}
_BACKGROUNDS = {"white": "бел", "beige": "бежев", "black": "черн"}  # hard stems
_VOWELS = "аеёиоуыэюя"

# verbs that agree like adjectives: short participles / adjectives by gender and number
_SHOWN = ("изображен", "изображена", "изображено", "изображены")
_DRAWN = ("нарисован", "нарисована", "нарисовано", "нарисованы")
_SEEN = ("виден", "видна", "видно", "видны")
_PLACED = ("расположен", "расположена", "расположено", "расположены")
_IS_LOCATED = ("находится",) * 3 + ("находятся",)
# per (sentence kind, form): the verbs that may place a subject, the first canonical
_LOCATING_VERBS = {
    ("relation", 0): (_IS_LOCATED,), ("relation", 1): (_IS_LOCATED, _SEEN),
    ("relation", 2): (_PLACED, _DRAWN),
    ("position", 0): (_IS_LOCATED,), ("position", 1): (_IS_LOCATED, _PLACED),
    ("position", 2): (_SEEN, _DRAWN),
}
_PREFIX_VERBS = (_SHOWN, _SEEN, _DRAWN)  # "На картинке изображена звезда …", "… видны две звезды …"
_DEPICTED_VERBS = (_SHOWN, _DRAWN)  # "Изображены две звезды …"
_EXIST = ("на картинке есть", "на картинке", "на рисунке есть")
_SEE = ("мы видим", "можно увидеть")  # take the accusative
_JOINS = (", а ", ", и ")  # "а" contrasts two different subjects; "и" also joins one subject's two facts
_ALSO = ", а также "  # a repeated subject dropped: "звезда находится вверху, а также слева от круга"

# every surface form of a content word or phrase, by class (skeletons.py masks them)
CONTENT_WORDS = {
    **{form: "SHAPE" for nouns in _NOUNS.values() for noun in nouns
       for form in (*noun.singular.values(), *noun.plural.values())},
    **{stem + ending: "SHAPE" for nouns in _NOUNS.values() for noun in nouns if noun.epithet
       for stem, declension in (noun.epithet,)
       for endings in _ENDINGS[declension].values() for ending in endings},
    **{stem + ending: "SIZE" for stem, declension in _SMALL + _BIG
       for endings in _ENDINGS[declension].values() for ending in endings},
    **{shade + stem + ending: "COLOUR" for stem in _COLOURS.values() for shade in _SHADES.values()
       for endings in _ENDINGS["hard"].values() for ending in endings},
    **{stem + ending: "COLOUR" for stem, declension in _BLUES.values()
       for endings in _ENDINGS[declension].values() for ending in endings},
    **{numeral: "NUMBER" for numerals in (*_NUMERALS.values(), *_BOTH.values(), _ONE, ("две",))
       for numeral in numerals if numeral},
    **{preposition: "RELATION" for options in _RELATIONS.values() for preposition, _ in options},
    "рядом со": "RELATION",
    **{phrase: "POSITION" for phrases in _POSITIONS.values() for phrase in phrases},
    **{stem + ending: "BACKGROUND" for stem in _BACKGROUNDS.values() for ending in ("ый", "ом")},
}


class _Style(NamedTuple):
    choices: Choices  # per-clause choices (verb, demonstrative) are drawn as the text is written
    nouns: dict[str, _Noun]  # the noun this text uses for each shape it names
    small: tuple[str, str]  # stem, declension
    big: tuple[str, str]
    last: list  # [look of the last clause's subject or None, whether it came first]: how to join the next


def style(description: Description, choices: Choices) -> _Style:
    return _Style(choices, nouns={}, small=choices.pick(_SMALL), big=choices.pick(_BIG), last=[None, False])


def _noun(shape: str, style: _Style) -> _Noun:
    """The noun this text uses for `shape`, drawn when the text first says it."""
    noun = style.nouns.get(shape)
    if noun is None:
        noun = style.nouns[shape] = style.choices.pick(_NOUNS[shape])
    return noun


def _adjectives(mention: Mention, noun: _Noun, style: _Style) -> list[tuple[str, str]]:
    adjectives = []
    if mention.name_size:
        adjectives.append(style.big if mention.size == "big" else style.small)
    if mention.name_colour:
        if mention.colour == "blue":
            adjectives.append(_BLUES[mention.shade])
        else:
            adjectives.append((_SHADES[mention.shade] + _COLOURS[mention.colour], "hard"))
    if noun.epithet:
        adjectives.append(noun.epithet)
    return adjectives


def _agreeing(words: tuple[str, ...], mention: Mention, style: _Style) -> str:
    """The form of an agreeing word (participle, short adjective, pronoun) for `mention` as the subject."""
    return words[_PLURAL if mention.count > 1 else _noun(mention.shape, style).gender]


def _noun_phrase(mention: Mention, case: str, style: _Style, determiner: str = "") -> str:
    """The noun phrase in `case` (nom, acc, gen, ins), with the numeral rules for its count.

    `determiner`: "" (a new group, or a known one said bare), "this" (этот …), "both" (a known pair: оба).
    """
    noun = _noun(mention.shape, style)
    count = mention.count
    if case == "acc" and noun.animate and (count > 1 or noun.gender == _MASCULINE):
        case = "gen" if count <= 4 else "nom"  # animate accusative is the genitive, but "пять мышей" stays
    elif case == "acc" and count > 1:
        case = "nom"  # inanimate accusative of a numeral phrase: its nominative
    if count == 1:
        adjective_form, adjective_case, noun_form = noun.gender, case, noun.singular[case]
        words = [_THIS[case][noun.gender]] if determiner == "this" else []
    else:
        feminine = noun.gender == _FEMININE
        if determiner == "both":
            words = [_BOTH[case][feminine]]
        else:
            numeral = "две" if count == 2 and feminine and case == "nom" else _NUMERALS[case][count]
            words = ([_THIS[case][_PLURAL]] if determiner == "this" else []) + [numeral]
        adjective_form = _PLURAL
        if case != "nom":
            adjective_case, noun_form = case, noun.plural[case]
        elif count <= 4:  # "два больших квадрата", "две маленькие звезды"
            adjective_case, noun_form = "nom" if feminine else "gen", noun.singular["gen"]
        else:
            adjective_case, noun_form = "gen", noun.plural["gen"]
    words += [stem + _ENDINGS[declension][adjective_case][adjective_form]
              for stem, declension in _adjectives(mention, noun, style)]
    words.append(noun_form)
    return " ".join(words)


def _reference(mention: Mention, case: str, style: _Style, last: bool = False) -> str:
    """A mention as the text says it: a new group plainly, a known one bare, as "оба" or with "этот".

    "этот" only on a short phrase that does not stand `last` in its clause (a rheme "… это сердце" jars).
    """
    if not mention.known:
        return _noun_phrase(mention, case, style)
    pointing = () if last or (mention.name_size and mention.name_colour) else ("this",)
    return _noun_phrase(mention, case, style, style.choices.pick(("both", *pointing) if mention.count == 2
                                                                 else ("", *pointing)))


def _with(instrumental_phrase: str) -> str:
    """"с" + phrase, or "со" before a hard cluster ("со звездой", "со светло-красным")."""
    first, second = instrumental_phrase[:2]
    return ("со " if first in "зсшжщ" and second not in _VOWELS else "с ") + instrumental_phrase


def _place(relation: str, anchor: Mention, style: _Style) -> str:
    """"слева от круга", "рядом со звездой": where a relation puts its subject, with the anchor declined."""
    preposition, case = style.choices.pick(_RELATIONS[relation])
    anchor_phrase = _reference(anchor, case, style)
    if preposition.endswith(" с"):
        return f"{preposition[:-2]} {_with(anchor_phrase)}"
    return f"{preposition} {anchor_phrase}"


def _overview_list(description: Description, case: str, style: _Style) -> str:
    """Every mention in `case`, the first with its relative clause when the plan has one."""
    phrases = [_noun_phrase(m, case, style) for m in description.mentions]
    tail = f" на {_BACKGROUNDS[description.background]}ом фоне" if description.background else ""
    if description.relative is None:
        return join_list(phrases, " и ") + tail
    first, anchor = description.mentions[:2]
    which = _agreeing(_WHICH, first, style)
    verb = _agreeing(style.choices.pick((_IS_LOCATED, _PLACED)), first, style)
    clause = f"{phrases[0]}, {which} {verb} {_place(description.relative, anchor, style)}"
    rest = phrases[2:]
    if not rest:  # a comma closes the relative clause before what belongs to the main clause again
        return clause + ("," + tail if tail else "")
    if len(rest) == 1:
        return f"{clause}, и {rest[0]}{tail}"
    return f"{clause}, {join_list(rest, ' и ')}{tail}"


def sentence(clauses: list[str], style: _Style) -> str:
    """One written sentence; a joined clause already begins with its conjunction (", а …"), which it keeps
    in a chain too: a bare comma there would run into a list of places ("вверху, справа и внизу")."""
    return capitalise("".join(clauses)) + "."


def overview(description: Description, style: _Style) -> str:
    opener = description.opener
    first = description.mentions[0]
    if opener == "see":
        return f"{style.choices.pick(_SEE)} {_overview_list(description, 'acc', style)}"
    objects = _overview_list(description, "nom", style)
    if opener == "prefix":  # the participle agrees with the nearest noun phrase, as before any list
        verb = _agreeing(style.choices.pick(_PREFIX_VERBS), first, style)
        return f"{CAPTION_PREFIXES['ru']} {verb} {objects}"
    if opener == "depicted":
        return f"{_agreeing(style.choices.pick(_DEPICTED_VERBS), first, style)} {objects}"
    if opener == "exist":
        return f"{style.choices.pick(_EXIST)} {objects}"
    return objects  # fragment: a bare noun-phrase caption


def _located(kind: str, sentence: RelationSentence | PositionSentence, place: str, style: _Style) -> str:
    """A clause placing the subject: known first ("звезда находится …"), new or inverted last ("… звезда")."""
    subject = sentence.subject
    verb = _agreeing(style.choices.pick(_LOCATING_VERBS[kind, sentence.form]), subject, style)
    look = (subject.shape, subject.colour, subject.shade, subject.size)
    previous_look, previous_first = style.last
    first = subject.pronoun or (subject.known and sentence.form != 1)
    style.last[:] = [look, first]
    if subject.pronoun:
        clause = f"{_agreeing(_PRONOUNS, subject, style)} {verb} {place}"
    elif first:
        clause = f"{_reference(subject, 'nom', style)} {verb} {place}"
    else:
        clause = f"{place} {verb} {_reference(subject, 'nom', style, last=True)}"
    if not sentence.joined:
        return clause
    if subject.pronoun and previous_first:  # "звезда находится вверху, а также слева от круга"
        return f"{_ALSO}{place}"
    return (", и " if look == previous_look else style.choices.pick(_JOINS)) + clause


def relation(sentence: RelationSentence, style: _Style) -> str:
    return _located("relation", sentence, _place(sentence.relation, sentence.object, style), style)


def position(sentence: PositionSentence, style: _Style) -> str:
    places = [style.choices.pick(_POSITIONS[p]) for p in sentence.positions]
    return _located("position", sentence, join_list(places, " и "), style)


def count(sentence: CountSentence, style: _Style) -> str:
    style.last[:] = [None, False]
    total = sentence.total
    thing = style.choices.pick(_THINGS)
    if total == 1:
        one = _ONE[thing.gender]
        return (f"на картинке только {one} {thing.singular['nom']}", f"{_SHOWN[thing.gender]} всего {one} "
                f"{thing.singular['nom']}", f"{thing.singular['nom']} на картинке всего {one}")[sentence.form]
    numeral = "две" if total == 2 and thing.gender == _FEMININE else _NUMERALS["nom"][total]
    counted = f"{numeral} {thing.singular['gen'] if total <= 4 else thing.plural['gen']}"
    return (f"всего на картинке {counted}", f"всего изображено {counted}",
            f"{thing.plural['gen']} на картинке всего {numeral}")[sentence.form]


def background(sentence: BackgroundSentence, style: _Style) -> str:
    style.last[:] = [None, False]
    stem = _BACKGROUNDS[sentence.background]
    return style.choices.pick(((f"фон {stem}ый", f"фон картинки {stem}ый"),
                               (f"все изображено на {stem}ом фоне", f"все нарисовано на {stem}ом фоне"),
                               (f"на картинке {stem}ый фон", f"у картинки {stem}ый фон"))[sentence.form])
