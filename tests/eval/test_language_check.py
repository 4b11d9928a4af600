"""The language check: world captions are recognised as the language their realiser wrote them in."""

import numpy as np
import pytest

from florenz.eval.language_check import detect_language, language_share, world_lexicons
from florenz.world.languages import DETAIL_LEVELS, LANGUAGES
from florenz.world.realise import plan_description, realise
from florenz.world.scene import sample_scene


def _captions(seed: int, count: int) -> list[tuple[str, str]]:
    """(language, caption) from scenes the lexicons were not built from (another seed)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for index in range(count):
        plan = plan_description(sample_scene(rng), DETAIL_LEVELS[index % len(DETAIL_LEVELS)], rng)
        pairs += [(lang, realise(plan, lang, rng)) for lang in LANGUAGES]
    return pairs


def test_every_language_of_fresh_world_captions_is_recognised():
    wrong = [(lang, text, detect_language(text)) for lang, text in _captions(1234, 40)
             if detect_language(text) != lang]
    assert wrong == []


def test_an_english_caption_asked_for_in_french_counts_as_the_wrong_language():
    rng = np.random.default_rng(7)
    plan = plan_description(sample_scene(rng), "short", rng, prefix=False)
    english, french, german = (realise(plan, lang, rng) for lang in ("en", "fr", "de"))
    assert detect_language(english) == "en" != "fr"
    assert detect_language(french) == "fr"
    assert language_share(english, "fr") == 0.0
    # a French opening that slides into German is German by majority, and the share shows the mix
    mixed = "La photo montre " + german
    assert detect_language(mixed) == "de"
    assert 0.0 < language_share(mixed, "fr") < 0.5


@pytest.mark.parametrize("text", ["", "!!! 123", "beige"])
def test_text_without_a_voting_word_has_no_language(text):
    assert detect_language(text) is None


def test_words_outside_the_lexicons_vote_by_script():
    assert detect_language("Привет мир") == "ru"  # Cyrillic, not world words
    assert detect_language("你好世界") == "zh"
    assert detect_language("Lorem ipsum") is None  # Latin script alone says nothing


def test_lexicons_hold_each_languages_own_words():
    lexicons = world_lexicons()
    assert {"circle", "square"} <= lexicons["en"] and "circle" not in lexicons["fr"]
    assert {"cercle", "carré"} <= lexicons["fr"]
    assert {"kreis", "quadrat"} <= lexicons["de"]
    assert "круг" in lexicons["ru"] and "圆" in lexicons["zh"]
