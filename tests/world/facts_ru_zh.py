"""Parse-back of Russian and Chinese texts (test_facts.py): what a reader learns from them.

The word lists are written here from each language's grammar, not taken from the realisers. Neither
language has articles, so a reader takes a noun phrase as new when no group named before fits it; the
languages' own marks of a known group must then agree: Russian "этот"/"оба"/pronouns and a subject before
its verb ("Звезда находится вверху"), Chinese 这, a bare noun, 它/它们 and a subject before 在/位于. Besides
the facts, a parser checks the agreement a reader relies on: Russian verb and participle number and gender,
numeral case after each preposition, "который" after its noun; Chinese measure words and 它 vs 它们.
"""

from __future__ import annotations

import re
from dataclasses import replace

from tests.world.facts import Facts, Phrase

# ---------------------------------------------------------------------------------------------- Russian

# every form of each noun (nom/acc/gen/ins, singular and plural) and its gender: m, f, n
_RU_NOUNS = [
    (r"круг(|а|ом|и|ов|ами)", "circle", "m"),
    (r"квадрат(|а|ом|ы|ов|ами)", "square", "m"),
    (r"прямоугольник(|а|ом|и|ов|ами)", "rectangle", "m"),
    (r"треугольник(|а|ом|и|ов|ами)", "triangle", "m"),
    (r"звезд(а|у|ы|ой|ами|)|звездочк(а|у|и|ой|ами)|звездочек", "star", "f"),
    (r"сердц(е|а|ем|ами)|сердец|сердечк(о|а|ом|и|ами)|сердечек", "heart", "n"),
    (r"ромб(|а|ом|ы|ов|ами)", "diamond", "m"),
    (r"бант(ик)?(|а|ом|ы|и|ов|ами)", "bow_ribbon", "m"),
    (r"лук(|а|ом|и|ов|ами)", "bow_weapon", "m"),
    (r"мыш(ь|и|ью|ей|ами)", "bat_animal", "f"),  # only after "летучая"
    (r"бит(а|у|ы|ой|ами|)", "bat_club", "f"),
    (r"ключ(|а|ом|и|ей|ами)", "key_door", "m"),
    (r"клавиш(а|у|и|ей|ами|)", "key_keyboard", "f"),
    (r"орех(|а|ом|и|ов|ами)", "nut_food", "m"),
    (r"гайк(а|у|и|ой|ами)|гаек", "nut_hardware", "f"),
]
_RU_ADJECTIVE_ENDING = r"(ый|ий|ой|ая|яя|ое|ее|ые|ие|ую|юю|ого|его|ым|им|ыми|ими|ых|их|ей)"
_RU_COLOURS = {"красн": ("red", None), "зелен": ("green", None), "желт": ("yellow", None),
               "фиолетов": ("purple", None), "оранжев": ("orange", None), "сер": ("grey", None),
               "голуб": ("blue", "light"), "син": ("blue", "dark")}  # Russian names light and dark blue apart
_RU_COLOUR = re.compile(rf"(светло-|темно-)?({'|'.join(_RU_COLOURS)}){_RU_ADJECTIVE_ENDING}")
_RU_SIZE = re.compile(rf"(маленьк|небольш|больш|крупн){_RU_ADJECTIVE_ENDING}")
_RU_FLYING = re.compile(rf"летуч{_RU_ADJECTIVE_ENDING}")
# numerals by count and case (the accusative of an inanimate numeral phrase is its nominative)
_RU_NUMERALS = {
    **dict.fromkeys(("два", "две"), (2, "nom")), "двух": (2, "gen"), "двумя": (2, "ins"),
    "три": (3, "nom"), "трех": (3, "gen"), "тремя": (3, "ins"),
    "четыре": (4, "nom"), "четырех": (4, "gen"), "четырьмя": (4, "ins"),
    "пять": (5, "nom"), "пяти": (5, "gen"), "пятью": (5, "ins"),
    "шесть": (6, "nom"), "шести": (6, "gen"), "шестью": (6, "ins"),
    "семь": (7, "nom"), "семи": (7, "gen"), "семью": (7, "ins"),
    "восемь": (8, "nom"), "восьми": (8, "gen"), "восемью": (8, "ins"),
}
_RU_BOTH = {"оба": "nom", "обе": "nom", "обоих": "gen", "обеих": "gen", "обоими": "ins", "обеими": "ins"}
_RU_THIS = {"этот", "эта", "это", "эти", "эту", "этого", "этой", "этих", "этим", "этими"}
_RU_PRONOUNS = {"он": "m", "она": "f", "оно": "n", "они": "plural"}
_RU_POSITIONS = {
    "в левом верхнем углу": "top_left", "вверху": "top", "сверху": "top",
    "в правом верхнем углу": "top_right",
    "слева": "left", "в центре": "centre", "посередине": "centre", "справа": "right",
    "в левом нижнем углу": "bottom_left", "внизу": "bottom", "снизу": "bottom",
    "в правом нижнем углу": "bottom_right",
}
_RU_RELATIONS = {"слева от": ("left_of", "gen"), "справа от": ("right_of", "gen"), "над": ("above", "ins"),
                 "под": ("below", "ins"), "рядом с": ("next_to", "ins"), "рядом со": ("next_to", "ins"),
                 "возле": ("next_to", "gen")}
_RU_GENDERS = {shape: gender for _, shape, gender in _RU_NOUNS}
_RU_BACKGROUNDS = {"бел": "white", "бежев": "beige", "черн": "black"}
_RU_RELATION = re.compile(rf"^({'|'.join(sorted(_RU_RELATIONS, key=len, reverse=True))}) (.+)$")
# a verb that places its subject, with the gender/number it agrees with ("plural", or None: any singular)
_RU_PLACING = re.compile(r" (находится|находятся|(?:расположен|виден|видн|нарисован)(?:а|о|ы)?) ")
_RU_NUMBER_WORDS = {"один": 1, "одна": 1, "два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5, "шесть": 6,
                    "семь": 7, "восемь": 8}
_RU_OPENER = re.compile(r"^(?:На картинке (?P<prefix>изображен[аоы]?|виден|видн[аоы]|нарисован[аоы]?|есть) |"
                        r"На рисунке есть |(?P<see>Мы видим|Можно увидеть) |"
                        r"(?P<depicted>Изображен[аоы]?|Нарисован[аоы]?) |На картинке )?(?P<rest>.+)$")
_RU_RELATIVE = re.compile(r"^(?P<head>[^,]+), (?P<which>котор(?:ый|ая|ое|ые)) (?P<verb>находится|находятся|"
                          r"расположен[аоы]?) (?P<place>[^,]+)(?:, (?P<rest>.+))?$")


def _ru_agreement(word: str) -> str | None:
    """The gender ("m", "f", "n") or "plural" an agreeing verb shows; None for "находится" (any singular)."""
    if word == "находится":
        return None
    if word == "находятся":
        return "plural"
    return {"а": "f", "о": "n", "ы": "plural"}.get(word[-1], "m")  # виден, видна, видно, видны


def _ru_phrase(text: str, cases: set[str]) -> tuple[Phrase, str, bool]:
    """A Russian noun phrase in one of `cases`: (phrase, its gender or "plural", said as known)."""
    words = text.split()
    known = False
    if words[0] in _RU_THIS:
        known, words = True, words[1:]
    count = 1
    if words[0] in _RU_BOTH:
        assert _RU_BOTH[words[0]] in cases or "acc" in cases, f"«{words[0]}» in the wrong case: {text}"
        known, count, words = True, 2, words[1:]
    elif words[0] in _RU_NUMERALS:
        count, case = _RU_NUMERALS[words[0]]
        assert case in cases or "acc" in cases and case in ("nom", "gen"), f"numeral in a wrong case: {text}"
        words = words[1:]
    size = colour = shade = None
    flying = False
    for word in words[:-1]:
        if match := _RU_SIZE.fullmatch(word):
            size = "small" if match[1] in ("маленьк", "небольш") else "big"
        elif match := _RU_COLOUR.fullmatch(word):
            colour, shade = _RU_COLOURS[match[2]]
            shade = shade or {"светло-": "light", "темно-": "dark", None: "plain"}[match[1]]
        elif _RU_FLYING.fullmatch(word):
            flying = True
        else:
            raise AssertionError(f"unknown word «{word}» in the noun phrase «{text}»")
    shape, gender = next(((shape, gender) for pattern, shape, gender in _RU_NOUNS
                          if re.fullmatch(pattern, words[-1])), (None, None))
    assert shape is not None, f"no noun in «{text}»"
    assert (shape == "bat_animal") == flying, f"«мышь» is a bat only as «летучая мышь»: {text}"
    return Phrase(frozenset({shape}), count, colour, shade, size), "plural" if count > 1 else gender, known


def _ru_place(text: str) -> tuple[str | None, tuple[Phrase, str, bool] | frozenset[str]]:
    """(relation, its anchor read in the preposition's case) or (None, cells) for a place phrase."""
    if match := _RU_RELATION.match(text):
        relation, case = _RU_RELATIONS[match[1]]
        return relation, _ru_phrase(match[2], {case})
    parts = re.split(r", | и ", text)
    assert all(part in _RU_POSITIONS for part in parts), f"not a place: «{text}»"
    return None, frozenset(_RU_POSITIONS[part] for part in parts)


class _Reader:
    """What a reader keeps while reading a text: the groups named so far and the last subject."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.named: list[Phrase] = list(facts.overview)
        self.subject: Phrase | None = None

    def meet(self, phrase: Phrase, marked_known: bool, where: str, counted: bool = True) -> Phrase:
        """Record a later noun phrase: new unless a group named before fits it; a phrase marked as known must
        fit one, a new one must be `counted` (Chinese: numeral and measure word)."""
        fits = any(_fits(phrase, earlier) for earlier in self.named)
        assert fits or not marked_known, f"a group said as known was never named: {where}"
        assert fits or counted, f"a new group without numeral and measure word: {where}"
        said = replace(phrase, new=not fits)
        if not fits:
            self.named.append(said)
        self.facts.phrases.append(said)
        return said

    def refer_back(self, where: str) -> Phrase:
        """The last subject again, for a pronoun or a left-out subject."""
        assert self.subject is not None, f"no subject before to refer back to: {where}"
        said = replace(self.subject, new=False)
        self.facts.phrases.append(said)
        return said


def _fits(phrase: Phrase, earlier: Phrase) -> bool:
    """Could `phrase` refer back to the group `earlier` named (nothing said contradicts)?"""
    return phrase.shapes == earlier.shapes and all(
        a is None or b is None or a == b for a, b in (
            (phrase.count, earlier.count), (phrase.colour, earlier.colour), (phrase.shade, earlier.shade),
            (phrase.size, earlier.size)))


def _ru_overview(sentence: str, facts: Facts) -> bool:
    """Read `sentence` as the overview if it is one (an opener, or none, and a list of noun phrases)."""
    match = _RU_OPENER.match(sentence)
    rest = match["rest"][:1].lower() + match["rest"][1:]
    if background := re.search(r",? на (бел|бежев|черн)ом фоне$", rest):
        rest = rest[:background.start()]
    cases = {"acc"} if match["see"] else {"nom"}
    relative = _RU_RELATIVE.match(rest)
    items = [relative["head"]] if relative else []
    if relative:
        rest = relative["rest"] or ""
        rest = rest[2:] if rest.startswith("и ") else rest
    items += [item for item in re.split(r", | и ", rest) if item]
    try:
        phrases = [_ru_phrase(item, cases) for item in items]
    except AssertionError:
        if match["prefix"] or match["see"] or match["depicted"]:
            raise
        return False  # not a list of noun phrases: the text has no overview
    if relative:
        head, agreement, _ = phrases[0]
        which = {"который": "m", "которая": "f", "которое": "n", "которые": "plural"}[relative["which"]]
        assert which == agreement, f"«{relative['which']}» does not agree with its noun: {sentence}"
        assert _ru_agreement(relative["verb"]) in (agreement, None), f"verb does not agree: {sentence}"
        relation, (anchor, _, _) = _ru_place(relative["place"])
        phrases.insert(1, (anchor, "", False))
        facts.relations.append((head, relation, anchor))
    verb = match["prefix"] if match["prefix"] != "есть" else None
    verb = verb or match["depicted"]
    if verb:  # the participle before a list agrees with its first noun phrase
        assert _ru_agreement(verb.lower()) in (phrases[0][1], None), f"participle does not agree: {sentence}"
    facts.overview = [phrase for phrase, _, _ in phrases]
    if background:
        facts.backgrounds.append(_RU_BACKGROUNDS[background[1]])
    return True


def _ru_clause(clause: str, joint: str | None, reader: _Reader) -> None:
    """One clause placing one group: "звезда находится вверху", "слева от круга находится звезда"."""
    pronoun = joint == "а также"  # the previous subject, its verb left out: "…, а также слева от круга"
    if pronoun:
        subject_first, place, agreement, verb = True, clause, None, None
    else:
        parts = _RU_PLACING.split(clause)
        assert len(parts) == 3, f"no verb placing a subject in «{clause}»"
        left, verb, right = parts
        subject_first = not (_RU_RELATION.match(left) or left.split(", ")[0].split(" и ")[0] in _RU_POSITIONS)
        subject_text, place = (left, right) if subject_first else (right, left)
        pronoun = subject_text in _RU_PRONOUNS
        if pronoun:
            agreement = _RU_PRONOUNS[subject_text]
            antecedent = reader.subject
            assert antecedent is not None, f"a pronoun without antecedent: {clause}"
            assert agreement == ("plural" if antecedent.count > 1 else _RU_GENDERS[min(antecedent.shapes)]), \
                f"«{subject_text}» does not agree with its antecedent: {clause}"
    relation, where = _ru_place(place)
    anchor = None
    if relation and not subject_first:  # the anchor is read first
        anchor = reader.meet(where[0], where[2], clause)
    if pronoun:
        subject = reader.refer_back(clause)
    else:  # a subject before its verb is known: a new one stands last
        phrase, agreement, known = _ru_phrase(subject_text, {"nom"})
        subject = reader.meet(phrase, known or subject_first, clause)
    if verb is not None:
        assert _ru_agreement(verb) in (agreement, None) and (verb != "находится" or agreement != "plural"), \
            f"«{verb}» does not agree with its subject: {clause}"
    if relation:
        anchor = anchor or reader.meet(where[0], where[2], clause)
        reader.facts.relations.append((subject, relation, anchor))
    else:
        reader.facts.positions.append((subject, where))
    reader.subject = subject


def parse_russian(text: str) -> Facts:
    facts = Facts()
    assert text.endswith("."), f"a text ends with a full stop: {text}"
    sentences = text[:-1].split(". ")
    has_overview = _ru_overview(sentences[0], facts)
    reader = _Reader(facts)
    for sentence in sentences[has_overview:]:
        lower = sentence[:1].lower() + sentence[1:]
        if re.search(r"\b(объект|предмет|фигур)", lower):
            numbers = [_RU_NUMBER_WORDS[word] for word in lower.split() if word in _RU_NUMBER_WORDS]
            assert len(numbers) == 1, f"no total in «{sentence}»"
            facts.totals.append(numbers[0])
            reader.subject = None  # a pronoun refers to the subject of the sentence just before
        elif "фон" in lower:
            match = re.search(r"\b(бел|бежев|черн)(ый|ом)\b", lower)
            assert match, f"no background colour in «{sentence}»"
            facts.backgrounds.append(_RU_BACKGROUNDS[match[1]])
            reader.subject = None
        else:
            pieces = re.split(r", (а также|а|и) ", lower)
            _ru_clause(pieces[0], None, reader)
            for joint, clause in zip(pieces[1::2], pieces[2::2]):
                _ru_clause(clause, joint, reader)
    return facts


# ---------------------------------------------------------------------------------------------- Chinese

# each noun with the measure words that count it
_ZH_NOUNS = {"圆形": ("circle", "个"), "圆": ("circle", "个"), "正方形": ("square", "个"),
             "方块": ("square", "个"), "长方形": ("rectangle", "个"), "矩形": ("rectangle", "个"),
             "三角形": ("triangle", "个"), "星星": ("star", "颗个"), "五角星": ("star", "个颗"),
             "心形": ("heart", "个"), "爱心": ("heart", "颗个"), "菱形": ("diamond", "个"),
             "蝴蝶结": ("bow_ribbon", "个"), "弓": ("bow_weapon", "张把"), "蝙蝠": ("bat_animal", "只"),
             "球棒": ("bat_club", "根"), "钥匙": ("key_door", "把"), "按键": ("key_keyboard", "个"),
             "坚果": ("nut_food", "颗个"), "螺母": ("nut_hardware", "个")}
_ZH_COLOURS = {"红": "red", "绿": "green", "蓝": "blue", "黄": "yellow", "紫": "purple", "橙": "orange",
               "灰": "grey"}
_ZH_NUMBERS = {"一": 1, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8}
_ZH_PHRASE = re.compile(
    rf"(?P<this>这)?(?P<number>[{''.join(_ZH_NUMBERS)}])?(?P<measure>[个颗只张根把])?"
    rf"(?:(?P<shade>[浅深])?(?P<colour>[{''.join(_ZH_COLOURS)}])色的?)?(?P<size>[大小])?"
    rf"(?P<noun>{'|'.join(sorted(_ZH_NOUNS, key=len, reverse=True))})")
_ZH_SIDES = {"左边": "left_of", "左面": "left_of", "右边": "right_of", "右面": "right_of", "上方": "above",
             "上面": "above", "下方": "below", "下面": "below", "旁边": "next_to"}
_ZH_SIDE = "|".join(_ZH_SIDES)
_ZH_POSITIONS = {"左上角": "top_left", "顶部": "top", "上部": "top", "右上角": "top_right",
                 "左侧": "left", "中间": "centre", "中央": "centre", "右侧": "right",
                 "左下角": "bottom_left", "底部": "bottom", "下部": "bottom", "右下角": "bottom_right"}
_ZH_OPENER = re.compile(r"(图为|图中有|画面中有|有|我们可以看到|图中可以看到|可以看到|画面上是|"
                        r"图上画的是)?(.+)")
_ZH_RELATIVE = re.compile(rf"(?P<number>[{''.join(_ZH_NUMBERS)}])(?P<measure>[个颗只张根把])(?:位于|在)"
                          rf"(?P<anchor>.+?)(?P<side>{_ZH_SIDE})的(?P<head>.+)")
_ZH_BACKGROUNDS = {"白色": "white", "米色": "beige", "黑色": "black"}
_ZH_TOTAL = re.compile(r"(?:图中|整幅图)(?:总共有|共包含|只有|只包含)([一两三四五六七八])个(?:物体|图形)|"
                       r"图中的(?:物体|图形)(?:总共有|只有)([一两三四五六七八])个")


def _zh_phrase(text: str) -> tuple[Phrase, bool, bool]:
    """A Chinese noun phrase: (phrase, said as known: 这 or bare, counted with a numeral)."""
    match = _ZH_PHRASE.fullmatch(text)
    assert match, f"not a noun phrase: «{text}»"
    shape, measures = _ZH_NOUNS[match["noun"]]
    assert bool(match["measure"]) == bool(match["number"] or match["this"]), f"numeral, measure: {text}"
    assert not match["measure"] or match["measure"] in measures, f"wrong measure word: {text}"
    count = _ZH_NUMBERS[match["number"]] if match["number"] else 1 if match["this"] else None  # bare: untold
    colour = _ZH_COLOURS.get(match["colour"])
    # 蓝色 without 浅/深 leaves the shade untold (it translates English plain "blue")
    shade = {"浅": "light", "深": "dark"}.get(match["shade"], None if colour == "blue" else "plain") \
        if colour else None
    size = {"大": "big", "小": "small", None: None}[match["size"]]
    known = bool(match["this"]) or not match["number"]
    return Phrase(frozenset({shape}), count, colour, shade, size), known, bool(match["number"])


def _zh_place(text: str) -> tuple[str | None, tuple[Phrase, bool, bool] | frozenset[str]]:
    """(relation, its anchor read) or (None, cells) for a place ("三角形的左边", "左上角和中间")."""
    if match := re.fullmatch(rf"(.+)的({_ZH_SIDE})", text):
        return _ZH_SIDES[match[2]], _zh_phrase(match[1])
    parts = re.split("、|和", text)
    assert all(part in _ZH_POSITIONS for part in parts), f"not a place: «{text}»"
    return None, frozenset(_ZH_POSITIONS[part] for part in parts)


def _zh_overview(sentence: str, facts: Facts) -> bool:
    clauses = sentence.split("，")
    opener, rest = _ZH_OPENER.fullmatch(clauses[0]).groups()
    items = re.split("、|和", rest)
    phrases = []
    relation = None
    try:
        for item in items:
            if relative := _ZH_RELATIVE.fullmatch(item):  # "一颗位于蓝色圆形左边的红色星星"
                head, _, _ = _zh_phrase(relative["number"] + relative["measure"] + relative["head"])
                anchor, _, _ = _zh_phrase(relative["anchor"])
                phrases += [head, anchor]
                relation = (head, _ZH_SIDES[relative["side"]], anchor)
            else:
                phrase, known, counted = _zh_phrase(item)
                assert counted, f"the overview counts every group: {sentence}"
                phrases.append(phrase)
    except AssertionError:
        if opener:
            raise
        return False  # no list of noun phrases: the text has no overview
    facts.overview = phrases
    facts.relations += [relation] if relation else []
    for clause in clauses[1:]:
        match = re.fullmatch("背景是(白色|米色|黑色)的", clause)
        assert match, f"unknown clause in the overview: {sentence}"
        facts.backgrounds.append(_ZH_BACKGROUNDS[match[1]])
    return True


def _zh_clause(clause: str, reader: _Reader) -> None:
    """One clause placing one group ("星星在顶部", "顶部有一颗星星", "顶部是星星", "在顶部可以看到星星")."""
    subject_first = each = False
    if match := re.fullmatch("(.+)各有(.+)", clause):  # one in each place
        place, subject_text, each = match[1], match[2], True
    elif match := re.fullmatch("在(.+?)(?:可以看到|能看到)(.+)", clause):
        place, subject_text = match[1], match[2]
    elif match := re.fullmatch("(.+?)[有是](.+)", clause):
        place, subject_text = match[1], match[2]
    elif match := re.fullmatch("(.*?)(?:分别)?(?:位于|在)(.+)", clause):
        subject_text, place, subject_first = match[1], match[2], True
    else:
        raise AssertionError(f"unknown clause «{clause}»")
    relation, where = _zh_place(place)
    anchor = None
    if relation and not subject_first:  # the anchor is read first
        anchor = reader.meet(*where, clause)
    if subject_first and subject_text in ("", "它", "它们"):  # zero subject or pronoun: the last subject
        subject = reader.refer_back(clause)
        if subject_text:
            assert (subject_text == "它们") == (subject.count is not None and subject.count > 1), \
                f"«{subject_text}» does not agree with its antecedent: {clause}"
    else:  # a subject before 在/位于 is known: a new one follows the place
        phrase, known, counted = _zh_phrase(subject_text)
        if each:
            assert phrase.count == 1, f"各有 takes one per place: {clause}"
            phrase = replace(phrase, count=len(where))
        subject = reader.meet(phrase, known or subject_first, clause, counted)
    if relation:
        anchor = anchor or reader.meet(*where, clause)
        reader.facts.relations.append((subject, relation, anchor))
    else:
        reader.facts.positions.append((subject, where))
    reader.subject = subject


def parse_chinese(text: str) -> Facts:
    facts = Facts()
    assert text.endswith("。") and " " not in text, f"a text ends with 。 and has no spaces: {text}"
    sentences = text[:-1].split("。")
    has_overview = _zh_overview(sentences[0], facts)
    reader = _Reader(facts)
    for sentence in sentences[has_overview:]:
        if match := re.fullmatch(_ZH_TOTAL, sentence):
            facts.totals.append(_ZH_NUMBERS[match[1] or match[2]])
            reader.subject = None
        elif match := re.search("(白色|米色|黑色)", sentence):
            assert "背景" in sentence or "底色" in sentence, f"unknown sentence «{sentence}»"
            facts.backgrounds.append(_ZH_BACKGROUNDS[match[1]])
            reader.subject = None
        else:
            for clause in sentence.split("，"):
                _zh_clause(clause.removeprefix("而"), reader)
    return facts


PARSERS = {"ru": parse_russian, "zh": parse_chinese}
