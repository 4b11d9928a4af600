"""Configuration of `florenz align` (torch-free, so `florenz --help` stays fast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from florenz.config import option


@dataclass
class AlignConfig:
    """Pair text-only bitext with images by CLIP similarity and write training shards (florenz.data.align)."""

    images: str = option(help="images to pair: a folder of shards (*.tar, e.g. a world's train/; their "
                              "captions are kept) or of image files (png, jpg, jpeg, webp; searched "
                              "recursively)")
    bitext: tuple[str, ...] = option(help="comma list of bitext files: TSV 'en<TAB>xx' named after their "
                                          "language (fr.tsv, ccmatrix.en-fr.tsv), or the xx side of a Moses "
                                          "pair (corpus.fr, with corpus.en beside it)")
    clip: str = option(help="transformers CLIPModel directory with its tokenizer and image processor "
                            "(florenz pretrain clip, or an open CLIP checkpoint)")
    out: str = option(help="output directory: train/*.tar, manifest.json (florenz train --data OUT) and the "
                           "embedding chunks in embeddings/")
    top_n: int = option(1, "sentences of each language paired with each image (its N most similar)")
    min_sim: float = option(0.0, "least cosine similarity of a kept image-sentence pair")
    score: Literal["cosine", "csls"] = option(
        "csls", "what ranks an image's sentences: cosine similarity, or CSLS (2·cos - r_image - r_sentence, "
                "r the mean similarity of an item's --csls-k nearest neighbours in the other set: hub "
                "sentences, close to every image, lose their lead)")
    csls_k: int = option(10, "neighbours averaged into each image's and each sentence's hubness r (CSLS)")
    # measured on a 20,000-image world (benchmarks/align_speed.py): French sentences used by the top-1 pairs,
    # of 20,000: cosine 635 (one sentence on 1,364 images), CSLS 1,078, CSLS capped at 4/2/1 uses (256
    # candidates) 4,847/8,009/11,811 with 2,269/4,312/8,189 images left without one; the share of images
    # given their own sentence stayed 0.002-0.003 in every setting (the CLIP's limit)
    max_reuse: int = option(2, "most images one sentence may be paired with (per language); 0: no cap")
    reuse_candidates: int = option(256, "with --max-reuse: each image's best sentences considered (memory: "
                                        "images x candidates x 16 bytes per language); an image whose "
                                        "candidates are all used up gets fewer than --top-n")
    shard: str = option("", "'i/N': embed only part i (0-based) of N and stop, as one task of a job array; "
                            "a run without --shard embeds what is missing, then searches and writes")
    launcher: Literal["local", "slurm"] = option(
        "local", "local: embed here; slurm: embed as --shards tasks of a SLURM job array (submitit), then "
                 "search and write here")
    shards: int = option(4, "slurm: embedding parts, one array task each")
    slurm_partition: str = option("", "slurm: partition to submit to; empty: the cluster's default")
    slurm_time_min: int = option(60, "slurm: time limit per task in minutes")
    index: Literal["flat", "ivf"] = option("flat", "faiss index of the sentences: flat (exact inner product) "
                                                    "or ivf (inverted lists, for millions of sentences)")
    ivf_lists: int = option(0, "inverted lists of the ivf index; 0: 4·sqrt(sentences), at most 1 per 39")
    ivf_probe: int = option(16, "lists the ivf index searches per query (more: slower, closer to exact)")
    chunk_size: int = option(4096, "images or sentences per embedding chunk file; memory grows with it, "
                                   "not with the corpus")
    batch_size: int = option(256, "images or sentences per CLIP forward pass")
    shard_size: int = option(1000, "images per output shard")
    keep_captions: bool = option(True, "keep the caption annotations of input shards beside the pairs")
    tokenizer: str = option("", "tokenizer.json copied to OUT, so that `florenz train --data OUT` finds "
                                "it; empty: give it to train with --loader.tokenizer")
    threads: int = option(0, "CPU threads (torch.set_num_threads); 0: torch's default")
    overwrite: bool = option(False, "replace an alignment in --out made with other settings (embedding "
                                    "chunks are kept if the images, bitext and CLIP model are the same)")

    def __post_init__(self) -> None:
        at_least = {"top_n": 1, "csls_k": 1, "max_reuse": 0, "reuse_candidates": 1, "ivf_lists": 0,
                    "ivf_probe": 1, "chunk_size": 1, "batch_size": 1, "shard_size": 1, "threads": 0,
                    "shards": 1, "slurm_time_min": 1}
        for name, least in at_least.items():
            if getattr(self, name) < least:
                raise ValueError(f"{name} is {getattr(self, name)}; use {least} or more")
        if not -1.0 <= self.min_sim <= 1.0:
            raise ValueError(f"min_sim is {self.min_sim}; a cosine similarity lies in [-1, 1]")
        if not self.bitext:
            raise ValueError("bitext is empty; give at least one bitext file")
        shard_part(self.shard)
        if self.launcher == "slurm" and self.shard:
            raise ValueError(f"shard {self.shard!r} with launcher slurm: the launcher makes the parts "
                             f"itself; give --shards N instead of --shard")


def shard_part(text: str) -> tuple[int, int]:
    """'i/N' -> (i, N); '' -> (0, 1); ValueError naming the form for anything else."""
    if not text:
        return 0, 1
    part, slash, parts = text.partition("/")
    if slash and part.strip().isdigit() and parts.strip().isdigit() and int(part) < int(parts):
        return int(part), int(parts)
    raise ValueError(f"shard {text!r} is not 'i/N' with 0 <= i < N (e.g. --shard 0/4 ... --shard 3/4)")
