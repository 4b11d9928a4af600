"""Training streams: shards -> one balanced annotation per image -> tokens -> per-rank micro-batches.

The stream is defined globally, independent of the number of processes: epoch e visits the shards in a
seeded permutation and each shard's samples in a seeded permutation; every rank walks the whole stream
(annotation JSON only), runs the same balancer, and decodes images only for its own samples. Global step
k takes stream items [k·G, (k+1)·G) and rank r keeps items r, r+W, ... of them, so a run on W processes
sees exactly the batches of a one-process run. The cursor (`state`) is the next stream index plus the
balancer's counts: JSON, small, and enough to continue the same sample stream after a resume.

Balancing (reference §3.2, fixed per §9.2.16): each image's annotation is chosen by greedy deficit
against a target distribution over "task-lang" categories; the counts are global, not per worker, ties
are broken by a generator seeded with (seed, stream index), and an annotation whose category is not in
the target is an error, never a silent drop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from florenz.config import ConfigError
from florenz.data.collate import EncodedSample, image_to_tensor, truncate
from florenz.data.prompts import build_prompt
from florenz.data.shards import ShardSample, count_samples, read_shard
from florenz.data.tokenizer import encode_text
from florenz.errors import FlorenzError

# --- the target mixture -------------------------------------------------------------------------------

def target_distribution(balance: str, categories: list[str]) -> dict[str, float]:
    """Normalised target weights over "task-lang" categories from a preset name or explicit weights.

    The presets generalise the reference's (§3.2): 'task-lang' is uniform over categories; 'task' gives
    each task the same share, split evenly over its languages; 'lang' does the same per language.
    """
    if balance in ("task-lang", "task", "lang"):
        if not categories:
            raise ConfigError("the training coverage is empty; give --loader.coverage or a data directory "
                              "whose manifest lists its coverage")
        part = {"task-lang": lambda c: c, "task": lambda c: c.split("-")[0],
                "lang": lambda c: c.split("-")[1]}
        groups: dict[str, list[str]] = {}
        for category in categories:
            groups.setdefault(part[balance](category), []).append(category)
        weights = {c: 1.0 / len(groups) / len(members) for members in groups.values() for c in members}
    else:
        weights = {}
        for item in balance.split(","):
            key, _, value = item.partition("=")
            try:
                weights[key.strip()] = float(value)
            except ValueError:
                raise ConfigError(f"loader.balance: {item!r} is not 'category=weight'; write e.g. "
                                  f"'caption-en=1,translation-fr=2' or use task-lang/task/lang") from None
        for key, value in weights.items():
            task, _, lang = key.partition("-")
            if task not in ("caption", "translation") or not lang or value < 0:
                raise ConfigError(f"loader.balance: bad entry {key}={value}; categories are 'caption-<lang>' "
                                  f"or 'translation-<lang>' with weights >= 0")
    total = sum(weights.values())
    if total <= 0:
        raise ConfigError(f"loader.balance {balance!r} has no positive weight")
    return {key: value / total for key, value in sorted(weights.items()) if value > 0}


class AnnotationBalancer:
    """Chooses one annotation per image so that category counts track the target (greedy deficit)."""

    def __init__(self, target: dict[str, float], seed: int, keep_only_target: bool = False,
                 counts: dict[str, int] | None = None) -> None:
        self.target = target
        self.seed = seed
        self.keep_only_target = keep_only_target  # True when the user narrowed the coverage on purpose
        self.counts = {key: 0 for key in target} if counts is None else dict(counts)

    def choose(self, annotations: list[dict[str, Any]], index: int, where: str) -> dict[str, Any] | None:
        """The annotation for stream item `index`, or None if none is in the (narrowed) coverage."""
        by_category: dict[str, list[dict[str, Any]]] = {}
        for annotation in annotations:
            category = f"{annotation.get('task')}-{annotation.get('lang')}"
            if category not in self.target:
                if self.keep_only_target:
                    continue
                raise FlorenzError(f"{where}: annotation category {category!r} is not in the target "
                                   f"mixture {sorted(self.target)}; add it to --loader.balance, or narrow "
                                   f"the training data on purpose with --loader.coverage")
            by_category.setdefault(category, []).append(annotation)
        if not by_category:
            return None
        rng = np.random.default_rng((self.seed, index))
        seen = sum(self.counts.values()) + 1
        deficit = {c: self.target[c] * seen - self.counts[c] for c in sorted(by_category)}
        best = max(deficit.values())
        tied = [c for c, d in deficit.items() if d >= best - 1e-9]
        category = tied[int(rng.integers(len(tied)))]
        self.counts[category] += 1
        candidates = by_category[category]
        return candidates[int(rng.integers(len(candidates)))]


# --- raw streams ----------------------------------------------------------------------------------------

def _epoch_order(seed: int, epoch: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng((seed, epoch, *stream))


class ShardStream:
    """Images with their chosen annotation, in a seeded per-epoch order; `state` resumes it exactly."""

    def __init__(self, shard_paths: list[Path], balancer: AnnotationBalancer, seed: int,
                 state: dict[str, Any] | None = None) -> None:
        if not shard_paths:
            raise FlorenzError("no training shards (*.tar) found; build a world with `florenz world build` "
                               "or point --data at a directory with a train/ folder of shards")
        self.shard_paths = shard_paths
        self.shard_sizes = [count_samples(path) for path in shard_paths]
        self.epoch_size = sum(self.shard_sizes)
        self.balancer = balancer
        self.seed = seed
        self.index = 0 if state is None else state["index"]  # next raw stream position
        if state is not None:
            balancer.counts = dict(state["counts"])
        self._loaded: tuple[tuple[int, int], list[ShardSample], np.ndarray] | None = None
        self._shard_order: tuple[int, np.ndarray] | None = None

    @property
    def state(self) -> dict[str, Any]:
        return {"index": self.index, "counts": dict(self.balancer.counts)}

    def _raw(self, index: int) -> tuple[ShardSample, str]:
        epoch, offset = divmod(index, self.epoch_size)
        if self._shard_order is None or self._shard_order[0] != epoch:  # a generator per sample costs ~0.1 ms
            self._shard_order = (epoch, _epoch_order(self.seed, epoch).permutation(len(self.shard_paths)))
        for shard in self._shard_order[1]:
            if offset < self.shard_sizes[shard]:
                break
            offset -= self.shard_sizes[shard]
        if self._loaded is None or self._loaded[0] != (epoch, shard):
            samples = list(read_shard(self.shard_paths[shard]))
            order = _epoch_order(self.seed, epoch, int(shard)).permutation(len(samples))
            self._loaded = ((epoch, shard), samples, order)
        _, samples, order = self._loaded
        sample = samples[order[offset]]
        return sample, f"shard {self.shard_paths[shard]}, sample {sample.key}"

    def __iter__(self) -> Iterator[tuple[bytes, dict[str, Any], str]]:
        """(image bytes, chosen annotation, "shard ..., sample KEY") per stream item."""
        skipped = 0
        while True:
            sample, where = self._raw(self.index)
            chosen = self.balancer.choose(sample.annotations, self.index, where)
            self.index += 1
            if chosen is not None:
                skipped = 0
                yield sample.image, chosen, where
                continue
            skipped += 1  # outside a coverage the user narrowed on purpose
            if skipped > self.epoch_size:
                raise FlorenzError(f"no training image has an annotation in the coverage "
                                   f"{sorted(self.balancer.target)}; widen --loader.coverage or use data "
                                   "that covers it")


class CorpusStream:
    """Lines of text-only corpora in a seeded per-epoch permutation, for decoder LM pre-training."""

    def __init__(self, corpus_paths: list[Path], seed: int, state: dict[str, Any] | None = None) -> None:
        self.lines = [line for path in corpus_paths
                      for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not self.lines:
            raise FlorenzError(f"the corpora {[str(p) for p in corpus_paths]} are empty; rebuild the world")
        self.seed = seed
        self.index = 0 if state is None else state["index"]
        self._order: tuple[int, np.ndarray] | None = None

    @property
    def state(self) -> dict[str, Any]:
        return {"index": self.index}

    def __iter__(self) -> Iterator[str]:
        while True:
            epoch, offset = divmod(self.index, len(self.lines))
            if self._order is None or self._order[0] != epoch:
                self._order = (epoch, _epoch_order(self.seed, epoch).permutation(len(self.lines)))
            self.index += 1
            yield self.lines[self._order[1][offset]]


# --- encoding and per-rank batching ---------------------------------------------------------------------

class BadSampleError(FlorenzError):
    """A training sample that cannot be used (its image does not decode); --skip-bad-samples skips it."""


def encode_annotation(image: bytes, annotation: dict[str, Any], image_size: int, tokenizer: Any,
                      prompt_tokenizer: Any, max_prompt_tokens: int, max_target_tokens: int,
                      where: str = "a sample") -> EncodedSample:
    """An image and one annotation -> prompt ids, target ids ([<bos>] … [<eos>], truncated) and pixels."""
    prompt = build_prompt(annotation["task"], annotation["lang"], annotation.get("detail", "short"),
                          annotation.get("source"))
    try:
        pixel_values = image_to_tensor(image, image_size)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:  # PIL's decode errors
        raise BadSampleError(f"{where}: the image cannot be decoded ({error}); restore or rebuild that "
                             f"shard, or pass --skip-bad-samples to skip such samples (counted)") from None
    return EncodedSample(
        prompt_ids=truncate(encode_text(prompt_tokenizer, prompt), max_prompt_tokens),
        target_ids=truncate(encode_text(tokenizer, annotation["target"]), max_target_tokens),
        pixel_values=pixel_values,
        category=f"{annotation['task']}-{annotation['lang']}",
    )


def encode_text_sample(text: str, tokenizer: Any, max_target_tokens: int) -> EncodedSample:
    """A corpus line as a decoder-only sample."""
    return EncodedSample(prompt_ids=[], target_ids=truncate(encode_text(tokenizer, text), max_target_tokens))


@dataclass
class Step:
    """The micro-batches of one optimizer step on this rank, and the stream cursor after the step."""

    micro_batches: list[dict[str, Any]]
    state: dict[str, Any]
    skipped: int = 0  # this rank's bad samples left out of the step (--skip-bad-samples)


def sample_length(sample: EncodedSample) -> tuple[int, int]:
    """The sort key of length-grouped micro-batches: target tokens, then prompt tokens."""
    return len(sample.target_ids), len(sample.prompt_ids)


def rank_steps(stream: ShardStream | CorpusStream, encode: Callable[[Any], EncodedSample],
               collate: Callable[[list[EncodedSample]], dict[str, Any]], global_batch_size: int,
               micro_batch_size: int, rank: int = 0, world_size: int = 1,
               skip_bad_samples: bool = False, group_by_length: bool = False) -> Iterator[Step]:
    """Per optimizer step: this rank's share (items rank, rank+W, ...) of the next G stream items; a bad
    sample raises its BadSampleError, or with `skip_bad_samples` is left out (the step is one smaller).

    `group_by_length` sorts the share by length before it is cut into micro-batches, each padded to its own
    longest sample: the step holds the same samples, with far less padding (world batches are ~60% padding).
    """
    items = iter(stream)
    while True:
        mine, skipped = [], 0
        for position in range(global_batch_size):
            item = next(items)
            if position % world_size == rank:
                try:
                    mine.append(encode(item))
                except BadSampleError:
                    if not skip_bad_samples:
                        raise
                    skipped += 1
        if not mine:
            raise FlorenzError(f"every sample of a step on rank {rank} is bad (stream position "
                               f"{stream.index}); the data is broken beyond skipping: rebuild it")
        if group_by_length:
            mine.sort(key=sample_length)  # stable: equal lengths keep their stream order
        chunks = [mine[i:i + micro_batch_size] for i in range(0, len(mine), micro_batch_size)]
        yield Step(micro_batches=[collate(chunk) for chunk in chunks], state=stream.state, skipped=skipped)


def prefetch(iterator: Iterator[Step], depth: int) -> Iterator[Step]:
    """Run `iterator` in a background thread, `depth` items ahead, preserving order and errors.

    Closing the returned generator stops the thread and waits for it, so no thread outlives its run.
    """
    if depth == 0:
        yield from iterator
        return
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(kind: str, value: object) -> None:
        while not stop.is_set():
            try:
                buffer.put((kind, value), timeout=0.05)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in iterator:
                if stop.is_set():
                    return
                hand_over("item", item)
        except BaseException as error:  # handed to the consumer, which re-raises it
            hand_over("error", error)

    thread = threading.Thread(target=produce, daemon=True, name="florenz-prefetch")
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()
