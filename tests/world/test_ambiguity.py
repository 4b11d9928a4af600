"""The world's CoMMuTE items: English says bow/bat/key/nut (or Russian's plain "blue") for one group of
the scene, the picture decides the translation, readings are balanced."""

import re
from collections import Counter

import numpy as np
import pytest

from florenz.world.ambiguity import AMBIGUOUS_WORDS, make_ambiguity_item, word_and_reading
from florenz.world.render import render_scene
from florenz.world.scene import Scene

# each reading's word per language, written from dictionaries independently of the realisers; a pattern
# covers the case and number forms the world uses
READING_WORDS = {
    "de": {"bow_ribbon": r"Schleife", "bow_weapon": r"B[oö]gen", "bat_animal": r"Flederm[aä]us",
           "bat_club": r"Schläger", "key_door": r"Schlüssel", "key_keyboard": r"Taste",
           "nut_food": r"N[uü]ss", "nut_hardware": r"Mutter"},
    "fr": {"bow_ribbon": r"nœud", "bow_weapon": r"\barcs?\b", "bat_animal": r"chauves?-souris",
           "bat_club": r"battes?\b", "key_door": r"clés?\b", "key_keyboard": r"touches?\b",
           "nut_food": r"noix", "nut_hardware": r"écrous?\b"},
    "es": {"bow_ribbon": r"\blazos?\b", "bow_weapon": r"\barcos?\b", "bat_animal": r"murciélagos?",
           "bat_club": r"\bbates?\b", "key_door": r"\bllaves?\b", "key_keyboard": r"\bteclas?\b",
           "nut_food": r"\bnue[zc]", "nut_hardware": r"\btuercas?\b"},
    "ru": {"bow_ribbon": r"бант", "bow_weapon": r"\bлук", "bat_animal": r"летуч", "bat_club": r"\bбит",
           "key_door": r"ключ", "key_keyboard": r"клавиш", "nut_food": r"орех", "nut_hardware": r"гайк",
           "light": r"голуб", "dark": r"\bсин"},
    "zh": {"bow_ribbon": "蝴蝶结", "bow_weapon": "弓", "bat_animal": "蝙蝠", "bat_club": "球棒",
           "key_door": "钥匙", "key_keyboard": "按键", "nut_food": "坚果", "nut_hardware": "螺母"},
}
ENGLISH = {"bow": r"\bbows?\b", "bat": r"\bbats?\b", "key": r"\bkeys?\b", "nut": r"\bnuts?\b",
           "blue": r"(?<![-\w])blue\b"}
OTHER = {"light": "dark", "dark": "light", "bow_ribbon": "bow_weapon", "bow_weapon": "bow_ribbon",
         "bat_animal": "bat_club", "bat_club": "bat_animal", "key_door": "key_keyboard",
         "key_keyboard": "key_door", "nut_food": "nut_hardware", "nut_hardware": "nut_food"}


def groups_named_by(item):
    """The scene's groups English names with the item's word."""
    if item.word == "blue":
        return [g for g in item.scene.groups() if g.prototype.colour == "blue"]
    return [g for g in item.scene.groups() if g.prototype.shape.split("_")[0] == item.word]


@pytest.mark.parametrize("lang", ["de", "fr", "es", "ru", "zh"])
def test_the_picture_decides_the_correct_translation(lang):
    rng = np.random.default_rng(5)
    for index in range(40):
        item = make_ambiguity_item(rng, lang, index)
        assert (item.word, item.reading, item.lang) == (*word_and_reading(lang, index), lang)
        named, = groups_named_by(item)  # the word names exactly one group
        assert item.reading == (named.prototype.shade if item.word == "blue" else named.prototype.shape)
        # the source's only ambiguity: no other ambiguous noun, and "blue" plain only when it is the word
        others = [w for w in ("bow", "bat", "key", "nut") if w != item.word]
        assert re.search(ENGLISH[item.word], item.source), item.source
        assert not any(re.search(ENGLISH[w], item.source) for w in others), item.source
        assert (re.search(ENGLISH["blue"], item.source) is not None) == (item.word == "blue"), item.source
        right, wrong = READING_WORDS[lang][item.reading], READING_WORDS[lang][OTHER[item.reading]]
        assert re.search(right, item.correct) and not re.search(wrong, item.correct), item.correct
        assert re.search(wrong, item.incorrect) and not re.search(right, item.incorrect), item.incorrect


@pytest.mark.parametrize("lang", ["de", "ru"])
def test_the_named_group_is_drawn_as_its_reading(lang):
    """Objects stay inside their cells at 96 px, so the named object's cell is pixel for pixel the object
    drawn alone: the labels match the pixels."""
    rng = np.random.default_rng(7)
    for index in range(10):
        item = make_ambiguity_item(rng, lang, index)
        obj = item.scene.objects[groups_named_by(item)[0].indices[0]]
        column, row = int(obj.x * 3) * 32, int(obj.y * 3) * 32
        cell = render_scene(item.scene, 96)[row:row + 32, column:column + 32]
        alone = render_scene(Scene((obj,), (), item.scene.background), 96)[row:row + 32, column:column + 32]
        np.testing.assert_array_equal(cell, alone)


@pytest.mark.parametrize("lang", ["de", "ru"])
def test_readings_are_balanced_per_word(lang):
    words = AMBIGUOUS_WORDS[lang]
    asked = Counter(word_and_reading(lang, index) for index in range(10 * len(words)))
    assert set(asked.values()) == {5} and {word for word, _ in asked} == set(words)
    assert {word for word, _ in asked} == ({"bow", "bat", "key", "nut", "blue"} if lang == "ru"
                                           else {"bow", "bat", "key", "nut"})


def test_same_generator_state_gives_the_same_item():
    first, second = (make_ambiguity_item(np.random.default_rng(9), "zh", 3) for _ in range(2))
    assert first == second


def test_english_target_has_no_ambiguity():
    with pytest.raises(ValueError, match="de, fr, es, ru, zh"):
        make_ambiguity_item(np.random.default_rng(0), "en", 0)
