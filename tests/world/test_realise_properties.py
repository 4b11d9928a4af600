"""Properties of realised texts over thousands of random scenes, all detail levels and all languages."""

import re
from dataclasses import replace

import numpy as np
import pytest

from florenz.world.languages import CAPTION_PREFIXES, DETAIL_LEVELS, LANGUAGES
from florenz.world.realise import plan_description, realise
from florenz.world.scene import sample_scene

SCENES = 600
# written independently of the realisers: a stem every form of the noun contains, and the numerals 2-4
NOUN_STEMS = {
    "en": {"circle": "circle", "square": "square", "rectangle": "rectangle", "triangle": "triangle",
           "star": "star", "heart": "heart", "diamond": "diamond"},
    "de": {"circle": "Kreis", "square": "Quadrat", "rectangle": "Rechteck", "triangle": "Dreieck",
           "star": "Stern", "heart": "Herz", "diamond": "Raute"},
    "fr": {"circle": ("cercle", "rond"), "square": "carré", "rectangle": "rectangle", "triangle": "triangle",
           "star": "étoile", "heart": "cœur", "diamond": "losange"},
    "es": {"circle": "círculo", "square": "cuadrado", "rectangle": "rectángulo", "triangle": "triángulo",
           "star": "estrella", "heart": "coraz", "diamond": "rombo"},
    "ru": {"circle": "круг", "square": "квадрат", "rectangle": "прямоугольник", "triangle": "треугольник",
           "star": "звезд", "heart": "серд", "diamond": "ромб"},
    "zh": {"circle": "圆", "square": ("正方形", "方块"), "rectangle": ("长方形", "矩形"),
           "triangle": "三角形", "star": "星", "heart": "心", "diamond": "菱形"},
}
NUMERALS = {"en": ("two", "three", "four"), "de": ("zwei", "drei", "vier"), "fr": ("deux", "trois", "quatre"),
            "es": ("dos", "tres", "cuatro"), "ru": ("дв", "тр", "четыр"), "zh": ("两", "三", "四")}
# English homonyms: both senses share the English noun; a stem the other languages' nouns contain
HOMONYM_STEMS = {
    "en": {"bow_ribbon": "bow", "bow_weapon": "bow", "bat_animal": "bat", "bat_club": "bat",
           "key_door": "key", "key_keyboard": "key", "nut_food": "nut", "nut_hardware": "nut"},
    "de": {"bow_ribbon": "Schleife", "bow_weapon": ("Bogen", "Bögen"), "bat_animal": "Flederm",
           "bat_club": "Schläger",
           "key_door": "Schlüssel", "key_keyboard": "Taste", "nut_food": ("Nuss", "Nüss"),
           "nut_hardware": "Mutter"},
}


@pytest.fixture(scope="module")
def corpus():
    """(scene, plan, {lang: text}) for SCENES seeded scenes at each detail level, prefix left to chance,
    variety and register alternating by scene."""
    items = []
    for seed in range(SCENES):
        rng = np.random.default_rng(seed)
        scene = sample_scene(rng, max_objects=8 if seed % 3 == 0 else 4)
        variety, register = ("low", "high")[seed % 2], ("caption", "translation")[seed // 2 % 2]
        for detail in DETAIL_LEVELS:
            plan = plan_description(scene, detail, rng, variety=variety, register=register)
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
        low -= plan.detail == "paragraph" and plan.opener == "statement"  # no overview: three may do
        for lang, text in texts.items():
            sentences = text.count("。") if lang == "zh" else text.count(".")
            assert low <= sentences <= high, (plan.detail, lang, text)


def test_short_texts_mention_every_group_with_its_count(corpus):
    for scene, plan, texts in corpus:
        if plan.detail != "short":
            continue
        for lang, text in texts.items():
            for group in scene.groups():
                shape = group.prototype.shape
                stems = {**NOUN_STEMS[lang], **HOMONYM_STEMS.get(lang, {})}.get(shape, ())
                stems = stems if isinstance(stems, tuple) else (stems,)
                assert not stems or any(stem in text for stem in stems), (lang, shape, text)
                if 1 < group.count < 5 and plan.opener != "statement":
                    assert NUMERALS[lang][group.count - 2] in text.lower(), (lang, group.count, text)


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
        known = replace(plan, opener=opener)
        texts = {realise(known, lang, np.random.default_rng(seed)) for seed in range(40)}
        assert len(texts) > 1
        sentences = {text.count("。" if lang == "zh" else ".") for text in texts}
        assert sentences == {1 + sum(not s.joined for s in plan.sentences)}


def test_a_good_share_of_captions_opens_with_the_caption_prefix_and_no_translation_does(corpus):
    for lang in LANGUAGES:
        opened = [texts[lang].startswith(CAPTION_PREFIXES[lang]) for _, plan, texts in corpus
                  if plan.opener != "statement"]
        # Russian's existential opens with its prefix, too ("На картинке есть …")
        assert 0.38 <= np.mean(opened) <= (0.75 if lang == "ru" else 0.52), (lang, np.mean(opened))
        assert not any(texts[lang].startswith(CAPTION_PREFIXES[lang]) for _, plan, texts in corpus
                       if plan.opener == "statement"), lang


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_prefix_opening_continues_the_caption_prefix(lang):
    """Forcing the prefix at generation must never force a wrong form: every prefixed text continues it."""
    rng = np.random.default_rng(3)
    gap = "" if lang == "zh" else " "
    for index in range(300):
        scene = sample_scene(rng, max_objects=8 if index % 2 else 4)
        plan = plan_description(scene, DETAIL_LEVELS[index % 3], rng, prefix=True,
                                variety=("low", "high")[index % 2])
        assert realise(plan, lang, rng).startswith(CAPTION_PREFIXES[lang] + gap), lang


@pytest.mark.parametrize("prefix", [True, False])
def test_forced_prefix_opens_every_text_or_none(prefix):
    rng = np.random.default_rng(1)
    for _ in range(200):
        plan = plan_description(sample_scene(rng), str(rng.choice(DETAIL_LEVELS)), rng, prefix=prefix)
        for lang in LANGUAGES:
            text = realise(plan, lang, rng)
            if prefix or lang != "ru":
                assert text.startswith(CAPTION_PREFIXES[lang]) is prefix, text
            else:  # "На картинке есть …" opens the existential; the participle only the prefix opener
                assert not text.startswith("На картинке изображ"), text


def test_russian_prefix_participle_agrees_with_first_noun_phrase():
    participles = {"m": "изображен ", "f": "изображена ", "n": "изображено ", "pl": "изображены "}
    gender = {"star": "f", "heart": "n", "bat_animal": "f", "bat_club": "f", "key_keyboard": "f",
              "nut_hardware": "f"}
    rng = np.random.default_rng(2)
    for _ in range(300):
        plan = plan_description(sample_scene(rng), "short", rng, prefix=True)
        first = plan.mentions[0]
        form = "pl" if first.count > 1 else gender.get(first.shape, "m")
        text = realise(plan, "ru", rng)
        if text.startswith("На картинке изображ"):
            assert text.startswith("На картинке " + participles[form]), text


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
