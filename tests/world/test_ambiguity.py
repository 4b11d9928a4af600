"""The world's CoMMuTE items: English says "blue"/"box", the image decides the translation."""

import re

import numpy as np
import pytest

from florenz.world.ambiguity import make_ambiguity_item

# the word each reading gives, written independently of the realisers (stems cover every case form)
BOX_WORDS = {
    "de": {"square": "Quadrat", "rectangle": "Rechteck"},
    "fr": {"square": "carré", "rectangle": "rectangle"},
    "es": {"square": "cuadrado", "rectangle": "rectángulo"},
    "ru": {"square": "квадрат", "rectangle": "прямоугольник"},
    "zh": {"square": "正方形", "rectangle": "长方形"},
}
RUSSIAN_BLUES = {"light": "голуб", "dark": "син"}


def differing_words(correct: str, incorrect: str, lang: str) -> list[tuple[str, str]]:
    """The (correct, incorrect) words where the two texts differ; Chinese is compared by its shape nouns."""
    if lang == "zh":
        pattern = "正方形|长方形"
        assert re.sub(pattern, "X", correct) == re.sub(pattern, "X", incorrect)
        pairs = zip(re.findall(pattern, correct), re.findall(pattern, incorrect))
        return [(a, b) for a, b in pairs if a != b]
    correct_words, incorrect_words = correct.split(), incorrect.split()
    assert len(correct_words) == len(incorrect_words)
    return [(a, b) for a, b in zip(correct_words, incorrect_words) if a != b]


def ambiguous_object(item):
    """The object English names ambiguously; every other object with that word looks the same."""
    if item.kind == "blue":
        named = [o for o in item.scene.objects if o.colour == "blue"]
    else:
        named = [o for o in item.scene.objects if o.shape in ("square", "rectangle")]
    assert len({(o.shape, o.colour, o.shade, o.size) for o in named}) == 1
    return named[0]


@pytest.mark.parametrize("lang", ["de", "fr", "es", "ru", "zh"])
def test_items_differ_only_in_the_word_the_image_decides(lang):
    rng = np.random.default_rng(5)
    kinds = set()
    for _ in range(150):
        item = make_ambiguity_item(rng, lang)
        kinds.add(item.kind)
        assert item.lang == lang
        target = ambiguous_object(item)
        (correct_word, incorrect_word), = differing_words(item.correct, item.incorrect, lang)
        if item.kind == "blue":
            assert re.search(r"(?<![-\w])blue\b", item.source) and "-blue" not in item.source
            other = "dark" if target.shade == "light" else "light"
            assert correct_word.startswith(RUSSIAN_BLUES[target.shade]), (item.correct, target)
            assert incorrect_word.startswith(RUSSIAN_BLUES[other])
        else:
            assert re.search(r"\bbox(es)?\b", item.source)
            assert not re.search(r"\b(square|rectangle)s?\b", item.source)
            other = "rectangle" if target.shape == "square" else "square"
            assert correct_word.startswith(BOX_WORDS[lang][target.shape]), (item.correct, target)
            assert incorrect_word.startswith(BOX_WORDS[lang][other])
    assert kinds == ({"blue", "box"} if lang == "ru" else {"box"})


def test_both_readings_are_correct_about_equally_often():
    rng = np.random.default_rng(6)
    items = [make_ambiguity_item(rng, "ru") for _ in range(400)]
    light = [ambiguous_object(i).shade == "light" for i in items if i.kind == "blue"]
    square = [ambiguous_object(i).shape == "square" for i in items if i.kind == "box"]
    assert 0.35 < np.mean(light) < 0.65 and 0.35 < np.mean(square) < 0.65


def test_same_generator_state_gives_the_same_item():
    first, second = (make_ambiguity_item(np.random.default_rng(9), "zh") for _ in range(2))
    assert first == second


def test_english_target_has_no_ambiguity():
    with pytest.raises(ValueError, match="de, fr, es, ru, zh"):
        make_ambiguity_item(np.random.default_rng(0), "en")
