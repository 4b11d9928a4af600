"""Chinese: no inflection, numeral + measure word (两个, 一颗星星), colour + 的 before size and noun.

A known subject comes first ("小星星在三角形的左边"), a new one is introduced by 有 after the place
("三角形的左边有一颗小星星"); several objects in several places take 分别 or 各. Sentences end in "。" and
are joined without spaces.
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
_NOUNS = {  # noun, measure word
    "circle": ("圆形", "个"),
    "square": ("正方形", "个"),
    "rectangle": ("长方形", "个"),
    "triangle": ("三角形", "个"),
    "star": ("星星", "颗"),
    "heart": ("心形", "个"),
    "diamond": ("菱形", "个"),
}
_COLOURS = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "purple": "紫色",
            "orange": "橙色", "grey": "灰色"}
_SHADES = {"plain": "", "light": "浅", "dark": "深"}
_SIZES = {"small": "小", "big": "大"}
# 两, not 二, before a measure word
_NUMBERS = ("零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十")
_RELATIONS = {"left_of": "左边", "right_of": "右边", "above": "上方", "below": "下方", "next_to": "旁边"}
_POSITIONS = {
    "top_left": "左上角", "top": "顶部", "top_right": "右上角",
    "left": "左侧", "centre": "中间", "right": "右侧",
    "bottom_left": "左下角", "bottom": "底部", "bottom_right": "右下角",
}
_BACKGROUNDS = {"white": "白色", "beige": "米色", "black": "黑色"}


class _Style(NamedTuple):
    definite: bool
    plain_blue: bool
    located: str
    see: str


def style(description: Description, choices: Choices) -> _Style:
    return _Style(description.definite, description.plain_blue, located=choices.pick(("在", "位于")),
                  see=choices.pick(("可以看到", "我们可以看到")))


def _described(mention: Mention, style: _Style, linked: bool = True) -> str:
    """Colour, size and noun: "红色的小圆形"; without 的 when it anchors a place ("红色小圆形的左边")."""
    words = ""
    if mention.name_colour:
        shade = said_shade(mention.colour, mention.shade, style.plain_blue)
        words += _SHADES[shade] + _COLOURS[mention.colour] + ("的" if linked else "")
    if mention.name_size:
        words += _SIZES[mention.size]
    return words + _NOUNS[mention.shape][0]


def _counted(mention: Mention, style: _Style, count: int | None = None) -> str:
    """Numeral, measure word and description: "两个红色的大正方形", "一颗小星星"."""
    return _NUMBERS[count or mention.count] + _NOUNS[mention.shape][1] + _described(mention, style)


def _known(mention: Mention, style: _Style) -> str:
    """A subject already introduced: bare when single ("小星星"), counted when several."""
    return _described(mention, style) if mention.count == 1 else _counted(mention, style)


def _anchor(mention: Mention, style: _Style) -> str:
    """The landmark of a place, without 的 inside so that only one 的 precedes the side."""
    described = _described(mention, style, linked=False)
    return described if mention.count == 1 else _NUMBERS[mention.count] + _NOUNS[mention.shape][1] + described


def overview(description: Description, style: _Style) -> str:
    objects = join_list([_counted(m, style) for m in description.mentions], "和", "、")
    opening = {"prefix": CAPTION_PREFIXES["zh"], "exist": "图中有", "see": style.see}[description.opener]
    background = f"，背景是{_BACKGROUNDS[description.background]}的" if description.background else ""
    return f"{opening}{objects}{background}。"


def relation(sentence: RelationSentence, style: _Style) -> str:
    place = f"{_anchor(sentence.object, style)}的{_RELATIONS[sentence.relation]}"
    if style.definite:
        return f"{_known(sentence.subject, style)}{style.located}{place}。"
    return f"{place}有{_counted(sentence.subject, style)}。"


def position(sentence: PositionSentence, style: _Style) -> str:
    places = join_list([_POSITIONS[p] for p in sentence.positions], "和", "、")
    several = len(sentence.positions) > 1
    if style.definite:
        return f"{_known(sentence.subject, style)}{'分别在' if several else style.located}{places}。"
    if several:  # "左上角和中间各有一个…": one in each place
        return f"{places}各有{_counted(sentence.subject, style, count=1)}。"
    return f"{places}有{_counted(sentence.subject, style)}。"


def count(sentence: CountSentence, style: _Style) -> str:
    if sentence.total == 1:
        return "图中只有一个物体。"
    return f"图中一共有{_NUMBERS[sentence.total]}个物体。"


def background(sentence: BackgroundSentence, style: _Style) -> str:
    return f"背景是{_BACKGROUNDS[sentence.background]}的。"
