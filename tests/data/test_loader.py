import io
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from florenz.config import ConfigError
from florenz.data.collate import EncodedSample, collate
from florenz.data.loader import (
    AnnotationBalancer,
    BadSampleError,
    CorpusStream,
    ShardStream,
    encode_annotation,
    prefetch,
    rank_steps,
    target_distribution,
)
from florenz.data.shards import ShardSample, write_shard
from florenz.data.tokenizer import train_tokenizer
from florenz.errors import FlorenzError

PAPER = ["caption-en", "caption-de", "translation-de", "translation-fr", "translation-es", "translation-ru",
         "translation-zh"]


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4, 3), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _annotations(index: int) -> list[dict]:
    items = [{"task": "caption", "lang": lang, "detail": "short", "target": f"{lang} caption {index}"}
             for lang in ("en", "de")]
    items += [{"task": "translation", "lang": lang, "detail": "short", "target": f"{lang} text {index}",
               "source": f"source {index}"} for lang in ("de", "fr", "es", "ru", "zh")]
    return items


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    paths = []
    for shard in range(3):
        samples = [ShardSample(f"s{shard}x{i:02d}", _png(shard * 10 + i), _annotations(shard * 10 + i))
                   for i in range(4 + shard)]  # shards of 4, 5 and 6 samples
        paths.append(write_shard(root / f"{shard:06d}.tar", samples))
    return paths


def _stream(shards, seed=0, state=None, target=None, keep_only=False):
    balancer = AnnotationBalancer(target or target_distribution("task-lang", PAPER), seed, keep_only)
    return ShardStream(shards, balancer, seed, state)


def _take(stream, n):
    items = iter(stream)
    return [(image, annotation["target"]) for image, annotation, _ in (next(items) for _ in range(n))]


def test_presets_reproduce_the_reference_balancing_tables():
    uniform = target_distribution("task-lang", PAPER)
    assert uniform == pytest.approx({key: 1 / 7 for key in PAPER})
    # reference §3.2 task-balancing: captions 5 each, translations 2 each (of 20)
    by_task = target_distribution("task", PAPER)
    assert by_task == pytest.approx({**{k: 5 / 20 for k in PAPER[:2]}, **{k: 2 / 20 for k in PAPER[2:]}})
    # reference lang-balancing: caption-en 2, caption-de 1, translation-de 1, other translations 2 (of 12)
    by_lang = target_distribution("lang", PAPER)
    expected = {"caption-en": 2 / 12, "caption-de": 1 / 12, "translation-de": 1 / 12,
                **{f"translation-{lang}": 2 / 12 for lang in ("fr", "es", "ru", "zh")}}
    assert by_lang == pytest.approx(expected)


def test_explicit_weights_are_normalised_and_bad_entries_are_config_errors():
    assert target_distribution("caption-en=3,translation-fr=1", PAPER) == {"caption-en": 0.75,
                                                                           "translation-fr": 0.25}
    with pytest.raises(ConfigError, match="captioning-en"):
        target_distribution("captioning-en=1", PAPER)
    with pytest.raises(ConfigError, match="category=weight"):
        target_distribution("caption-en", PAPER)


def test_greedy_deficit_tracks_the_target_within_one_sample():
    target = {"caption-en": 0.5, "caption-de": 0.25, "translation-fr": 0.25}
    balancer = AnnotationBalancer(target, seed=3)
    annotations = [{"task": t, "lang": l, "target": f"{t}{l}"} for t, l in
                   (("caption", "en"), ("caption", "de"), ("translation", "fr"))]
    first = balancer.choose(annotations, 0, "test")
    assert first["target"] == "captionen"  # the largest deficit at n=1 is caption-en's 0.5
    for index in range(1, 400):
        balancer.choose(annotations, index, "test")
        seen = index + 1
        for key, share in target.items():
            assert abs(balancer.counts[key] - share * seen) < 1
    assert balancer.counts == {"caption-en": 200, "caption-de": 100, "translation-fr": 100}


def test_balancing_is_deterministic_per_seed_and_ties_depend_on_the_seed():
    annotations = _annotations(0)
    choices = {}
    for seed in (0, 1, 2, 3):
        balancer = AnnotationBalancer(target_distribution("task-lang", PAPER), seed)
        choices[seed] = [balancer.choose(annotations, i, "t")["target"] for i in range(7)]
        again = AnnotationBalancer(target_distribution("task-lang", PAPER), seed)
        assert choices[seed] == [again.choose(annotations, i, "t")["target"] for i in range(7)]
        assert len(set(choices[seed])) == 7  # uniform target: the first 7 choices cover all 7 categories
    assert len({tuple(c) for c in choices.values()}) > 1


def test_balancing_converges_when_images_lack_categories():
    target = target_distribution("task-lang", ["caption-en", "translation-fr"])
    balancer = AnnotationBalancer(target, seed=0)
    both = [{"task": "caption", "lang": "en", "target": "a"},
            {"task": "translation", "lang": "fr", "target": "b"}]
    caption_only = both[:1]
    for index in range(1000):
        balancer.choose(both if index % 2 else caption_only, index, "t")
    assert balancer.counts == {"caption-en": 500, "translation-fr": 500}


def test_unknown_category_is_an_error_unless_the_coverage_was_narrowed_on_purpose():
    target = {"caption-en": 1.0}
    annotations = [{"task": "caption", "lang": "en", "target": "a"},
                   {"task": "caption", "lang": "fr", "target": "b"}]
    with pytest.raises(FlorenzError, match="caption-fr"):
        AnnotationBalancer(target, 0).choose(annotations, 0, "shard x")
    assert AnnotationBalancer(target, 0, keep_only_target=True).choose(annotations, 0, "x")["target"] == "a"
    assert AnnotationBalancer(target, 0, keep_only_target=True).choose(annotations[1:], 0, "x") is None


def test_an_epoch_visits_every_image_once_in_a_seeded_order(shards):
    stream = _stream(shards, seed=5)
    assert stream.epoch_size == 15
    items = _take(stream, 30)
    first, second = [image for image, *_ in items[:15]], [image for image, *_ in items[15:]]
    assert sorted(first) == sorted(second) and len(set(first)) == 15
    assert first != second  # each epoch has its own permutation
    assert [image for image, *_ in _take(_stream(shards, seed=5), 15)] == first
    assert [image for image, *_ in _take(_stream(shards, seed=6), 15)] != first


def test_a_resumed_stream_continues_the_same_samples(shards):
    uninterrupted = _take(_stream(shards, seed=1), 40)
    stream = _stream(shards, seed=1)
    head = _take(stream, 17)
    state = stream.state
    resumed = _take(_stream(shards, seed=1, state=state), 23)
    assert head + resumed == uninterrupted


def test_ranks_split_each_global_batch_and_together_equal_one_process(shards):
    def encode(item):
        return EncodedSample([], [2, len(item[1]["target"]), item[0][60] % 50, 1])

    def gather(world_size):
        batches = []
        for rank in range(world_size):
            micro_batch_size = 3 if world_size == 1 else 1
            steps = rank_steps(_stream(shards, seed=2), encode, lambda s: collate(s, 0), 6, micro_batch_size,
                               rank, world_size)
            batches.append([next(steps) for _ in range(4)])
        return batches

    (single,) = gather(1)
    pair = gather(2)
    for step in range(4):
        one = torch.cat([b["labels"] for b in single[step].micro_batches])
        assert len(single[step].micro_batches) == 2  # 6 samples in micro-batches of 3
        two = torch.cat([b["labels"] for rank in range(2) for b in pair[rank][step].micro_batches])
        # rank r holds global positions r, r+2, r+4: re-interleave and compare with one process
        interleaved = torch.stack([two[:3], two[3:]], dim=1).reshape(6, -1)
        assert torch.equal(one, interleaved)
        assert single[step].state == pair[0][step].state == pair[1][step].state


def test_corpus_stream_is_a_seeded_permutation_per_epoch_and_resumes(tmp_path):
    (tmp_path / "en.txt").write_text("a\nb\n\nc\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("d\ne\n", encoding="utf-8")
    stream = CorpusStream([tmp_path / "en.txt", tmp_path / "de.txt"], seed=0)
    items = iter(stream)
    lines = [next(items) for _ in range(10)]
    assert sorted(lines[:5]) == ["a", "b", "c", "d", "e"] and sorted(lines[5:]) == sorted(lines[:5])
    uninterrupted = lines + [next(items) for _ in range(10)]  # four epochs
    interrupted = CorpusStream([tmp_path / "en.txt", tmp_path / "de.txt"], seed=0)
    head = [line for _, line in zip(range(7), interrupted)]
    resumed = iter(CorpusStream([tmp_path / "en.txt", tmp_path / "de.txt"], seed=0, state=interrupted.state))
    assert head + [next(resumed) for _ in range(13)] == uninterrupted


def test_prefetch_keeps_order_reraises_errors_and_stops_its_thread_on_close():
    def numbers():
        yield from range(50)
        raise FlorenzError("broken shard")

    seen = []
    with pytest.raises(FlorenzError, match="broken shard"):
        for value in prefetch(numbers(), depth=3):
            seen.append(value)
    assert seen == list(range(50))

    def endless():
        yield from iter(int, 1)  # 0, 0, 0, ...

    stream = prefetch(endless(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 0, 0]
    stream.close()  # stops and joins the producer thread
    assert not any(thread.name == "florenz-prefetch" for thread in threading.enumerate())


def test_encoded_sample_uses_the_reference_prompt_and_bos_eos_targets():
    tokenizer = train_tokenizer(["The target language is Russian. Translate the following text: a red box",
                                 "красный квадрат"], vocab_size=300)
    annotation = {"task": "translation", "lang": "ru", "detail": "short", "target": "красный квадрат",
                  "source": "a red box"}
    sample = encode_annotation(_png(7), annotation, 8, tokenizer, tokenizer, 128, 128)
    assert tokenizer.decode(sample.prompt_ids[1:-1]) == \
        "The target language is Russian. Translate the following text: a red box"
    assert sample.prompt_ids[0] == 2 and sample.prompt_ids[-1] == 1  # <bos> ... <eos>
    assert tokenizer.decode(sample.target_ids[1:-1]) == "красный квадрат"
    assert sample.target_ids[0] == 2 and sample.target_ids[-1] == 1
    assert sample.pixel_values.shape == (3, 8, 8) and sample.category == "translation-ru"
    short = encode_annotation(_png(7), annotation, 8, tokenizer, tokenizer, 4, 3)
    assert len(short.prompt_ids) == 4 and short.target_ids == sample.target_ids[:3]


def test_a_coverage_that_matches_no_image_is_an_error_not_an_endless_loop(shards):
    stream = _stream(shards, target={"caption-zh": 1.0}, keep_only=True)
    with pytest.raises(FlorenzError, match="caption-zh"):
        next(iter(stream))


def _truncated_png_shard(path):
    samples = [ShardSample(f"k{i}", _png(i), _annotations(i)) for i in range(6)]
    samples[3] = ShardSample("k3", _png(3)[:40], _annotations(3))  # cut mid-image: "image file is truncated"
    return write_shard(path, samples)


def _encode_steps(shard, skip_bad_samples):
    tokenizer = train_tokenizer(["caption text source " * 3], 300)
    stream = ShardStream([shard], AnnotationBalancer(target_distribution("task-lang", PAPER), 0), 0)

    def encode(item):
        return encode_annotation(item[0], item[1], 8, tokenizer, tokenizer, 32, 32, where=item[2])

    return rank_steps(stream, encode, lambda s: collate(s, 0), 6, 6, skip_bad_samples=skip_bad_samples)


def test_a_truncated_image_names_its_shard_and_key(tmp_path):
    shard = _truncated_png_shard(tmp_path / "000000.tar")
    with pytest.raises(BadSampleError, match=rf"shard {shard}, sample k3: the image cannot be decoded .*"
                                             r"--skip-bad-samples"):
        next(_encode_steps(shard, skip_bad_samples=False))


def test_bad_samples_are_skipped_and_counted_on_request(tmp_path):
    shard = _truncated_png_shard(tmp_path / "000000.tar")
    step = next(_encode_steps(shard, skip_bad_samples=True))
    assert step.skipped == 1 and step.micro_batches[0]["pixel_values"].shape[0] == 5


def test_steps_resumed_from_a_steps_state_continue_the_whole_run_on_any_number_of_processes(shards):
    """Steps 3.. of an uninterrupted one-process run equal those resumed from step 2's state, on one process
    and re-interleaved from two (the 1 -> 2 process resume), across the epoch boundary (15 images)."""
    def encode(item):
        return EncodedSample([], [2, len(item[1]["target"]), item[0][60] % 50, 1])

    def labels(state, rank=0, world_size=1, count=6):
        steps = rank_steps(_stream(shards, seed=3, state=state), encode, lambda s: collate(s, 0), 4,
                           4 // world_size, rank, world_size)
        taken = [next(steps) for _ in range(count)]
        return [step.micro_batches[0]["labels"] for step in taken], [step.state for step in taken]

    uninterrupted, states = labels(None, count=8)
    resumed, resumed_states = labels(states[1])
    assert all(torch.equal(a, b) for a, b in zip(resumed, uninterrupted[2:], strict=True))
    assert resumed_states == states[2:]
    pair = [labels(states[1], rank, 2)[0] for rank in range(2)]
    for step, (first, second) in enumerate(zip(*pair)):
        interleaved = torch.stack([first, second], dim=1).reshape(4, -1)
        assert torch.equal(interleaved, uninterrupted[2 + step])
