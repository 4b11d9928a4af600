import numpy as np

from florenz.world.samples import (
    Fingerprints,
    annotation_texts,
    corpus_lines,
    image_key,
    make_test_set,
    stream_rng,
    text_key,
)

NOTHING = Fingerprints(np.zeros(0, np.uint64), np.zeros(0, np.uint64))


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
    first = make_test_set(0, "st", "ru", 9, 32, 4, NOTHING)
    again = make_test_set(0, "st", "ru", 9, 32, 4, fingerprints_of(first))
    seen_texts = {t for s in first for t in annotation_texts(s.annotations[0])}
    assert not {image_key(s.png) for s in again} & {image_key(s.png) for s in first}
    assert not {t for s in again for t in annotation_texts(s.annotations[0])} & seen_texts
    assert [s.annotations[0]["detail"] for s in again] == [s.annotations[0]["detail"] for s in first]


def test_corpus_skips_held_out_sentences():
    first = corpus_lines(0, "de", 25, 4, NOTHING)
    held_out = Fingerprints(np.zeros(0, np.uint64), np.array([text_key(line) for line in first], np.uint64))
    again = corpus_lines(0, "de", 25, 4, held_out)
    assert len(again) == 25 and not set(again) & set(first)
    assert all("\n" not in line and line == line.strip() for line in again)
