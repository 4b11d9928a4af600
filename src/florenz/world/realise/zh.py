"""Chinese: no inflection, numeral + measure word (两个, 一颗星星, 一只蝙蝠, 一把钥匙), colour + 的 before
size and noun ("红色的小星星").

A group is introduced with 一 (or its count) and a measure word, or by 有 after the place ("三角形的左边有一颗
小星星"); a known group is a bare noun in topic position ("星星在三角形的左边"), or takes 这 + measure word
("这颗星星"), and a repeated subject is 它/它们 or, after a comma, nothing at all. Several objects in several
places take 分别 or 各; 两, not 二, counts before a measure word. A relative clause stands before its noun
("一颗位于蓝色圆形左边的红色星星"). Sentences end in "。", coordinated clauses are joined by "，", and
sentences follow each other without spaces.
"""

from __future__ import annotations

from typing import NamedTuple

from florenz.world.languages import CAPTION_PREFIXES
from florenz.world.realise.common import Choices, join_list, said_shade
from florenz.world.realise.plan import (
    BackgroundSentence,
    CountSentence,
    Description,
    Mention,
    PositionSentence,
    RelationSentence,
)

SEPARATOR = ""
# per shape, (noun, measure word) pairs a native speaker uses for it; the first is canonical
_NOUNS = {
    "circle": (("圆形", "个"), ("圆", "个")),
    "square": (("正方形", "个"), ("方块", "个")),
    "rectangle": (("长方形", "个"), ("矩形", "个")),
    "triangle": (("三角形", "个"),),
    "star": (("星星", "颗"), ("五角星", "个")),
    "heart": (("心形", "个"), ("爱心", "颗")),
    "diamond": (("菱形", "个"),),
    "bow_ribbon": (("蝴蝶结", "个"),),
    "bow_weapon": (("弓", "张"),),
    "bat_animal": (("蝙蝠", "只"),),
    "bat_club": (("球棒", "根"),),
    "key_door": (("钥匙", "把"),),
    "key_keyboard": (("按键", "个"),),
    "nut_food": (("坚果", "颗"),),
    "nut_hardware": (("螺母", "个"),),
}
_COLOURS = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "purple": "紫色",
            "orange": "橙色", "grey": "灰色"}
_SHADES = {"plain": "", "light": "浅", "dark": "深"}
_SIZES = {"small": "小", "big": "大"}
# 两, not 二, before a measure word; 1-8 is all a scene holds
_NUMBERS = ("", "一", "两", "三", "四", "五", "六", "七", "八")
_RELATIONS = {"left_of": ("左边", "左面"), "right_of": ("右边", "右面"), "above": ("上方", "上面"),
              "below": ("下方", "下面"), "next_to": ("旁边",)}
_POSITIONS = {
    "top_left": ("左上角",), "top": ("顶部", "上部"), "top_right": ("右上角",),
    "left": ("左侧",), "centre": ("中间", "中央"), "right": ("右侧",),
    "bottom_left": ("左下角",), "bottom": ("底部", "下部"), "bottom_right": ("右下角",),
}
_BACKGROUNDS = {"white": "白色", "beige": "米色", "black": "黑色"}
_THINGS = ("物体", "图形")  # what the count sentence counts, both with 个
_LOCATED = ("在", "位于")
_LOCATED_BEFORE_NOUN = ("位于", "在")  # a relative clause reads better with the written 位于
_SEE = ("可以看到", "能看到")
_OPENINGS = {"exist": ("图中有", "画面中有", "有"), "see": ("可以看到", "我们可以看到", "图中可以看到"),
             "depicted": ("画面上是", "图上画的是"), "fragment": ("",)}
_JOINS = ("，", "，而")  # 而 contrasts two different subjects

# every surface form of a content word, by class (skeletons.py segments Chinese by longest match over these)
CONTENT_WORDS = {
    **{noun: "SHAPE" for nouns in _NOUNS.values() for noun, _ in nouns},
    **{shade + colour: "COLOUR" for colour in _COLOURS.values() for shade in _SHADES.values()},
    **{size: "SIZE" for size in _SIZES.values()},
    **{number: "NUMBER" for number in _NUMBERS if number},
    **{side: "RELATION" for sides in _RELATIONS.values() for side in sides},
    **{place: "POSITION" for places in _POSITIONS.values() for place in places},
    **{colour: "BACKGROUND" for colour in _BACKGROUNDS.values()},
}


class _Style(NamedTuple):
    choices: Choices  # per-clause choices (verb, demonstrative) are drawn as the text is written
    plain_blue: bool
    nouns: dict[str, tuple[str, str]]  # the noun and measure word this text uses for each shape it names
    things: str
    last: list  # [look of the last clause's subject or None, whether it came first]: how to join the next


def style(description: Description, choices: Choices) -> _Style:
    return _Style(choices, description.plain_blue, nouns={}, things=choices.pick(_THINGS), last=[None, False])


def _noun(shape: str, style: _Style) -> tuple[str, str]:
    """The noun and measure word this text uses for `shape`, drawn when the text first says it."""
    noun = style.nouns.get(shape)
    if noun is None:
        noun = style.nouns[shape] = style.choices.pick(_NOUNS[shape])
    return noun


def _described(mention: Mention, style: _Style, linked: bool = True) -> str:
    """Colour, size and noun: "红色的小圆形"; without 的 inside a larger modifier ("红色小圆形的左边")."""
    words = ""
    if mention.name_colour:
        shade = said_shade(mention.colour, mention.shade, style.plain_blue)
        words += _SHADES[shade] + _COLOURS[mention.colour] + ("的" if linked else "")
    if mention.name_size:
        words += _SIZES[mention.size]
    return words + _noun(mention.shape, style)[0]


def _measured(mention: Mention, style: _Style, count: int | None = None) -> str:
    """Numeral and measure word: "两个", "一颗"."""
    return _NUMBERS[count or mention.count] + _noun(mention.shape, style)[1]


def _reference(mention: Mention, style: _Style, linked: bool = True, last: bool = False) -> str:
    """A new group counted ("一颗红色的小星星"); a known one bare ("小星星", "两颗星星") or with 这
    ("这颗星星"), 这 only where the phrase does not stand `last` as the new information of its clause."""
    described = _described(mention, style, linked)
    if not mention.known:
        return _measured(mention, style) + described
    pointing = style.choices.index(2) == 1 and not last
    if mention.count == 1:  # "这颗星星", without 一
        return ("这" + _noun(mention.shape, style)[1] if pointing else "") + described
    return ("这" if pointing else "") + _measured(mention, style) + described


def _place(relation: str, anchor: Mention, style: _Style) -> str:
    """"三角形的左边": the landmark without 的 inside, so that only one 的 precedes the side."""
    return f"{_reference(anchor, style, linked=False)}的{style.choices.pick(_RELATIONS[relation])}"


def _overview_list(description: Description, style: _Style) -> str:
    """Every mention counted, the first with its relative clause before the noun when the plan has one."""
    mentions = description.mentions
    phrases = [_reference(m, style) for m in mentions]
    if description.relative:  # "一颗位于蓝色圆形左边的红色星星": the anchor counted only when several
        first, anchor = mentions[:2]
        landmark = _described(anchor, style, linked=False)
        if anchor.count > 1:
            landmark = _measured(anchor, style) + landmark
        side = style.choices.pick(_RELATIONS[description.relative])
        located = style.choices.pick(_LOCATED_BEFORE_NOUN)
        head = _described(first, style, linked=False)
        phrases[:2] = [f"{_measured(first, style)}{located}{landmark}{side}的{head}"]
    objects = join_list(phrases, "和", "、")
    if description.background:
        objects += f"，背景是{_BACKGROUNDS[description.background]}的"
    return objects


def sentence(clauses: list[str], style: _Style) -> str:
    """One written sentence; a joined clause already begins with its comma ("，而…"), and in a chain of three
    clauses only the last keeps 而."""
    middle = ["，" + clause[2:] if clause.startswith("，而") else clause for clause in clauses[1:-1]]
    return "".join([clauses[0], *middle, *clauses[1:][-1:]]) + "。"


def overview(description: Description, style: _Style) -> str:
    opener = description.opener
    opening = CAPTION_PREFIXES["zh"] if opener == "prefix" else style.choices.pick(_OPENINGS[opener])
    return opening + _overview_list(description, style)


def _located(sentence: RelationSentence | PositionSentence, place: str, several: bool, style: _Style) -> str:
    """A clause placing the subject: known first ("星星在顶部"), new or inverted after the place
    ("顶部有一颗星星", "顶部是星星"), or seen there ("在顶部可以看到星星")."""
    subject, form = sentence.subject, sentence.form
    look = (subject.shape, subject.colour, subject.shade, subject.size)
    previous_look, previous_first = style.last
    first = subject.pronoun or (subject.known and form == 0)
    style.last[:] = [look, first]
    located = "分别" + style.choices.pick(_LOCATED) if several else style.choices.pick(_LOCATED)
    if subject.pronoun:
        if sentence.joined and previous_first:  # the repeated subject dropped: "星星在顶部，位于圆形的左边"
            return f"，{located}{place}"
        clause = f"{'它们' if subject.count > 1 else '它'}{located}{place}"
    elif first:
        clause = f"{_reference(subject, style)}{located}{place}"
    elif form == 0 and several:  # "左上角和中间各有一个…": one in each place
        clause = f"{place}各有{_measured(subject, style, count=1)}{_described(subject, style)}"
    elif form == 0:
        clause = f"{place}有{_reference(subject, style)}"
    elif form == 1:
        clause = f"{place}是{_reference(subject, style, last=True)}"
    else:
        clause = f"在{place}{style.choices.pick(_SEE)}{_reference(subject, style, last=True)}"
    if not sentence.joined:
        return clause
    return ("，" if look == previous_look else style.choices.pick(_JOINS)) + clause


def relation(sentence: RelationSentence, style: _Style) -> str:
    return _located(sentence, _place(sentence.relation, sentence.object, style), False, style)


def position(sentence: PositionSentence, style: _Style) -> str:
    places = join_list([style.choices.pick(_POSITIONS[p]) for p in sentence.positions], "和", "、")
    return _located(sentence, places, len(sentence.positions) > 1, style)


def count(sentence: CountSentence, style: _Style) -> str:
    style.last[:] = [None, False]
    if sentence.total == 1:
        return (f"图中只有一个{style.things}", f"整幅图只包含一个{style.things}",
                f"图中的{style.things}只有一个")[sentence.form]
    total = _NUMBERS[sentence.total]
    return (f"图中总共有{total}个{style.things}", f"整幅图共包含{total}个{style.things}",
            f"图中的{style.things}总共有{total}个")[sentence.form]


def background(sentence: BackgroundSentence, style: _Style) -> str:
    style.last[:] = [None, False]
    colour = _BACKGROUNDS[sentence.background]
    return style.choices.pick(((f"背景是{colour}的", f"背景为{colour}"),
                               (f"画面以{colour}为背景", f"整个画面以{colour}为背景"),
                               (f"画面的底色是{colour}的", f"这张图片的底色是{colour}的"))[sentence.form])
