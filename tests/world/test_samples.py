import re

import numpy as np
import pytest

from florenz.world.samples import (
    Fingerprints,
    TextOptions,
    annotation_texts,
    benchmark,
    caption,
    corpus_lines,
    image_key,
    make_test_set,
    stream_rng,
    text_key,
    translation,
)
from florenz.world.scene import sample_scene

NOTHING = Fingerprints(np.zeros(0, np.uint64), np.zeros(0, np.uint64))
DEFAULT = TextOptions()
# English shape nouns, written out independently of the realiser; homonym senses share theirs
ENGLISH_NOUNS = {"circle": "circle", "square": "square", "rectangle": "rectangle", "triangle": "triangle",
                 "star": "star", "heart": "heart", "diamond": "diamond", "bow_ribbon": "bow",
                 "bow_weapon": "bow", "bat_animal": "bat", "bat_club": "bat", "key_door": "key",
                 "key_keyboard": "key", "nut_food": "nut", "nut_hardware": "nut"}
NOUN_PATTERN = re.compile(r"\b(" + "|".join(sorted(set(ENGLISH_NOUNS.values()))) + r")s?\b")


def fingerprints_of(samples) -> Fingerprints:
    texts = [text for sample in samples for a in sample.annotations for text in annotation_texts(a)]
    return Fingerprints(np.array([image_key(s.png) for s in samples], np.uint64),
                        np.array([text_key(text) for text in texts], np.uint64))


def test_streams_differ_by_unit_and_index_and_repeat_exactly():
    draws = {(unit, index): stream_rng(7, unit, index).integers(1 << 62) for unit in ("train", "test/uc/fr")
             for index in (0, 1)}
    assert len(set(draws.values())) == 4
    assert stream_rng(7, "train", 1).integers(1 << 62) == draws[("train", 1)]


def test_held_out_draws_skip_every_image_and_sentence_already_seen():
    """The same stream proposes the same candidates again; all of them must now be rejected."""
    first = make_test_set(0, "st", "ru", 9, 32, 4, NOTHING, DEFAULT)
    again = make_test_set(0, "st", "ru", 9, 32, 4, fingerprints_of(first), DEFAULT)
    seen_texts = {t for s in first for t in annotation_texts(s.annotations[0])}
    assert not {image_key(s.png) for s in again} & {image_key(s.png) for s in first}
    assert not {t for s in again for t in annotation_texts(s.annotations[0])} & seen_texts
    assert [s.annotations[0]["detail"] for s in again] == [s.annotations[0]["detail"] for s in first]


def test_no_sentence_repeats_inside_a_test_set():
    """Short captions of one-object scenes repeat easily; a held-out set holds each sentence once."""
    samples = make_test_set(0, "sc", "en", 60, 32, 1, NOTHING, DEFAULT)
    targets = [s.annotations[0]["target"] for s in samples]
    assert len(set(targets)) == len(targets) == 60


def test_ambiguity_sources_are_new_to_training_and_to_each_other():
    """The same stream first makes items with nothing seen, then with those items' sentences as training:
    every source and correct translation is then avoided, and none repeats inside the benchmark."""
    first = benchmark(0, "ambiguity", 8, 32, 4, NOTHING, 1, 1, DEFAULT)
    sources = [s.annotations[0]["source"] for s in first]
    assert len(set(sources)) == len(sources) == 8 * 5
    training = Fingerprints(np.zeros(0, np.uint64), np.array(
        [text_key(s.annotations[0][key]) for s in first for key in ("source", "target")], np.uint64))
    again = benchmark(0, "ambiguity", 8, 32, 4, training, 1, 1, DEFAULT)
    assert not {s.annotations[0]["source"] for s in again} & set(sources)
    assert not {s.annotations[0]["target"] for s in again} & {s.annotations[0]["target"] for s in first}
    asked = [s.annotations[0] for s in again]
    assert {(a["word"], a["reading"]) for a in asked if a["lang"] == "de"} == {
        ("bow", "bow_ribbon"), ("bat", "bat_animal"), ("key", "key_door"), ("nut", "nut_food"),
        ("bow", "bow_weapon"), ("bat", "bat_club"), ("key", "key_keyboard"), ("nut", "nut_hardware")}


def english_nouns(text: str) -> set[str]:
    return set(NOUN_PATTERN.findall(text))


@pytest.mark.parametrize("similarity", [1.0, 0.0])
def test_similar_pairing_describes_a_changed_scene(similarity):
    """Exact pairs (and similarity 1) name only shapes the image shows; at similarity 0 every group's shape
    is changed, so most sources name a shape the image does not show."""
    rng = np.random.default_rng(3)
    strangers = {"exact": 0, "similar": 0}
    for _ in range(60):
        scene = sample_scene(rng)
        shown = {ENGLISH_NOUNS[obj.shape] for obj in scene.objects}
        for pairing in strangers:
            options = TextOptions(pairing=pairing, similarity=similarity)
            source = translation(scene, "de", "detailed", rng, options)["source"]
            strangers[pairing] += not english_nouns(source) <= shown
    assert strangers["exact"] == 0
    if similarity == 1.0:
        assert strangers["similar"] == 0
    else:
        assert strangers["similar"] > 45


@pytest.mark.parametrize("register, caption_shaped", [("translation", 0.0), ("translation", 0.2),
                                                      ("caption", 0.2)])
def test_translation_register_is_not_caption_shaped(register, caption_shaped):
    """The translation register never opens with a caption opener but in its caption-shaped share; the
    caption register often does (the prefix opens 45% of caption plans, a caption opener all of them)."""
    caption_opener = re.compile(r"^(The image shows|There (is|are)|We (can )?see|Depicted)")
    rng = np.random.default_rng(4)
    options = TextOptions(register=register, caption_shaped=caption_shaped)
    pairs = [translation(sample_scene(rng), "de", "detailed", rng, options) for _ in range(400)]
    caption_shaped_share = sum(bool(caption_opener.match(p["source"])) for p in pairs) / len(pairs)
    prefixed_share = sum(p["target"].startswith("Das Bild zeigt") for p in pairs) / len(pairs)
    if register == "caption":
        assert caption_shaped_share > 0.35 and prefixed_share > 0.3
    elif caption_shaped == 0:
        assert caption_shaped_share == 0 and prefixed_share == 0
    else:  # 20% caption plans: about 0.2 x 0.45 = 9% prefixed (binomial sd 1.4 points over 400 pairs)
        assert 0.04 < prefixed_share < 0.15 and caption_shaped_share < 0.3


def test_variety_low_keeps_the_first_openers():
    rng = np.random.default_rng(5)
    for variety, expected in (("low", set()), ("high", {"Depicted"})):
        firsts = {caption(sample_scene(rng), "en", "short", rng, variety=variety)["target"].split()[0]
                  for _ in range(150)}
        assert firsts & {"Depicted"} == expected, variety


def test_corpus_skips_held_out_sentences():
    first = corpus_lines(0, "de", 25, 4, NOTHING, "high")
    held_out = Fingerprints(np.zeros(0, np.uint64), np.array([text_key(line) for line in first], np.uint64))
    again = corpus_lines(0, "de", 25, 4, held_out, "high")
    assert len(again) == 25 and not set(again) & set(first)
    assert all("\n" not in line and line == line.strip() for line in again)
