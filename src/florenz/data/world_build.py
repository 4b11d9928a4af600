"""`florenz world build`: write the world's shards, test splits, benchmarks, corpus, tokenizer and manifest.

    DIR/train/000000.tar ...                     every training image with all annotations the coverage allows
    DIR/test/{uc,st,sc}/{lang}/000000.tar        held-out scenes and sentences, one annotation per sample
    DIR/bench/{translation,caption,caption_en,ambiguity}/000000.tar
    DIR/corpus/{lang}.txt                        text-only lines for decoder LM pre-training
    DIR/tokenizer.json, DIR/manifest.json

Order: training shards first (in parallel, each from its own seeded stream), then the held-out sets, which
must avoid every training image and sentence, then the corpus, which avoids every held-out sentence, then
the tokenizer and the manifest. A marker file makes an interrupted build resumable: rerun the same command
and finished training shards are kept; the result is byte-identical to an uninterrupted build. Rerunning a
finished build with the same settings does nothing; other settings need --overwrite or another --out. One
process at a time owns --out (florenz.files.owned_directory).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
from tqdm import tqdm

from florenz.config import describe_changes, to_dict
from florenz.data.coverage import CoverageSpec, parse_coverage
from florenz.data.prompts import build_prompt
from florenz.data.shards import ShardSample, read_shard, write_shard
from florenz.data.tokenizer import train_tokenizer
from florenz.errors import FlorenzError
from florenz.files import nothing_to_do, owned_directory, read_json, sha256_of_file, write_atomically
from florenz.world.config import NON_CONTENT_FIELDS, WorldConfig
from florenz.world.languages import DETAIL_LEVELS, LANGUAGES
from florenz.world.samples import (
    BENCHMARKS,
    TEST_SETS,
    Fingerprints,
    Sample,
    annotation_texts,
    benchmark,
    corpus_lines,
    image_key,
    make_test_set,
    text_key,
    training_shard,
)

MANIFEST = "manifest.json"
IN_PROGRESS = "build-in-progress.json"  # present from the start of a build until its manifest is written
FORMAT = "florenz-world/1"
_UNREADABLE_FIX = "delete it, or choose another --out"


# --- the output directory -------------------------------------------------------------------------------

def _world_folders() -> list[str]:
    """The folders of the world layout, deepest first."""
    tests = [f"test/{name}/{lang}" for name, (_, langs) in TEST_SETS.items() for lang in langs]
    return tests + [f"test/{name}" for name in TEST_SETS] + [f"bench/{name}" for name in BENCHMARKS] + [
        "test", "bench", "train", "corpus"]


def _world_files(out: Path) -> list[Path]:
    """Every file of the world layout that exists in `out` (temporaries included), and nothing else."""
    patterns = [MANIFEST, IN_PROGRESS, "tokenizer.json*", "train/*.tar*"]
    patterns += [f"{folder}/*.tar*" for folder in _world_folders() if folder.startswith(("test/", "bench/"))]
    patterns += [f"corpus/{lang}.txt*" for lang in LANGUAGES]
    return sorted({path for pattern in patterns for path in out.glob(pattern) if path.is_file()})


def _remove_world(out: Path, keep: frozenset[Path] = frozenset()) -> None:
    """Delete the world's own files (except `keep`) and the folders this leaves empty; nothing else."""
    for path in _world_files(out):
        if path not in keep:
            path.unlink()
    for folder in _world_folders():
        if (out / folder).is_dir() and not any((out / folder).iterdir()):
            (out / folder).rmdir()


def _content(config: dict) -> dict:
    """The settings that decide what a world holds (not where or how fast it is built)."""
    return {key: value for key, value in config.items() if key not in NON_CONTENT_FIELDS}


def _is_built(out: Path, config: dict) -> bool:
    """Whether `out` holds a finished world with the same content settings as `config`."""
    if not (out / MANIFEST).is_file():
        return False
    return _content(read_json(out / MANIFEST, _UNREADABLE_FIX).get("config", {})) == _content(config)


def _prepare_out(out: Path, config: dict, overwrite: bool) -> dict[str, str]:
    """Make `out` ready for a build of `config`; refuses to touch anything but a world. Returns the training
    shards that an earlier build of the same world left and that may be kept: {path: sha256 or ""}."""
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return {}
    if (out / MANIFEST).is_file():
        previous = read_json(out / MANIFEST, _UNREADABLE_FIX)
        if not overwrite:
            changes = describe_changes(_content(previous.get("config", {})), _content(config))
            raise FlorenzError(f"{out} already holds a world built with other settings ({changes}); pass "
                               "--overwrite to rebuild it (only the world's own files are replaced) or "
                               "choose another --out (nothing there was changed)")
    elif (out / IN_PROGRESS).is_file():
        previous = read_json(out / IN_PROGRESS, _UNREADABLE_FIX)
        if _content(previous.get("config", {})) != _content(config) and not overwrite:
            raise FlorenzError(f"{out} holds an unfinished world built with other settings; rerun with the "
                               "same flags to finish it, or pass --overwrite to start it over")
    else:
        raise FlorenzError(f"{out} is not empty and holds no Florenz world (no {MANIFEST}); choose an empty "
                           "or new --out directory")
    if _content(previous.get("config", {})) != _content(config):
        _remove_world(out)
        return {}
    known = previous.get("files", {})  # sha256 by relative path, from a finished build's manifest
    keep = {path: known.get(str(path.relative_to(out)), "") for path in _world_files(out)
            if path.parent.name == "train" and path.suffix == ".tar"}
    _remove_world(out, keep=frozenset(keep))
    return {str(path): sha for path, sha in keep.items()}


# --- jobs run in worker processes -----------------------------------------------------------------------

@dataclass(frozen=True)
class _Job:
    """One unit of work: a training shard, a test set, a benchmark or a corpus language."""

    config: WorldConfig
    kind: str  # "train", "test", "bench", "corpus"
    name: str  # shard index for train, "uc"/"st"/"sc", a benchmark name, or a language
    lang: str = ""  # the language of a test set
    path: str = ""  # train: the shard file
    keep_sha256: str | None = None  # train: keep the existing shard file (its sha256, if known)


@dataclass
class _Result:
    counts: Counter  # annotations per "task-lang"
    samples: int
    image_keys: np.ndarray
    text_keys: np.ndarray
    lines: list[str] | None = None  # corpus jobs


_SHARED: Fingerprints | None = None  # what held-out jobs must avoid, set once per worker


def _share(fingerprints: Fingerprints | None) -> None:
    global _SHARED
    _SHARED = fingerprints


def _summarise(samples: list[Sample] | list[ShardSample]) -> _Result:
    counts: Counter = Counter()
    image_keys, text_keys = [], []
    for sample in samples:
        image_keys.append(image_key(sample.png if isinstance(sample, Sample) else sample.image))
        for annotation in sample.annotations:
            counts[f"{annotation['task']}-{annotation['lang']}"] += 1
            text_keys += [text_key(text) for text in annotation_texts(annotation)]
    return _Result(counts, len(samples), np.array(image_keys, np.uint64), np.array(text_keys, np.uint64))


def _write_samples(directory: Path, samples: list[Sample], shard_size: int) -> None:
    for index, start in enumerate(range(0, len(samples), shard_size)):
        write_shard(directory / f"{index:06d}.tar",
                    [ShardSample(s.key, s.png, s.annotations) for s in samples[start:start + shard_size]])


def _run_job(job: _Job) -> _Result:
    config = job.config
    if job.kind == "train":
        shard = int(job.name)
        if job.keep_sha256 is not None and job.keep_sha256 in ("", sha256_of_file(Path(job.path))):
            try:
                return _summarise(list(read_shard(job.path)))
            except FlorenzError:
                pass  # an unreadable leftover: make the shard again
        coverage = parse_coverage(config.coverage)  # canonical text by now
        count = min(config.shard_size, config.samples - shard * config.shard_size)
        samples = training_shard(config.seed, shard, count, config.image_size, config.max_objects,
                                 coverage.languages("caption"), coverage.languages("translation"),
                                 config.captions_per_detail, config.translations_per_language, config.text)
        write_shard(job.path, [ShardSample(s.key, s.png, s.annotations) for s in samples])
        return _summarise(samples)
    out = Path(config.out)
    if job.kind == "test":
        samples = make_test_set(config.seed, job.name, job.lang, config.test_samples, config.image_size,
                                config.max_objects, _SHARED, config.text)
        _write_samples(out / "test" / job.name / job.lang, samples, config.shard_size)
        return _summarise(samples)
    if job.kind == "bench":
        samples = benchmark(config.seed, job.name, config.benchmark_samples, config.image_size,
                            config.max_objects, _SHARED, config.caption_references,
                            config.caption_en_references, config.text)
        _write_samples(out / "bench" / job.name, samples, config.shard_size)
        return _summarise(samples)
    lines = corpus_lines(config.seed, job.name, config.corpus_sentences, config.max_objects, _SHARED,
                         config.variety)
    write_atomically(out / "corpus" / f"{job.name}.txt", "".join(line + "\n" for line in lines))
    no_keys = np.zeros(0, np.uint64)
    return _Result(Counter({job.name: len(lines)}), len(lines), no_keys, no_keys, lines)


def _run_all(jobs: list[_Job], workers: int, shared: Fingerprints | None, description: str) -> list[_Result]:
    """Run jobs in order-preserving parallel; with one worker, in this process."""
    progress = {"total": len(jobs), "desc": description, "file": sys.stderr, "disable": None, "leave": False}
    if workers == 1 or len(jobs) == 1:
        _share(shared)
        try:
            return [_run_job(job) for job in tqdm(jobs, **progress)]
        finally:
            _share(None)
    # forkserver: safe beside threads (the progress bar's), and its start-up is paid once per build
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    with context.Pool(min(workers, len(jobs)), initializer=_share, initargs=(shared,)) as pool:
        return list(tqdm(pool.imap(_run_job, jobs), **progress))


# --- the build ------------------------------------------------------------------------------------------

def _merge(results: list[_Result]) -> Fingerprints:
    return Fingerprints(np.concatenate([r.image_keys for r in results] or [np.zeros(0, np.uint64)]),
                        np.concatenate([r.text_keys for r in results] or [np.zeros(0, np.uint64)]))


def _counts(result_list: list[_Result]) -> dict:
    counts: Counter = Counter()
    for result in result_list:
        counts.update(result.counts)
    return {"samples": sum(r.samples for r in result_list), "annotations": dict(sorted(counts.items()))}


def _tokenizer_texts(out: Path, corpus: list[_Result]) -> list[str]:
    """All corpus lines, every prompt template, and the texts of the first training shard."""
    texts = [line for result in corpus for line in result.lines]
    texts += [build_prompt("caption", lang, detail) for lang in LANGUAGES for detail in DETAIL_LEVELS]
    texts += [build_prompt("translation", lang, source="") for lang in LANGUAGES]
    texts += [text for sample in read_shard(out / "train" / "000000.tar")
              for annotation in sample.annotations for text in annotation_texts(annotation)]
    return texts


def _versions() -> dict[str, str]:
    return {name: version(name) for name in ("florenz", "numpy", "pillow", "tokenizers")} | {
        "python": sys.version.split()[0]}


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def build_world(config: WorldConfig) -> Path:
    """Build the world described by `config` in `config.out` and return that directory."""
    coverage = parse_coverage(config.coverage)  # a bad spec fails here, before anything is written
    config = replace(config, coverage=str(coverage), workers=config.workers or _cpu_count())
    out = Path(config.out)
    with owned_directory(out, "world build"):
        if not config.overwrite and _is_built(out, to_dict(config)):
            print(nothing_to_do("world build", out, "the same settings; --overwrite rebuilds it"))
            return out
        try:
            keep = _prepare_out(out, to_dict(config), config.overwrite)
            write_atomically(out / IN_PROGRESS, json.dumps({"format": FORMAT, "config": to_dict(config)},
                                                           indent=1))
        except OSError as error:  # e.g. a directory another user owns: nothing of the world written yet
            raise FlorenzError(f"cannot write to --out {out} ({error.strerror}: {error.filename}); choose a "
                               f"writable directory") from None
        _build(config, coverage, out, keep)
    return out


def _build(config: WorldConfig, coverage: CoverageSpec, out: Path, keep: dict[str, str]) -> None:
    """Write every file of the world into the prepared `out`; the manifest last."""
    started = time.perf_counter()

    shards = range((config.samples + config.shard_size - 1) // config.shard_size)
    train_jobs = [_Job(config, "train", str(shard), path=str(out / "train" / f"{shard:06d}.tar"))
                  for shard in shards]
    train_jobs = [replace(job, keep_sha256=keep.get(job.path)) for job in train_jobs]
    train = _run_all(train_jobs, config.workers, None, "train shards")
    held_out_jobs = [_Job(config, "test", name, lang)
                     for name, (_, langs) in TEST_SETS.items() for lang in langs]
    held_out_jobs += [_Job(config, "bench", name) for name in BENCHMARKS]
    held_out = _run_all(held_out_jobs, config.workers, _merge(train), "test sets and benchmarks")
    corpus = _run_all([_Job(config, "corpus", lang) for lang in LANGUAGES], config.workers, _merge(held_out),
                      "corpus")

    tokenizer = train_tokenizer(_tokenizer_texts(out, corpus), config.vocab_size)
    write_atomically(out / "tokenizer.json", tokenizer.to_str(pretty=True))

    counts = {"train": _counts(train)}
    counts |= {"/".join(filter(None, (job.kind, job.name, job.lang))): _counts([result])
               for job, result in zip(held_out_jobs, held_out)}
    counts["corpus"] = {"lines": {lang: result.samples for lang, result in zip(LANGUAGES, corpus)}}
    manifest = {
        "format": FORMAT,
        "seed": config.seed,
        "coverage": config.coverage,
        "categories": list(coverage.keys()),
        "test_sets": {name: {"task": task, "languages": list(langs)}
                      for name, (task, langs) in TEST_SETS.items()},
        "benchmarks": list(BENCHMARKS),
        "vocab_size": tokenizer.get_vocab_size(),
        "counts": counts,
        "config": to_dict(config),
        "versions": _versions(),
        "files": {str(path.relative_to(out)): sha256_of_file(path) for path in _world_files(out)
                  if path.name not in (MANIFEST, IN_PROGRESS)},
    }
    write_atomically(out / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    (out / IN_PROGRESS).unlink()
    print(f"florenz world build: wrote {out} ({config.samples} training images, "
          f"{len(manifest['files'])} files) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
