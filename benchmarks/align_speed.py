"""Speed of `florenz align`'s three steps (images/s and sentences/s embedded, queries/s searched) and the
quality of its pairing on the world, where the true pairing is known.

    python benchmarks/align_speed.py                                # small world and tiny CLIP, built here
    python benchmarks/align_speed.py --world runs/world --clip runs/clip --threads 2
    python benchmarks/align_speed.py --align runs/aligned --variants cosine:0,csls:0,csls:4   # quality only

Embedding goes through the same functions as the verb (florenz.data.align: chunks written to disk); the
bitext is the world's own translation pairs with the pairing thrown away (`world_bitext`), so the run also
prints how often each sentence's true image is ranked first and in the top 5 (`recovery`, by cosine and by
CSLS). Searching is timed for the flat and the IVF index on the world's sentences and on --synthetic random
unit vectors (the scale where IVF pays). Compare ratios taken in one run, never absolute times from
different runs.

Pairing quality, per --variants entry `score:max_reuse[:reuse_candidates]` (top-1 pairs): the share of
images paired with their own sentence (precision), the distinct sentences used (coverage), the most images
one sentence got, and the images left without a sentence. `--align DIR` measures only this, on the
embedding chunks of an earlier `florenz align` of `world_bitext` files (each TSV's true image keys in
`<lang>.images.txt` beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from florenz.data.align import (
    EMBEDDING_SETTINGS,
    EMBEDDINGS,
    ClipEncoder,
    build_indexes,
    embed_image_chunks,
    embed_sentence_chunks,
    embedding_settings,
    read_chunks,
    recovery,
    search,
    sentence_hubness,
    sentence_use,
)
from florenz.data.align_config import AlignConfig
from florenz.data.align_inputs import bitext_files, image_inputs, iter_images, sentences, world_bitext
from florenz.data.world_build import build_world
from florenz.files import read_json, write_json_atomically
from florenz.pretrain.clip import pretrain_clip
from florenz.pretrain.config import ClipPretrainConfig
from florenz.world.config import WorldConfig

from common import environment, print_table, write_result


def _timed(function, *args) -> tuple[object, float]:
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def search_speed(vectors: np.ndarray, queries: np.ndarray, kind: str, top_n: int) -> float:
    """Queries/s of a flat or IVF (4·sqrt(n) lists, 16 probed) inner-product index over `vectors`."""
    import faiss

    width = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(width)
    else:
        lists = max(1, min(int(4 * np.sqrt(len(vectors))), len(vectors) // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(width), width, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[:256 * lists])
        index.nprobe = min(16, lists)
    index.add(vectors)
    _, seconds = _timed(index.search, queries, top_n)
    return len(queries) / seconds


def unit_vectors(count: int, width: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, width)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def pairing_quality(align_dir: Path, variants: list[str], config: AlignConfig) -> list[dict]:
    """One row per language and `score:max_reuse` variant: precision, coverage and reuse of the top-1 pairs
    that align's search makes from the embedding chunks in `align_dir` (see the module docstring)."""
    folder = align_dir / EMBEDDINGS
    bitext = read_json(folder / EMBEDDING_SETTINGS, "rerun align")["bitext"]
    truth = [Path(entry["path"]).with_suffix(".images.txt").read_text(encoding="utf-8").split()
             for entry in bitext]
    image_keys = {}
    for tensors, metadata in read_chunks(folder / "images"):
        image_keys |= dict(zip(tensors["positions"].tolist(), json.loads(metadata["keys"])))
    true_key = {}  # sentence id -> the key of its true image
    for tensors, _ in read_chunks(folder / "sentences"):
        for sentence, file, line in zip(*(tensors[name].tolist() for name in ("ids", "files", "lines"))):
            true_key[sentence] = truth[file][line - 1]
    files = bitext_files(tuple(entry["path"] for entry in bitext))
    width = next(read_chunks(folder / "images"))[0]["embeddings"].shape[1]
    hubness = sentence_hubness(folder / "images", folder / "sentences", config.csls_k, "flat", 0, 16)
    indexes = build_indexes(folder / "sentences", files, width, "flat", 0, 16, hubness)
    rows = []
    for variant in variants:
        score, max_reuse, *candidates = variant.split(":")
        started = time.process_time()
        pairs, _ = search(folder / "images", indexes, hubness, replace(
            config, score=score, max_reuse=int(max_reuse), top_n=1,
            reuse_candidates=int(candidates[0]) if candidates else config.reuse_candidates))
        cpu_seconds = time.process_time() - started
        use = sentence_use(pairs, {lang: index.ntotal for lang, index in indexes.items()})
        for lang, used in use.items():
            found = [(position, pair) for position, listed in pairs.items() for pair in listed
                     if pair.lang == lang]
            rows.append({"variant": variant, "lang": lang,
                         "precision": round(np.mean([image_keys[position] == true_key[pair.sentence]
                                                     for position, pair in found]), 4),
                         "sentences_used": used["sentences"], "of": used["of"],
                         "most_images": used["most_images"], "unpaired_images": len(image_keys) - len(found),
                         "search_cpu_s": round(cpu_seconds, 1)})
    return rows


def recovery_rows(align_dir: Path, truth: dict[str, list[str]], csls_k: int) -> list[dict]:
    """Top-1/top-5 recovery of each sentence's true image, by cosine and by CSLS, per bitext file."""
    rows = []
    for score in ("cosine", "csls"):
        for path, row in recovery(align_dir, truth, score=score, csls_k=csls_k).items():
            rows.append({"score": score, "bitext": Path(path).name,
                         **{key: round(value, 4) for key, value in row.items()}})
    return rows


def truth_of(align_dir: Path) -> dict[str, list[str]]:
    """Each bitext path of an alignment -> the true image key per line (`<lang>.images.txt` beside it)."""
    bitext = read_json(align_dir / EMBEDDINGS / EMBEDDING_SETTINGS, "rerun align")["bitext"]
    return {entry["path"]: Path(entry["path"]).with_suffix(".images.txt").read_text(encoding="utf-8").split()
            for entry in bitext}


def speed_rows(world: Path, clip: Path, exported: dict, langs: list[str], folder: Path,
               synthetic_count: int) -> list[dict]:
    """Items/s of each step of align with its default settings, embedding into `folder`."""
    config = AlignConfig(images=str(world / "train"), clip=str(clip), out=str(folder.parent),
                         bitext=tuple(str(exported[lang][0]) for lang in langs))
    files = bitext_files(config.bitext)
    kind, image_paths = image_inputs(config.images)
    write_json_atomically(folder / EMBEDDING_SETTINGS, embedding_settings(config, image_paths, files))
    encoder = ClipEncoder(config.clip, config.batch_size)
    with tqdm(desc="embed images", unit="image") as bar:
        _, image_seconds = _timed(embed_image_chunks, iter_images(kind, image_paths, world / "train"),
                                  encoder, folder / "images", 0, 1, config.chunk_size, bar)
        image_count = bar.n
    with tqdm(desc="embed sentences", unit="sentence") as bar:
        _, sentence_seconds = _timed(embed_sentence_chunks, sentences(files, Counter()), encoder,
                                     folder / "sentences", 0, 1, config.chunk_size, bar)
        sentence_count = bar.n
    hubness, hubness_seconds = _timed(sentence_hubness, folder / "images", folder / "sentences",
                                      config.csls_k, "flat", 0, 16)
    indexes, index_seconds = _timed(build_indexes, folder / "sentences", files, encoder.width, "flat", 0, 16,
                                    hubness)
    _, search_seconds = _timed(search, folder / "images", indexes, hubness, config)
    rows = [
        {"step": "embed images", "items": image_count, "per_s": round(image_count / image_seconds)},
        {"step": "embed sentences (English side)", "items": sentence_count,
         "per_s": round(sentence_count / sentence_seconds)},
        {"step": f"sentence hubness (k={config.csls_k} nearest images)", "items": sentence_count,
         "per_s": round(sentence_count / hubness_seconds)},
        {"step": f"build {len(indexes)} flat indexes", "items": sentence_count,
         "per_s": round(sentence_count / index_seconds)},
        {"step": f"search ({config.score}): {len(indexes)} languages x images",
         "items": image_count * len(indexes), "per_s": round(image_count * len(indexes) / search_seconds)},
    ]
    synthetic = unit_vectors(synthetic_count, encoder.width, 0)
    queries = unit_vectors(10_000, encoder.width, 1)
    for index_kind in ("flat", "ivf"):
        rows.append({"step": f"search {synthetic_count} random sentences ({index_kind})",
                     "items": len(queries), "per_s": round(search_speed(synthetic, queries, index_kind, 1))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="", help="a built world; empty: build a 2,000-image one here")
    parser.add_argument("--clip", default="", help="a CLIPModel directory; empty: `florenz pretrain clip` on "
                                                  "the world with its default recipe")
    parser.add_argument("--align", default="", help="only the pairing quality, on this alignment's embedding "
                                                   "chunks (of world_bitext files)")
    parser.add_argument("--langs", default="fr,zh", help="bitext languages exported from the world")
    parser.add_argument("--variants", default="cosine:0,csls:0,cosine:4,csls:4,csls:2,csls:1",
                        help="pairings compared, each score:max_reuse[:reuse_candidates]")
    parser.add_argument("--synthetic", type=int, default=200_000, help="random sentences for the search "
                                                                      "timing at scale")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads")
    parser.add_argument("--json", default="benchmarks/results/align_speed.json",
                        help="where to write results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = environment(args.threads, packages=("faiss-cpu", "transformers"))
    print(f"hardware: {env['hardware']}\nversions: {env['versions']}")
    config = AlignConfig(images="", bitext=("unused.fr.tsv",), clip="", out="")
    with tempfile.TemporaryDirectory(prefix="florenz-align-speed-") as scratch:
        scratch = Path(scratch)
        rows = []
        if args.align:
            align_dir = Path(args.align)
        else:
            world = Path(args.world) if args.world else build_world(WorldConfig(
                out=str(scratch / "world"), samples=2000, image_size=64, test_samples=200,
                benchmark_samples=10, corpus_sentences=100, shard_size=500))
            clip = Path(args.clip) if args.clip else pretrain_clip(ClipPretrainConfig(
                world=str(world), out=str(scratch / "clip"), threads=args.threads))
            exported = world_bitext(world, scratch / "bitext")
            align_dir = scratch / "align"
            rows = speed_rows(world, clip, exported, args.langs.split(","), align_dir / EMBEDDINGS,
                              args.synthetic)
            print("\nalign, step by step (per_s: items per second):")
            print_table(rows, ["step", "items", "per_s"])
        recovered = recovery_rows(align_dir, truth_of(align_dir), config.csls_k)
        print("\nrecovery of each sentence's true image among the world's training images:")
        print_table(recovered)
        quality = pairing_quality(align_dir, args.variants.split(","), config)
        print("\npairing quality of top-1 pairs (precision: the image's own sentence; sentences_used of of):")
        print_table(quality)
    write_result(args.json, {"benchmark": "align_speed", "date": time.strftime("%Y-%m-%d"), **env,
                             "rows": rows, "recovery": recovered, "pairing": quality})


if __name__ == "__main__":
    main()
