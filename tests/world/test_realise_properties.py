"""Properties of realised texts over thousands of random scenes, all detail levels and all languages."""

import re
from dataclasses import replace

import numpy as np
import pytest

from florenz.world.languages import CAPTION_PREFIXES, DETAIL_LEVELS, LANGUAGES
from florenz.world.realise import plan_description, realise
from florenz.world.scene import sample_scene

SCENES = 1200
# written independently of the realisers: a stem every form of the noun contains, and the numerals 2-4
NOUN_STEMS = {
    "en": {"circle": "circle", "square": "square", "rectangle": "rectangle", "triangle": "triangle",
           "star": "star", "heart": "heart", "diamond": "diamond"},
    "de": {"circle": "Kreis", "square": "Quadrat", "rectangle": "Rechteck", "triangle": "Dreieck",
           "star": "Stern", "heart": "Herz", "diamond": "Raute"},
    "fr": {"circle": "cercle", "square": "carré", "rectangle": "rectangle", "triangle": "triangle",
           "star": "étoile", "heart": "cœur", "diamond": "losange"},
    "es": {"circle": "círculo", "square": "cuadrado", "rectangle": "rectángulo", "triangle": "triángulo",
           "star": "estrella", "heart": "coraz", "diamond": "rombo"},
    "ru": {"circle": "круг", "square": "квадрат", "rectangle": "прямоугольник", "triangle": "треугольник",
           "star": "звезд", "heart": "серд", "diamond": "ромб"},
    "zh": {"circle": "圆形", "square": "正方形", "rectangle": "长方形", "triangle": "三角形",
           "star": "星星", "heart": "心形", "diamond": "菱形"},
}
NUMERALS = {"en": ("two", "three", "four"), "de": ("zwei", "drei", "vier"), "fr": ("deux", "trois", "quatre"),
            "es": ("dos", "tres", "cuatro"), "ru": ("дв", "три", "четыре"), "zh": ("两", "三", "四")}
BOX_WORDS = ("box", "Box", "Kiste", "boîte", "caja", "коробк", "ящик", "盒")


@pytest.fixture(scope="module")
def corpus():
    """(scene, plan, {lang: text}) for SCENES seeded scenes at each detail level, prefix left to chance."""
    items = []
    for seed in range(SCENES):
        rng = np.random.default_rng(seed)
        scene = sample_scene(rng)
        for detail in DETAIL_LEVELS:
            plan = plan_description(scene, detail, rng)
            items.append((scene, plan, {lang: realise(plan, lang, rng) for lang in LANGUAGES}))
    return items


def test_texts_are_clean_sentences(corpus):
    for _, _, texts in corpus:
        for lang, text in texts.items():
            assert text and text == text.strip(), (lang, text)
            assert "  " not in text and "{" not in text and "}" not in text and "\n" not in text, (lang, text)
            assert " ." not in text and " ," not in text and ".." not in text, (lang, text)
            if lang == "zh":
                assert text.endswith("。") and " " not in text, text
            else:
                assert text.endswith(".") and text[0].isupper(), (lang, text)
                # every sentence starts with a capital letter
                assert all(part[0].isupper() for part in text.split(". ")), (lang, text)


def test_sentence_count_follows_detail_level(corpus):
    bounds = {"short": (1, 1), "detailed": (2, 3), "paragraph": (4, 99)}
    for _, plan, texts in corpus:
        low, high = bounds[plan.detail]
        for lang, text in texts.items():
            sentences = text.count("。") if lang == "zh" else text.count(".")
            assert low <= sentences <= high, (plan.detail, lang, text)


def test_short_captions_mention_every_group_with_its_count(corpus):
    for scene, plan, texts in corpus:
        if plan.detail != "short":
            continue
        for lang, text in texts.items():
            for group in scene.groups():
                shape = group.prototype.shape
                noun = "box" if lang == "en" and plan.box and shape in ("square", "rectangle") else \
                    NOUN_STEMS[lang][shape]
                assert noun in text, (lang, shape, text)
                if group.count > 1:
                    assert NUMERALS[lang][group.count - 2] in text, (lang, group.count, text)


def test_same_seed_gives_the_same_texts():
    for seed in range(50):
        texts = []
        for _ in range(2):
            rng = np.random.default_rng(seed)
            scene = sample_scene(rng)
            plan = plan_description(scene, "paragraph", rng)
            texts.append([realise(plan, lang, rng) for lang in LANGUAGES])
        assert texts[0] == texts[1]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_synonyms_vary_with_the_generator_and_the_plan_stays_said(lang):
    rng = np.random.default_rng(0)
    plan = plan_description(sample_scene(rng), "paragraph", rng)
    for opener in ("exist", "see"):
        known = replace(plan, opener=opener, definite=True)
        texts = {realise(known, lang, np.random.default_rng(seed)) for seed in range(40)}
        assert len(texts) > 1
        sentences = {text.count("。" if lang == "zh" else ".") for text in texts}
        assert sentences == {1 + len(plan.sentences)}


def test_a_good_share_of_texts_opens_with_the_caption_prefix(corpus):
    for lang in LANGUAGES:
        opened = [texts[lang].startswith(CAPTION_PREFIXES[lang]) for _, _, texts in corpus]
        assert 0.38 <= np.mean(opened) <= 0.52, (lang, np.mean(opened))


@pytest.mark.parametrize("prefix", [True, False])
def test_forced_prefix_opens_every_text_or_none(prefix):
    rng = np.random.default_rng(1)
    for _ in range(200):
        plan = plan_description(sample_scene(rng), str(rng.choice(DETAIL_LEVELS)), rng, prefix=prefix)
        for lang in LANGUAGES:
            assert realise(plan, lang, rng).startswith(CAPTION_PREFIXES[lang]) is prefix


def test_russian_prefix_participle_agrees_with_first_noun_phrase():
    participles = {"m": "изображен ", "f": "изображена ", "n": "изображено ", "pl": "изображены "}
    gender = {"star": "f", "heart": "n"}
    rng = np.random.default_rng(2)
    for _ in range(300):
        plan = plan_description(sample_scene(rng), "short", rng, prefix=True)
        first = plan.mentions[0]
        form = "pl" if first.count > 1 else gender.get(first.shape, "m")
        assert realise(plan, "ru", rng).startswith("На картинке " + participles[form])


def test_russian_names_blue_by_its_shade_whatever_english_says(corpus):
    saw_plain_blue = 0
    for scene, plan, texts in corpus:
        ru = texts["ru"].lower()
        assert not re.search(r"(светло|темно)-(голуб|син)", ru), ru
        shades = {obj.shade for obj in scene.objects if obj.colour == "blue"}
        if plan.detail == "short":  # every object is named with its colour
            assert ("голуб" in ru) == ("light" in shades) and ("син" in ru) == ("dark" in shades), ru
        if plan.plain_blue:
            saw_plain_blue += 1
            assert re.search(r"(?<![-\w])blue\b", texts["en"])
            assert not re.search(r"(light|dark)-blue", texts["en"])
            for lang, plain in (("de", "blau"), ("fr", "bleu"), ("es", "azul"), ("zh", "蓝色")):
                assert plain in texts[lang] and not re.search(r"(hell|dunkel)blau|bleu (clair|foncé)|"
                                                              r"azul (claro|oscuro)|[浅深]蓝色", texts[lang])
    assert saw_plain_blue > 50


def test_only_english_says_box(corpus):
    saw_box = 0
    for _, plan, texts in corpus:
        assert ("box" in texts["en"]) == plan.box
        saw_box += plan.box
        for lang in ("de", "fr", "es", "ru", "zh"):
            assert not any(word in texts[lang] for word in BOX_WORDS), texts[lang]
    assert saw_box > 100
