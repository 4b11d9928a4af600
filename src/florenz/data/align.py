"""`florenz align`: pair text-only bitext with images by CLIP similarity and write training shards.

The paper's pre-training data is bitext (CCMatrix) matched to web images (CC12M) with a contrastive model;
its code ships only the finished files. This is the recipe, for local files at any scale:

1. embed: the images (a folder of shards or of image files) and the English side of the bitext (TSV
   `en<TAB>xx`, or Moses `file.en` + `file.xx`) go through a transformers `CLIPModel` in chunks of
   --chunk-size items, each written to `OUT/embeddings/{images,sentences}/NNNNNN.safetensors` (float16,
   unit length) as soon as it is done; memory is bounded by the chunk, and a chunk on disk is never made
   again, so an interrupted run resumes. `--shard i/N` embeds only chunks c with c mod N = i, so N processes
   (or the tasks of a SLURM array) share the work; `--launcher slurm --shards N` submits those N parts as
   one job array through submitit, waits for them, then goes on to step 2 here.
2. search: a run without --shard embeds whatever is missing, then builds one faiss index per target
   language over the sentence chunks (IndexFlatIP, exact; or IVF for millions) and asks it for each
   image's --top-n best sentences at cosine similarity >= --min-sim. Best by --score: cosine, or CSLS
   (the default), which discounts "hub" sentences that are close to every image; and --max-reuse caps how
   many images one sentence is paired with (default 2), since a weak CLIP otherwise pairs thousands of
   images with a few hundred sentences (measured numbers at AlignConfig.max_reuse).
3. write: shards in the world layout (`OUT/train/NNNNNN.tar`, florenz.data.shards): each image with its
   pairs as translation annotations `{"task": "translation", "lang", "source", "target", "similarity"}`
   (and "csls" with --score csls), plus the captions of input shards (--keep-captions), and a
   `manifest.json` with the coverage spec, sample counts, sentences used per language and sha256 of every
   shard, which `florenz train --data OUT` checks and balances by.

Bad input is skipped and counted, never fatal: an image that does not decode (the summary names them), a
bitext line without a tab or with an empty side. A CLIP directory of another model type, a bitext file
whose language cannot be told, or an --out holding something else is a FlorenzError before any work.

The world proves the recipe (tests/data/test_align.py, benchmarks/align_speed.py): `world_bitext`
(florenz.data.align_inputs) exports a world's translation pairs as TSV with the pairing thrown away (the
true image of each line kept aside), and `recovery` measures how often align's embeddings put a sentence's
true image first or in the top 5, by cosine or CSLS.

Shapes: `n` items in a chunk, `E` embedding width, `k` neighbours asked per query.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from florenz.config import describe_changes, to_dict
from florenz.data.align_config import AlignConfig, shard_part
from florenz.data.align_inputs import (
    BitextFile,
    ImageItem,
    Sentence,
    bitext_files,
    count_images,
    image_inputs,
    iter_images,
    sentences,
)
from florenz.data.coverage import parse_coverage
from florenz.data.shards import ShardSample, write_shard
from florenz.errors import FlorenzError
from florenz.files import (
    nothing_to_do,
    owned_directory,
    read_json,
    sha256_of_file,
    write_atomically,
    write_json_atomically,
)
from florenz.world.languages import LANGUAGES

FORMAT = "florenz-align/1"
MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings"
EMBEDDING_SETTINGS = "settings.json"  # in OUT/embeddings: what the chunks were made from
SUBMITIT_CLUSTER = "slurm"  # tests run --launcher slurm on submitit's 'local' executor (subprocesses)


# --- the CLIP model -------------------------------------------------------------------------------------

class ClipEncoder:
    """A transformers CLIPModel directory with its tokenizer and image processor: unit-length embeddings."""

    def __init__(self, directory: str | Path, batch_size: int, threads: int = 0) -> None:
        import torch
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        if threads:
            torch.set_num_threads(threads)

        directory = Path(directory)
        config_path = directory / "config.json"
        if not config_path.is_file():
            raise FlorenzError(f"--clip {directory} holds no config.json; give a transformers CLIPModel "
                               f"directory (make one with `florenz pretrain clip`)")
        model_type = read_json(config_path, "give another --clip").get("model_type")
        if model_type != "clip":
            raise FlorenzError(f"--clip {directory} is a {model_type!r} model, not a CLIP model (config.json "
                               f"model_type 'clip'); give a CLIPModel directory such as `florenz pretrain "
                               f"clip` writes")
        missing = [name for name in ("tokenizer_config.json", "preprocessor_config.json")
                   if not (directory / name).is_file()]
        if missing:
            raise FlorenzError(f"--clip {directory} lacks {', '.join(missing)}; save the model's tokenizer "
                               f"and image processor beside it (save_pretrained), as `florenz pretrain clip` "
                               f"does")
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = CLIPModel.from_pretrained(directory).to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        self.processor = AutoImageProcessor.from_pretrained(directory)
        self.batch_size = batch_size
        self.width = self.model.config.projection_dim

    def _normalised(self, features: Any) -> np.ndarray:
        import torch

        return torch.nn.functional.normalize(features.pooler_output.float(), dim=-1).cpu().numpy()

    def images(self, images: list[Image.Image]) -> np.ndarray:
        """(n, E) float32 of decoded RGB images."""
        import torch

        rows = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                pixels = self.processor(images=images[start:start + self.batch_size],
                                        return_tensors="pt")["pixel_values"].to(self.device)
                rows.append(self._normalised(self.model.get_image_features(pixel_values=pixels)))
        return np.concatenate(rows) if rows else np.zeros((0, self.width), np.float32)

    def texts(self, texts: list[str]) -> np.ndarray:
        """(n, E) float32 of texts (truncated to the text tower's positions)."""
        import torch

        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                encoded = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                         max_length=self.model.config.text_config.max_position_embeddings,
                                         return_tensors="pt").to(self.device)
                rows.append(self._normalised(self.model.get_text_features(
                    input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])))
        return np.concatenate(rows) if rows else np.zeros((0, self.width), np.float32)


def decode(item: ImageItem) -> Image.Image:
    """The item's RGB image; OSError/ValueError-family errors mean it does not decode."""
    with Image.open(io.BytesIO(item.data)) as opened:
        return opened.convert("RGB")


# --- step 1: embedding chunks ---------------------------------------------------------------------------

def _chunks(items: Iterator[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    chunk: list[Any] = []
    index = 0
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield index, chunk
            chunk, index = [], index + 1
    if chunk:
        yield index, chunk


def _chunk_path(folder: Path, index: int) -> Path:
    return folder / f"{index:06d}.safetensors"


def _write_chunk(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Atomically, under a per-process temporary name: parts running side by side never share one."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(temporary), metadata=metadata)
    os.replace(temporary, path)


def embed_image_chunks(items: Iterator[ImageItem], encoder: ClipEncoder, folder: Path, part: int, parts: int,
                       chunk_size: int, bar: tqdm) -> None:
    """Write this part's missing image chunks: embeddings (n, E) float16, stream positions (n,), and in the
    metadata the keys of the embedded images and the names and errors of those that do not decode."""
    for index, chunk in _chunks(items, chunk_size):
        if index % parts != part or _chunk_path(folder, index).is_file():
            bar.update(len(chunk))
            continue
        decoded, kept, bad = [], [], []
        for item in chunk:
            try:
                decoded.append(decode(item))
                kept.append(item)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
                bad.append({"position": item.position, "name": item.name, "error": str(error)[:200]})
        embeddings = encoder.images(decoded).astype(np.float16)
        _write_chunk(_chunk_path(folder, index),
                     {"embeddings": embeddings, "positions": np.array([i.position for i in kept], np.int64)},
                     {"keys": json.dumps([i.key for i in kept]), "bad": json.dumps(bad)})
        bar.update(len(chunk))


def embed_sentence_chunks(items: Iterator[Sentence], encoder: ClipEncoder, folder: Path, part: int,
                          parts: int, chunk_size: int, bar: tqdm) -> None:
    """Write this part's missing sentence chunks: English-side embeddings (n, E) float16, sentence ids,
    bitext file indices, line numbers and target-language indices (into LANGUAGES), each (n,)."""
    for index, chunk in _chunks(items, chunk_size):
        if index % parts != part or _chunk_path(folder, index).is_file():
            bar.update(len(chunk))
            continue
        embeddings = encoder.texts([sentence.english for sentence in chunk]).astype(np.float16)
        _write_chunk(_chunk_path(folder, index), {
            "embeddings": embeddings,
            "ids": np.array([s.id for s in chunk], np.int64),
            "files": np.array([s.file for s in chunk], np.int64),
            "lines": np.array([s.line for s in chunk], np.int64),
        }, {})
        bar.update(len(chunk))


def read_chunks(folder: Path,
                names: tuple[str, ...] = ()) -> Iterator[tuple[dict[str, np.ndarray], dict[str, str]]]:
    """The tensors (only `names`, if given: counting passes skip the embeddings) and metadata of each chunk
    file of `folder`, in order, one at a time."""
    from safetensors import safe_open

    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="numpy") as handle:
            yield {name: handle.get_tensor(name) for name in names or handle.keys()}, handle.metadata() or {}


# --- step 2: the search ---------------------------------------------------------------------------------
#
# Both scores run through one inner-product index over augmented sentence vectors [s_j, r_j] (E + 1 wide):
# the query [q, 0] gives cos(q, s_j), and [2q, -1] gives 2·cos(q, s_j) - r_j, which ranks an image's
# sentences exactly by CSLS (Conneau et al. 2018, "Word translation without parallel data", eq. 6), since
# CSLS = 2·cos - r_image - r_sentence and r_image is the same for all of one image's sentences. So CSLS is
# as exact (flat) or approximate (IVF) as the cosine search, at the cost of one more column.

Rows = Callable[[dict[str, np.ndarray]], np.ndarray]  # a chunk's tensors -> the (n, width) vectors indexed


def _new_index(width: int, count: int, kind: str, lists: int, probe: int, folder: Path, rows: Rows) -> Any:
    """An empty faiss inner-product index with ids for `count` vectors: flat, or IVF trained on the first
    chunks' `rows`."""
    import faiss

    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(width))
    cells = lists or max(1, min(int(4 * math.sqrt(count)), count // 39))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(width), width, cells, faiss.METRIC_INNER_PRODUCT)
    index.nprobe = min(probe, cells)
    taken, total, most = [], 0, 256 * cells
    for tensors, _ in read_chunks(folder):
        taken.append(rows(tensors)[:most - total])
        total += len(taken[-1])
        if total >= most:
            break
    index.train(np.concatenate(taken))
    return index


def _augmented(vectors: np.ndarray, column: np.ndarray | float) -> np.ndarray:
    """(n, E) -> (n, E + 1) float32 with `column` appended."""
    extra = np.broadcast_to(np.asarray(column, np.float32), (len(vectors),))
    return np.concatenate([vectors.astype(np.float32), extra[:, None]], axis=1)


def mean_top_similarity(index: Any, queries: np.ndarray, k: int) -> np.ndarray:
    """(n,) mean inner product of each query with its k nearest entries of `index` (fewer if it holds
    fewer): the hubness r of CSLS."""
    similarity, ids = index.search(queries, k)  # (n, k); -1 ids where the index holds fewer than k
    found = ids >= 0
    return np.where(found, similarity, 0).sum(1) / np.maximum(found.sum(1), 1)


def sentence_hubness(image_folder: Path, sentence_folder: Path, k: int, kind: str, lists: int,
                     probe: int) -> np.ndarray:
    """r of every sentence, indexed by sentence id: the mean cosine of its k most similar images."""
    image_count = sum(len(tensors["positions"]) for tensors, _ in read_chunks(image_folder, ("positions",)))
    width = next(read_chunks(image_folder))[0]["embeddings"].shape[1]

    images = _new_index(width, image_count, kind, lists, probe, image_folder,
                        lambda tensors: tensors["embeddings"].astype(np.float32))
    for tensors, _ in read_chunks(image_folder):
        images.add_with_ids(tensors["embeddings"].astype(np.float32), tensors["positions"])
    hubness: dict[int, float] = {}
    for tensors, _ in tqdm(read_chunks(sentence_folder), desc="sentence hubness", unit="chunk", leave=False):
        means = mean_top_similarity(images, tensors["embeddings"].astype(np.float32), k)
        hubness.update(zip(tensors["ids"].tolist(), means.tolist()))
    by_id = np.zeros(max(hubness, default=-1) + 1, np.float32)
    by_id[list(hubness)] = list(hubness.values())
    return by_id


def build_indexes(folder: Path, files: list[BitextFile], width: int, kind: str, lists: int, probe: int,
                  hubness: np.ndarray | None = None) -> dict[str, Any]:
    """One faiss inner-product index per target language over the sentence chunks, of the augmented
    vectors [s_j, r_j] (r: `hubness` by sentence id; None: zeros, for cosine only); ids are sentence ids."""
    language_of_file = np.array([LANGUAGES.index(file.lang) for file in files])

    def rows(tensors: dict[str, np.ndarray], mine: np.ndarray) -> np.ndarray:
        column = 0.0 if hubness is None else hubness[tensors["ids"][mine]]
        return _augmented(tensors["embeddings"][mine], column)

    counts = Counter()
    for tensors, _ in read_chunks(folder, ("files",)):
        counts.update(language_of_file[tensors["files"]].tolist())
    indexes = {}
    for code, count in sorted(counts.items()):
        indexes[LANGUAGES[code]] = _new_index(
            width + 1, count, kind, lists, probe, folder,
            lambda tensors, code=code: rows(tensors, language_of_file[tensors["files"]] == code))
    for tensors, _ in read_chunks(folder):
        languages = language_of_file[tensors["files"]]
        for code in np.unique(languages):
            mine = languages == code
            indexes[LANGUAGES[code]].add_with_ids(rows(tensors, mine), tensors["ids"][mine])
    return indexes


@dataclass(frozen=True)
class Pair:
    lang: str
    sentence: int
    similarity: float  # cosine
    csls: float | None = None  # with --score csls

    @property
    def score(self) -> float:
        return self.similarity if self.csls is None else self.csls


def capped_choice(ids: np.ndarray, scores: np.ndarray, top_n: int, max_reuse: int) -> np.ndarray:
    """(m, K) bool: which of each image's K ranked candidates (sentence ids, -1 for none) it is paired with:
    at most top_n per image and at most max_reuse images per sentence (0: no cap). In rounds, every image
    that still wants a sentence proposes its next candidate, and each sentence takes the best-scoring
    proposals its remaining uses allow; the rest try their next candidate in the next round."""
    count, width = ids.shape
    chosen = np.zeros((count, width), bool)
    if not max_reuse:  # no competition between images: each takes its first top_n candidates
        chosen[:, :top_n] = ids[:, :top_n] >= 0
        return chosen
    uses = np.zeros(ids.max(initial=-1) + 1, np.int64)  # images paired with each sentence id so far
    paired = np.zeros(count, np.int64)
    for rank in range(width):
        active = np.flatnonzero((paired < top_n) & (ids[:, rank] >= 0))
        if not active.size:
            continue
        wanted = ids[active, rank]
        order = np.lexsort((-scores[active, rank], wanted))  # by sentence, best proposal first
        sentence_sorted = wanted[order]
        first = np.r_[True, sentence_sorted[1:] != sentence_sorted[:-1]]
        place = np.arange(len(order)) - np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        taken = active[order][place < max_reuse - uses[sentence_sorted]]
        chosen[taken, rank] = True
        paired[taken] += 1
        np.add.at(uses, ids[taken, rank], 1)
    return chosen


def search(folder: Path, indexes: dict[str, Any], hubness: np.ndarray | None,
           config: AlignConfig) -> tuple[dict[int, list[Pair]], list[dict[str, Any]]]:
    """Each image's pairs per language by image position (see AlignConfig: --score, --top-n, --min-sim,
    --max-reuse), and the images that did not decode (from the chunks' metadata)."""
    csls = config.score == "csls"
    wanted = max(config.top_n, config.reuse_candidates) if config.max_reuse else config.top_n
    found: dict[str, list[tuple[np.ndarray, ...]]] = {lang: [] for lang in indexes}
    bad = []
    chunks = sorted(folder.glob("*.safetensors"))
    for tensors, metadata in tqdm(read_chunks(folder), total=len(chunks), desc="search", unit="chunk",
                                  leave=False):
        bad += json.loads(metadata.get("bad", "[]"))
        images = tensors["embeddings"].astype(np.float32)
        for lang, index in indexes.items():
            if csls:
                image_hubness = mean_top_similarity(index, _augmented(images, 0.0), config.csls_k)  # (n,)
                raw, ids = index.search(_augmented(2 * images, -1.0), wanted)  # 2·cos - r_sentence, (n, K)
                cosine = (raw + hubness[np.maximum(ids, 0)]) / 2
                score = raw - image_hubness[:, None]
            else:
                cosine, ids = index.search(_augmented(images, 0.0), wanted)
                score = cosine
            ids = np.where((ids >= 0) & (cosine >= config.min_sim), ids, -1)
            found[lang].append((tensors["positions"], ids, cosine, score))
    pairs: dict[int, list[Pair]] = {}
    for lang, parts in found.items():
        if not parts:
            continue
        positions, ids, cosine, score = (np.concatenate(arrays) for arrays in zip(*parts))
        chosen = capped_choice(ids, np.where(ids >= 0, score, -np.inf), config.top_n, config.max_reuse)
        for row, rank in zip(*np.nonzero(chosen)):
            pairs.setdefault(int(positions[row]), []).append(Pair(
                lang, int(ids[row, rank]), float(cosine[row, rank]),
                float(score[row, rank]) if csls else None))
    return pairs, bad


def sentence_use(pairs: dict[int, list[Pair]], totals: dict[str, int]) -> dict[str, dict[str, int]]:
    """Per language: how many distinct sentences the pairs use of the `totals` there are, and the most
    images one of them is paired with."""
    uses: dict[str, Counter] = {}
    for found in pairs.values():
        for pair in found:
            uses.setdefault(pair.lang, Counter())[pair.sentence] += 1
    return {lang: {"sentences": len(counter), "of": totals[lang], "most_images": max(counter.values())}
            for lang, counter in sorted(uses.items(), key=lambda item: LANGUAGES.index(item[0]))}


# --- step 3: the shards ---------------------------------------------------------------------------------

def _translation(pair: Pair, sentence: Sentence) -> dict[str, Any]:
    csls = {} if pair.csls is None else {"csls": round(pair.csls, 4)}
    return {"task": "translation", "lang": pair.lang, "target": sentence.target, "source": sentence.english,
            "similarity": round(pair.similarity, 4), **csls}


def write_aligned_shards(out: Path, images: Iterator[ImageItem], pairs: dict[int, list[Pair]],
                         texts: dict[int, Sentence], bad: set[int], keep_captions: bool,
                         shard_size: int) -> tuple[int, Counter]:
    """Write OUT/train/NNNNNN.tar: every decodable image with a pair or a kept caption; returns the number
    of samples and the annotations per "task-lang"."""
    (out / "train").mkdir(parents=True, exist_ok=True)
    buffer: list[ShardSample] = []
    written, counts = 0, Counter()
    for item in images:
        if item.position in bad:
            continue
        annotations = list(item.captions) if keep_captions else []
        chosen = sorted(pairs.get(item.position, []), key=lambda p: (LANGUAGES.index(p.lang), -p.score))
        annotations += [_translation(pair, texts[pair.sentence]) for pair in chosen]
        if not annotations:
            continue
        counts.update(f"{a['task']}-{a['lang']}" for a in annotations)
        buffer.append(ShardSample(item.key, item.data, annotations, item.extension))
        written += 1
        if len(buffer) == shard_size:
            write_shard(out / "train" / f"{written // shard_size - 1:06d}.tar", buffer)
            buffer = []
    if buffer:
        write_shard(out / "train" / f"{written // shard_size:06d}.tar", buffer)
    return written, counts


# --- the run --------------------------------------------------------------------------------------------

def _file_identity(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()} {stat.st_size} {stat.st_mtime_ns}"


def embedding_settings(config: AlignConfig, image_paths: list[Path],
                       files: list[BitextFile]) -> dict[str, Any]:
    """What the embedding chunks are made of: the CLIP weights, the inputs (names, sizes, times), the chunk
    size. Chunks made with other settings are never mixed in."""
    clip = Path(config.clip)
    weights = sorted(clip.glob("*.safetensors")) or sorted(clip.glob("*.bin"))
    inputs = hashlib.sha256("\n".join(_file_identity(path) for path in image_paths).encode()).hexdigest()
    return {
        "clip": {"path": str(clip.resolve()), "sha256": [sha256_of_file(clip / "config.json"),
                                                         *(sha256_of_file(path) for path in weights)]},
        "images": {"path": str(Path(config.images).resolve()), "files": len(image_paths), "sha256": inputs},
        "bitext": [{"path": str(file.path.resolve()), "lang": file.lang,
                    "identity": [_file_identity(p) for p in (file.english, file.path) if p is not None]}
                   for file in files],
        "chunk_size": config.chunk_size,
    }


def _output_settings(config: AlignConfig) -> dict[str, Any]:
    return {key: value for key, value in to_dict(config).items()
            if key not in ("images", "bitext", "clip", "out", "shard", "overwrite", "batch_size", "threads",
                           "launcher", "shards", "slurm_partition", "slurm_time_min")}


def _prepare_out(out: Path, embedding: dict[str, Any], settings: dict[str, Any], overwrite: bool) -> bool:
    """Whether `out` already holds this alignment (then there is nothing to do). Otherwise leaves `out`
    ready: embedding chunks of the same inputs kept, the alignment's own other files removed; FlorenzError
    for an --out holding anything else, or another alignment without --overwrite."""
    embeddings = out / EMBEDDINGS
    if (out / MANIFEST).is_file():
        manifest = read_json(out / MANIFEST, "delete it or choose another --out")
        if manifest.get("format") != FORMAT:
            raise FlorenzError(f"{out} holds a {manifest.get('format', 'different')!r} data set, not an "
                               f"alignment; choose another --out (nothing there was changed)")
        recorded = {"embedding": manifest.get("embedding"), "settings": manifest.get("settings")}
        asked = json.loads(json.dumps({"embedding": embedding, "settings": settings}))
        if recorded == asked:
            return True
        if not overwrite:
            changes = describe_changes(recorded["settings"] or {}, asked["settings"])
            if recorded["embedding"] != asked["embedding"]:
                changes = ", ".join(filter(None, (changes, "other inputs or CLIP model")))
            raise FlorenzError(f"{out} holds an alignment made with other settings ({changes}); pass "
                               f"--overwrite to replace it or choose another --out (nothing there was "
                               f"changed)")
    elif out.is_dir() and any(out.iterdir()) and not (embeddings / EMBEDDING_SETTINGS).is_file():
        raise FlorenzError(f"{out} is not empty and holds no alignment; choose a new or empty --out (nothing "
                           f"there was changed)")
    if (embeddings / EMBEDDING_SETTINGS).is_file():
        previous = read_json(embeddings / EMBEDDING_SETTINGS, "delete OUT/embeddings and rerun")
        if previous != json.loads(json.dumps(embedding)):
            if not overwrite:
                raise FlorenzError(f"{embeddings} holds chunks of other inputs or another CLIP model; pass "
                                   f"--overwrite to embed again or choose another --out (nothing was "
                                   f"changed)")
            shutil.rmtree(embeddings)
    for name in (MANIFEST, "tokenizer.json"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "train", ignore_errors=True)
    return False


def _embed(config: AlignConfig, out: Path, embedding: dict[str, Any], kind: str, image_paths: list[Path],
           files: list[BitextFile], skipped: Counter) -> ClipEncoder:
    """Step 1 for this process's part (all parts without --shard)."""
    part, parts = shard_part(config.shard)
    encoder = ClipEncoder(config.clip, config.batch_size, config.threads)
    folder = out / EMBEDDINGS
    settings_path = folder / EMBEDDING_SETTINGS
    if not settings_path.is_file():
        write_json_atomically(settings_path, embedding)
    elif read_json(settings_path, "delete OUT/embeddings and rerun") != json.loads(json.dumps(embedding)):
        raise FlorenzError(f"{folder} holds chunks of other inputs or another CLIP model; rerun without "
                           f"--shard and with --overwrite first, or choose another --out")
    with tqdm(total=count_images(kind, image_paths), desc="embed images", unit="image",
              dynamic_ncols=True) as bar:
        embed_image_chunks(iter_images(kind, image_paths, Path(config.images)), encoder, folder / "images",
                           part, parts, config.chunk_size, bar)
    with tqdm(desc="embed sentences", unit="sentence", dynamic_ncols=True) as bar:
        embed_sentence_chunks(sentences(files, skipped), encoder, folder / "sentences", part, parts,
                              config.chunk_size, bar)
    return encoder


def submit_parts(config: AlignConfig) -> None:
    """--launcher slurm: the --shards embedding parts as one submitit job array; returns when all are done,
    with the first failed part's error. The job logs go to OUT/embeddings/slurm."""
    try:
        import submitit
    except ImportError:
        raise FlorenzError("--launcher slurm needs submitit: pip install submitit==1.5.4") from None
    if SUBMITIT_CLUSTER == "slurm" and shutil.which("sbatch") is None:
        raise FlorenzError("--launcher slurm: no sbatch on PATH, so this machine cannot submit SLURM jobs; "
                           "run align on a SLURM login node, or here with --launcher local")
    executor = submitit.AutoExecutor(folder=str(Path(config.out) / EMBEDDINGS / "slurm"),
                                     cluster=SUBMITIT_CLUSTER)
    partition = {"slurm_partition": config.slurm_partition} if config.slurm_partition else {}
    executor.update_parameters(timeout_min=config.slurm_time_min, **partition)
    parts = [replace(config, launcher="local", shard=f"{i}/{config.shards}") for i in range(config.shards)]
    jobs = executor.map_array(align, parts)
    print(f"florenz align: submitted {len(jobs)} embedding parts as job array "
          f"{jobs[0].job_id.split('_')[0]}; waiting for them (logs in {executor.folder})", flush=True)
    for part, job in enumerate(tqdm(jobs, desc="embedding parts", unit="part", dynamic_ncols=True)):
        try:
            job.result()
        except Exception as error:  # submitit wraps the part's own error with its whole traceback
            raise FlorenzError(f"embedding part {part}/{config.shards} (job {job.job_id}) failed: "
                               f"{str(error).strip().splitlines()[-1]}; see {executor.folder}") from None


def align(config: AlignConfig) -> Path:
    """Embed, search and write (see the module docstring); with --shard, only embed this part."""
    files = bitext_files(config.bitext)
    kind, image_paths = image_inputs(config.images)
    if config.tokenizer and not Path(config.tokenizer).is_file():
        raise FlorenzError(f"--tokenizer {config.tokenizer} is not a file; give a tokenizer.json or leave it "
                           f"out")
    out = Path(config.out)
    embedding = embedding_settings(config, image_paths, files)
    settings = _output_settings(config)
    part, parts = shard_part(config.shard)
    if parts > 1:
        if out.is_dir() and any(path.name != EMBEDDINGS for path in out.iterdir()):
            what = "a finished alignment" if (out / MANIFEST).is_file() else "files of something else"
            raise FlorenzError(f"{out} holds {what}; a part (--shard) embeds only into an empty --out or one "
                               f"holding just {EMBEDDINGS}/ (nothing there was changed)")
        with owned_directory(out / EMBEDDINGS / f"part-{part}-of-{parts}", "align"):
            _embed(config, out, embedding, kind, image_paths, files, Counter())
        print(f"florenz align: part {part}/{parts} embedded into {out / EMBEDDINGS}; when every part is "
              f"done, run the same command without --shard to search and write the shards")
        return out
    with owned_directory(out, "align"):
        if _prepare_out(out, embedding, settings, config.overwrite):
            print(nothing_to_do("align", out, "the same inputs and settings; --overwrite to redo it"))
            return out
        started = time.perf_counter()
        if config.launcher == "slurm":
            submit_parts(config)
        skipped: Counter = Counter()
        encoder = _embed(config, out, embedding, kind, image_paths, files, skipped)
        folder = out / EMBEDDINGS
        hubness = (sentence_hubness(folder / "images", folder / "sentences", config.csls_k, config.index,
                                    config.ivf_lists, config.ivf_probe) if config.score == "csls" else None)
        indexes = build_indexes(folder / "sentences", files, encoder.width, config.index, config.ivf_lists,
                                config.ivf_probe, hubness)
        pairs, bad = search(folder / "images", indexes, hubness, config)
        use = sentence_use(pairs, {lang: index.ntotal for lang, index in indexes.items()})
        wanted = {pair.sentence for found in pairs.values() for pair in found}
        texts = {sentence.id: sentence for sentence in sentences(files, Counter()) if sentence.id in wanted}
        samples, counts = write_aligned_shards(out, iter_images(kind, image_paths, Path(config.images)),
                                               pairs, texts, {entry["position"] for entry in bad},
                                               config.keep_captions, config.shard_size)
        if config.tokenizer:
            write_atomically(out / "tokenizer.json", Path(config.tokenizer).read_bytes())
        manifest = _manifest(config, out, embedding, settings, samples, counts, pairs, use, bad, skipped,
                             files, time.perf_counter() - started)
        write_json_atomically(out / MANIFEST, manifest)  # written last: it marks the alignment finished
    _print_summary(out, manifest)
    return out


def _manifest(config: AlignConfig, out: Path, embedding: dict[str, Any], settings: dict[str, Any],
              samples: int, counts: Counter, pairs: dict[int, list[Pair]], use: dict[str, dict[str, int]],
              bad: list[dict[str, Any]], skipped: Counter, files: list[BitextFile],
              seconds: float) -> dict[str, Any]:
    if not samples:
        raise FlorenzError(f"no image got a sentence at --min-sim {config.min_sim} (and no caption was "
                           f"kept); lower --min-sim or check that --clip suits these images and texts")
    caption_langs = sorted({key.split("-")[1] for key in counts if key.startswith("caption-")},
                           key=LANGUAGES.index)
    translation_langs = sorted({key.split("-")[1] for key in counts if key.startswith("translation-")},
                               key=LANGUAGES.index)
    coverage = parse_coverage(";".join(part for part in (
        f"caption:{','.join(caption_langs)}" if caption_langs else "",
        f"translation:{','.join(translation_langs)}" if translation_langs else "") if part))
    similarities = np.array([p.similarity for found in pairs.values() for p in found] or [np.nan])
    return {
        "format": FORMAT,
        "model_type": "florenz-align",
        "coverage": str(coverage),
        "categories": list(coverage.keys()),
        "counts": {"train": {"samples": samples, "annotations": dict(sorted(counts.items()))}},
        "config": {**to_dict(config), "samples": samples},  # samples + shard_size: the trainer's count check
        "settings": settings,
        "embedding": embedding,
        "alignment": {
            "images": {"undecodable": len(bad), "undecodable_names": [entry["name"] for entry in bad]},
            "bitext": {"files": [str(file.path) for file in files], "skipped_lines": dict(skipped)},
            "pairs": sum(len(found) for found in pairs.values()),
            "similarity": {"mean": float(np.nanmean(similarities)), "min": float(np.nanmin(similarities))},
            "sentences_used": use,  # per language: distinct sentences paired, of how many, most reuse
            "seconds": seconds,
        },
        "files": {str(path.relative_to(out)): sha256_of_file(path)
                  for path in sorted(out.glob("train/*.tar"))},
    }


def _print_summary(out: Path, manifest: dict[str, Any]) -> None:
    alignment = manifest["alignment"]
    undecodable = alignment["images"]["undecodable_names"]
    skipped = alignment["bitext"]["skipped_lines"]
    print(f"florenz align: {manifest['counts']['train']['samples']} images written with "
          f"{alignment['pairs']} pairs (mean similarity {alignment['similarity']['mean']:.3f}), coverage "
          f"{manifest['coverage']}, in {alignment['seconds']:.0f} s -> {out}")
    used = alignment["sentences_used"]
    print("florenz align: sentences used per language (of those given; most images for one): " + ", ".join(
        f"{lang} {row['sentences']:,} of {row['of']:,} ({row['most_images']})" for lang, row in used.items()))
    if undecodable:
        more = f" and {len(undecodable) - 10} more" if len(undecodable) > 10 else ""
        shown = ", ".join(undecodable[:10]) + more
        print(f"florenz align: skipped {len(undecodable)} image(s) that do not decode: {shown}")
    for reason, count in skipped.items():
        print(f"florenz align: skipped {count} bitext line(s) of {reason}")


# --- the world proves it --------------------------------------------------------------------------------

def recovery(align_out: str | Path, truth: dict[str, list[str]], k: int = 5, score: str = "cosine",
             csls_k: int = 10) -> dict[str, dict[str, float]]:
    """How often align's embeddings rank a sentence's true image first (top1) or among the first k (topk)
    by `score` (cosine, or csls with each image's hubness among the sentences of the sentence's language),
    per bitext file; `truth` maps each bitext path as given to --bitext to the true image key per line."""
    import faiss

    folder = Path(align_out) / EMBEDDINGS
    bitext = read_json(folder / EMBEDDING_SETTINGS, "rerun align")["bitext"]
    resolved = {str(Path(path).resolve()): keys for path, keys in truth.items()}
    image_chunks = list(read_chunks(folder / "images"))
    keys = [key for _, metadata in image_chunks for key in json.loads(metadata["keys"])]
    images = np.concatenate([tensors["embeddings"] for tensors, _ in image_chunks]).astype(np.float32)
    sentence_chunks = [tensors for tensors, _ in read_chunks(folder / "sentences")]
    sentences_ = np.concatenate([t["embeddings"] for t in sentence_chunks]).astype(np.float32)
    files, lines = (np.concatenate([t[name] for t in sentence_chunks]) for name in ("files", "lines"))
    languages = np.array([bitext[file]["lang"] for file in files.tolist()])
    hits: dict[str, list[tuple[bool, bool]]] = {}
    for lang in np.unique(languages):
        mine = np.flatnonzero(languages == lang)
        hubness = 0.0
        if score == "csls":
            sentence_index = faiss.IndexFlatIP(images.shape[1])
            sentence_index.add(sentences_[mine])
            hubness = mean_top_similarity(sentence_index, images, csls_k)  # (images,) r among this language
        image_index = faiss.IndexFlatIP(images.shape[1] + 1)
        image_index.add(_augmented(images, hubness))
        scale, column = (2.0, -1.0) if score == "csls" else (1.0, 0.0)
        _, found = image_index.search(_augmented(scale * sentences_[mine], column), k)  # (n, k) image rows
        for file, line, row in zip(files[mine].tolist(), lines[mine].tolist(), found):
            true_key = resolved[bitext[file]["path"]][line - 1]
            ranked = [keys[i] for i in row]
            hits.setdefault(bitext[file]["path"], []).append((ranked[0] == true_key, true_key in ranked))
    return {path: {"top1": float(np.mean([h[0] for h in rows])),
                   f"top{k}": float(np.mean([h[1] for h in rows])), "sentences": len(rows),
                   "images": len(keys), "chance_top1": 1 / len(keys)}
            for path, rows in ((entry["path"], hits.get(entry["path"])) for entry in bitext) if rows}
