"""Speed of `florenz align`'s three steps: images/s and sentences/s embedded, queries/s searched.

    python benchmarks/align_speed.py                                # small world and tiny CLIP, built here
    python benchmarks/align_speed.py --world runs/world --clip runs/clip --threads 2

Embedding goes through the same functions as the verb (florenz.data.align: chunks written to disk); the
bitext is the world's own translation pairs with the pairing thrown away (`world_bitext`), so the run also
prints how often each sentence's true image is ranked first and in the top 5 (`recovery`). Searching is
timed for the flat and the IVF index on the world's sentences and on --synthetic random unit vectors (the
scale where IVF pays). Compare ratios taken in one run, never absolute times from different runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
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
    recovery,
    search,
)
from florenz.data.align_config import AlignConfig
from florenz.data.align_inputs import bitext_files, image_inputs, iter_images, sentences, world_bitext
from florenz.data.world_build import build_world
from florenz.files import write_json_atomically
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="", help="a built world; empty: build a 2,000-image one here")
    parser.add_argument("--clip", default="", help="a CLIPModel directory; empty: `florenz pretrain clip` on "
                                                  "the world with its default recipe")
    parser.add_argument("--langs", default="fr,zh", help="bitext languages exported from the world")
    parser.add_argument("--synthetic", type=int, default=200_000, help="random sentences for the search "
                                                                      "timing at scale")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads")
    parser.add_argument("--json", default="benchmarks/results/align_speed.json",
                        help="where to write results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = environment(args.threads, packages=("faiss-cpu", "transformers"))
    print(f"hardware: {env['hardware']}\nversions: {env['versions']}")
    with tempfile.TemporaryDirectory(prefix="florenz-align-speed-") as scratch:
        scratch = Path(scratch)
        world = Path(args.world) if args.world else build_world(WorldConfig(
            out=str(scratch / "world"), samples=2000, image_size=64, test_samples=200, benchmark_samples=10,
            corpus_sentences=100, shard_size=500))
        clip = Path(args.clip) if args.clip else pretrain_clip(ClipPretrainConfig(
            world=str(world), out=str(scratch / "clip"), threads=args.threads))
        exported = world_bitext(world, scratch / "bitext")
        langs = args.langs.split(",")
        config = AlignConfig(images=str(world / "train"), clip=str(clip), out=str(scratch / "align"),
                             bitext=tuple(str(exported[lang][0]) for lang in langs))
        files = bitext_files(config.bitext)
        kind, image_paths = image_inputs(config.images)
        folder = scratch / "align" / EMBEDDINGS
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
        indexes, index_seconds = _timed(build_indexes, folder / "sentences", files, encoder.width, "flat", 0,
                                        16)
        _, search_seconds = _timed(search, folder / "images", indexes, 1, 0.0)
        scores = recovery(scratch / "align", {str(exported[lang][0]): exported[lang][1] for lang in langs})
    rows = [
        {"step": "embed images", "items": image_count, "per_s": round(image_count / image_seconds)},
        {"step": "embed sentences (English side)", "items": sentence_count,
         "per_s": round(sentence_count / sentence_seconds)},
        {"step": f"build {len(indexes)} flat indexes", "items": sentence_count,
         "per_s": round(sentence_count / index_seconds)},
        {"step": f"search: {len(indexes)} languages x images", "items": image_count * len(indexes),
         "per_s": round(image_count * len(indexes) / search_seconds)},
    ]
    synthetic = unit_vectors(args.synthetic, encoder.width, 0)
    queries = unit_vectors(10_000, encoder.width, 1)
    for index_kind in ("flat", "ivf"):
        rows.append({"step": f"search {args.synthetic} random sentences ({index_kind})",
                     "items": len(queries),
                     "per_s": round(search_speed(synthetic, queries, index_kind, 1))})
    print("\nalign, step by step (per_s: items per second):")
    print_table(rows, ["step", "items", "per_s"])
    recovered = [{"lang": lang, **{key: round(value, 4) for key, value in scores[str(
        Path(exported[lang][0]).resolve())].items()}} for lang in langs]
    print("\nrecovery of each sentence's true image among the world's training images:")
    print_table(recovered)
    write_result(args.json, {"benchmark": "align_speed", "date": time.strftime("%Y-%m-%d"), **env,
                             "rows": rows, "recovery": recovered})


if __name__ == "__main__":
    main()
