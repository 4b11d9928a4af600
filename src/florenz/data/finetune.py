"""`florenz finetune-data`: the paper's fine-tuning mixture (reference §7) from local copies of its datasets.

    OUT/train/000000.tar ...   one sample per image holding all its annotations, images shuffled (seeded)
    OUT/manifest.json          coverage, counts per task-lang pair and dataset, skipped images, file sha256
    OUT/tokenizer.json         with --tokenizer: what `florenz train --data OUT` tokenises with
    OUT/mt_cache/              with --mt (unless --mt-cache): translations by model, settings and language

The mixture (reference §7.5), from the training splits in their published layouts (florenz.data.published):

    Multi30K task 2 train          captions en, de (5 each, human)    + fr, es, ru, zh captions by MT
    Multi30K task 1 train          translation en->de, en->fr (human) + en->es, ru, zh by MT
    COCO Karpathy train + restval  captions en (all)                  + the first five captions by MT into
    Image-Paragraphs train         detailed caption en                  all five languages, each used as a
    DOCCI train                    paragraph caption en                 caption and as an en->X translation

Multi30K's two tasks share their Flickr30K images, so such an image holds both. `florenz train` picks one
annotation per image, balanced uniformly over the task-lang pairs (its default --loader.balance task-lang:
the reference's generalist fine-tuning, 11 pairs). Departures from the reference, on purpose: every text is
translated without a LLaVA description as context (its §7.4 way); human German captions are not also
machine-translated; the COCO images of Multi30K's test_2017_mscoco stay out of training (the reference
meant to, §9.2.6); no validation split is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from florenz.config import to_dict
from florenz.data import published
from florenz.data.coverage import TASKS, CoverageSpec
from florenz.data.finetune_config import FinetuneDataConfig
from florenz.data.shards import IMAGE_EXTENSIONS, ShardSample, write_shard
from florenz.data.tokenizer import load_tokenizer
from florenz.errors import FlorenzError
from florenz.files import owned_directory, read_json, sha256_of_file, write_atomically
from florenz.world.languages import LANGUAGES

MANIFEST = "manifest.json"
IN_PROGRESS = "finetune-data-in-progress.json"  # present from the first write until the manifest is written
FORMAT = "florenz-finetune/1"
DATASETS = ("multi30k", "coco", "docci", "paragraphs")
TARGETS = tuple(lang for lang in LANGUAGES if lang != "en")
ALL_PAIRS = tuple((task, lang) for task in TASKS for lang in (LANGUAGES if task == "caption" else TARGETS))
LENGTH_PENALTY = {"short": 0.9, "long": 1.0}  # reference §7.3 (captions) and §7.4 (paragraphs)
NLLB_CODES = {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "es": "spa_Latn", "ru": "rus_Cyrl",
              "zh": "zho_Hans"}
_ENDINGS = (".", "!", "?", "。", "！", "？")


# --- the images and their texts -------------------------------------------------------------------------

@dataclass
class _ToTranslate:
    """English texts of an image to machine-translate into `langs`, each result a `tasks` annotation."""

    detail: str
    texts: list[str]
    langs: tuple[str, ...]
    tasks: tuple[str, ...]


@dataclass
class _Image:
    key: str
    path: Path
    dataset: str
    annotations: list[dict] = field(default_factory=list)  # human texts, then machine translations
    to_translate: list[_ToTranslate] = field(default_factory=list)


class _Images:
    """The images of the mixture by file, each with a unique shard key (no '.' or '/')."""

    def __init__(self) -> None:
        self.by_path: dict[Path, _Image] = {}
        self.keys: set[str] = set()

    def add(self, dataset: str, path: Path) -> _Image:
        if path in self.by_path:
            return self.by_path[path]
        stem = f"{dataset}_{re.sub(r'[^0-9A-Za-z_-]', '_', path.stem)}"
        key, number = stem, 1
        while key in self.keys:
            key, number = f"{stem}_{number}", number + 1
        self.keys.add(key)
        self.by_path[path] = _Image(key, path, dataset)
        return self.by_path[path]


def _caption(lang: str, detail: str, text: str) -> dict:
    return {"task": "caption", "lang": lang, "detail": detail, "target": text}


def _translation(lang: str, detail: str, source: str, target: str) -> dict:
    return {"task": "translation", "lang": lang, "detail": detail, "source": source, "target": target}


def _read_multi30k(directory: Path, images: _Images) -> None:
    folders = ("flickr30k-images",)
    en_captions = published.multi30k_task2(directory, "train", "en", directory, folders)
    de_captions = published.multi30k_task2(directory, "train", "de", directory, folders)
    for en_row, de_row in zip(en_captions, de_captions):  # one image list: the same images in the same order
        image = images.add("multi30k", en_row.image)
        image.annotations += [_caption(lang, "short", text) for lang, row in (("en", en_row), ("de", de_row))
                              for text in row.texts]
        image.to_translate.append(_ToTranslate("short", en_row.texts, ("fr", "es", "ru", "zh"), ("caption",)))
    parallel = published.multi30k_task1(directory, "train", ("en", "de", "fr"), directory, folders)
    for path, sentence in parallel:  # one English sentence with its German and French translations
        image = images.add("multi30k", path)
        english = sentence["en"]
        image.annotations += [_translation(lang, "short", english, sentence[lang]) for lang in ("de", "fr")]
        image.to_translate.append(_ToTranslate("short", [english], ("es", "ru", "zh"), ("translation",)))


def _read_english(dataset: str, rows: list[published.ImageTexts], detail: str, images: _Images) -> None:
    """English-only captions: all kept, the first five machine-translated into captions and translations."""
    for row in rows:
        image = images.add(dataset, row.image)
        image.annotations += [_caption("en", detail, text) for text in row.texts]
        image.to_translate.append(_ToTranslate(detail, row.texts[:5], TARGETS, TASKS))


def _coco_test_images(config: FinetuneDataConfig) -> set[str]:
    """COCO images of Multi30K's test_2017_mscoco (kept out of training), if the Multi30K checkout has it."""
    if not config.multi30k:
        return set()
    multi30k = Path(config.multi30k)
    if not (multi30k / "data" / "task1" / "image_splits" / "test_2017_mscoco.txt").is_file():
        return set()
    return published.multi30k_image_names(multi30k, "test_2017_mscoco")


def read_datasets(config: FinetuneDataConfig) -> tuple[list[_Image], int]:
    """Every training image of the given datasets with its human annotations and texts to translate, and the
    number of COCO images left out because Multi30K tests on them."""
    images = _Images()
    if config.multi30k:
        _read_multi30k(Path(config.multi30k), images)
    excluded = 0
    if config.coco:
        held_out = _coco_test_images(config)
        rows = published.coco_karpathy(Path(config.coco), ("train", "restval"))
        kept = [row for row in rows if row.image.name not in held_out]
        excluded = len(rows) - len(kept)
        _read_english("coco", kept, "short", images)
    if config.paragraphs:
        _read_english("paragraphs", published.image_paragraphs(Path(config.paragraphs), "train"), "detailed",
                      images)
    if config.docci:
        _read_english("docci", published.docci(Path(config.docci), "train"), "paragraph", images)
    return list(images.by_path.values()), excluded


# --- machine translation ----------------------------------------------------------------------------------

def finish_translation(text: str, lang: str) -> str:
    """The reference's punctuation fix: a sentence ends in '.', '!' or '?' ('.' becomes '。' in Chinese);
    full-width endings count as endings (the reference's '？。' quirk, §9.2.22). Empty stays empty."""
    text = " ".join(text.split())
    if not text:
        return ""
    if lang == "zh" and text.endswith("."):
        return text[:-1] + "。"
    if text.endswith(_ENDINGS):
        return text
    return text + ("。" if lang == "zh" else ".")


def checkpoint_sha256(directory: Path, memo_dir: Path) -> str:
    """The sha256 of a checkpoint's files (names and bytes; hidden folders skipped), computed once per file
    version: remembered in `memo_dir` by path, size and modification time."""
    names = sorted(path.relative_to(directory) for path in directory.rglob("*") if path.is_file())
    files = [directory / name for name in names if not any(part.startswith(".") for part in name.parts)]
    stamp = [[str(path.relative_to(directory)), path.stat().st_size, path.stat().st_mtime_ns]
             for path in files]
    memo_path = memo_dir / "checkpoints.json"
    memo = read_json(memo_path, "delete it (it only saves time)") if memo_path.is_file() else {}
    known = memo.get(str(directory.resolve()), {})
    if known.get("stamp") == stamp:
        return known["sha256"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(directory)}\0{sha256_of_file(path)}\n".encode())
    memo[str(directory.resolve())] = {"stamp": stamp, "sha256": digest.hexdigest()}
    write_atomically(memo_path, json.dumps(memo, indent=1))
    return digest.hexdigest()


def _read_cache(path: Path) -> dict[str, str]:
    """Translations by source text; a torn last line (an interrupted run) is dropped and made again."""
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    cache = {}
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            cache[row["source"]] = row["translation"]
        except (json.JSONDecodeError, KeyError, TypeError):
            if number < len(lines):
                raise FlorenzError(f"translation cache {path} line {number} is not a {{\"source\", "
                                   f"\"translation\"}} JSON object; delete the file (it is remade)") from None
    return cache


class Translator:
    """Batched beam-search translation from English with a local NLLB or M2M100 checkpoint (transformers),
    cached on disk by (checkpoint sha256 and decoding settings, target language, source text)."""

    def __init__(self, config: FinetuneDataConfig, cache_dir: Path) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        checkpoint = Path(config.mt)
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        vocabulary = self.tokenizer.get_vocab()
        if NLLB_CODES["en"] in vocabulary:
            self.source_code, self.target_tokens = NLLB_CODES["en"], NLLB_CODES
        elif "__en__" in vocabulary:
            self.source_code, self.target_tokens = "en", {lang: f"__{lang}__" for lang in LANGUAGES}
        else:
            raise FlorenzError(f"--mt {checkpoint}: its tokenizer has neither NLLB ('eng_Latn') nor M2M100 "
                               "('__en__') language codes; pass an NLLB or M2M100 checkpoint")
        missing = [token for token in self.target_tokens.values() if token not in vocabulary]
        if missing:
            raise FlorenzError(f"--mt {checkpoint}: its tokenizer lacks the language codes {missing}")
        device = "cuda" if config.mt_device == "auto" and torch.cuda.is_available() else config.mt_device
        self.device = "cpu" if device == "auto" else device
        dtype = torch.float16 if self.device == "cuda" else torch.float32  # fp16 as the reference on GPUs
        self.model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint, dtype=dtype).to(self.device).eval()
        self.max_input_tokens = min(self.tokenizer.model_max_length,
                                    self.model.config.max_position_embeddings)
        self.config, self.cache_dir = config, cache_dir
        self.model_sha256 = checkpoint_sha256(checkpoint, cache_dir)
        self.translated = self.from_cache = 0

    def _settings(self, length: str) -> dict:
        max_length = self.config.mt_max_length_short if length == "short" else self.config.mt_max_length_long
        return {"model_sha256": self.model_sha256, "source": "en", "num_beams": self.config.mt_beams,
                "max_length": max_length, "length_penalty": LENGTH_PENALTY[length]}

    def _generate(self, texts: list[str], lang: str, settings: dict) -> list[str]:
        import torch

        self.tokenizer.src_lang = self.source_code
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                                max_length=self.max_input_tokens).to(self.device)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, forced_bos_token_id=self.tokenizer.convert_tokens_to_ids(self.target_tokens[lang]),
                num_beams=settings["num_beams"], max_length=settings["max_length"],
                length_penalty=settings["length_penalty"], do_sample=False)
        return self.tokenizer.batch_decode(output, skip_special_tokens=True)

    def translate(self, texts: list[str], lang: str, length: str) -> dict[str, str]:
        """{English text: raw translation into `lang`} with the `length` ("short" or "long") settings."""
        settings = self._settings(length)
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        folder = self.cache_dir / key
        if not (folder / "settings.json").is_file():
            write_atomically(folder / "settings.json", json.dumps(settings, indent=1))
        cache = _read_cache(folder / f"{lang}.jsonl")
        unique = set(texts)
        todo = sorted(unique - set(cache), key=lambda text: (len(text), text))  # little padding per batch
        self.from_cache += len(unique) - len(todo)
        if todo:
            with open(folder / f"{lang}.jsonl", "a", encoding="utf-8") as handle, tqdm(
                    total=len(todo), desc=f"translate en->{lang} ({length})", unit="text", file=sys.stderr,
                    disable=None, dynamic_ncols=True) as bar:
                for start in range(0, len(todo), self.config.mt_batch_size):
                    batch = todo[start:start + self.config.mt_batch_size]
                    for source, target in zip(batch, self._generate(batch, lang, settings)):
                        cache[source] = target
                        handle.write(json.dumps({"source": source, "translation": target}, ensure_ascii=False)
                                     + "\n")
                    handle.flush()  # a batch is kept even if the run stops later
                    bar.update(len(batch))
            self.translated += len(todo)
        return {text: cache[text] for text in unique}


def _length(detail: str) -> str:
    return "short" if detail == "short" else "long"


def translate_missing(images: list[_Image], translator: Translator) -> int:
    """Add the machine-translated annotations to every image; returns the number of empty translations
    (dropped)."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for image in images:
        for item in image.to_translate:
            for lang in item.langs:
                wanted.setdefault((lang, _length(item.detail)), set()).update(item.texts)
    translations = {(lang, length): translator.translate(list(texts), lang, length)
                    for (lang, length), texts in sorted(wanted.items())}
    empty = 0
    for image in images:
        for item in image.to_translate:
            for lang in item.langs:
                found = translations[(lang, _length(item.detail))]
                for source in item.texts:
                    target = finish_translation(found[source], lang)
                    if not target:
                        empty += 1
                        continue
                    if "caption" in item.tasks:
                        image.annotations.append(_caption(lang, item.detail, target))
                    if "translation" in item.tasks:
                        image.annotations.append(_translation(lang, item.detail, source, target))
    return empty


# --- shards -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _ShardJob:
    path: str
    samples: tuple[tuple[str, str, str, tuple], ...]  # (key, image file, dataset, annotations)


@dataclass
class _ShardResult:
    samples: int
    annotations: Counter  # by "task-lang"
    images_by_dataset: Counter
    skipped: list[str]  # image files that do not decode


def _image_payload(path: Path) -> tuple[bytes, str] | None:
    """The image file's bytes and shard extension (re-encoded as PNG if its format has none), or None if it
    does not decode."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FlorenzError(f"image {path} cannot be read ({error.strerror}); restore it") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            extension = path.suffix.lower().lstrip(".")
            if extension in IMAGE_EXTENSIONS:
                return data, extension
            encoded = io.BytesIO()
            image.convert("RGB").save(encoded, format="PNG")
            return encoded.getvalue(), "png"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # PIL's decode errors
        return None


def _write_shard_job(job: _ShardJob) -> _ShardResult:
    result = _ShardResult(0, Counter(), Counter(), [])
    written = []
    for key, image_file, dataset, image_annotations in job.samples:
        payload = _image_payload(Path(image_file))
        if payload is None:
            result.skipped.append(image_file)
            continue
        written.append(ShardSample(key, payload[0], list(image_annotations), payload[1]))
        result.images_by_dataset[dataset] += 1
        result.annotations.update(f"{a['task']}-{a['lang']}" for a in image_annotations)
    if written:  # a shard whose every image is broken is left out
        write_shard(job.path, written)
    result.samples = len(written)
    return result


def _write_shards(jobs: list[_ShardJob], workers: int) -> list[_ShardResult]:
    progress = {"total": len(jobs), "desc": "shards", "unit": "shard", "file": sys.stderr, "disable": None}
    if workers == 1 or len(jobs) == 1:
        return [_write_shard_job(job) for job in tqdm(jobs, **progress)]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    with context.Pool(min(workers, len(jobs))) as pool:
        return list(tqdm(pool.imap(_write_shard_job, jobs), **progress))


# --- the output directory ---------------------------------------------------------------------------------

def _own_files(out: Path) -> list[Path]:
    return [path for path in [out / MANIFEST, out / IN_PROGRESS, out / "tokenizer.json",
                              *out.glob("train/*.tar*")] if path.is_file()]


def _prepare_out(out: Path, cache_dir: Path, overwrite: bool) -> None:
    """Make `out` ready: new or empty, or (with --overwrite) holding a mixture, whose files are removed; the
    translation cache is kept. Anything else is refused, nothing changed."""
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    manifest = read_json(out / MANIFEST, "delete it, or choose another --out") if (out / MANIFEST).is_file() \
        else {}
    if manifest.get("format") != FORMAT and not (out / IN_PROGRESS).is_file():
        if {path.name for path in out.iterdir()} <= {cache_dir.name} and cache_dir.parent == out:
            return  # only the translation cache of an earlier mixture
        raise FlorenzError(f"{out} is not empty and holds no fine-tuning mixture (no {MANIFEST} of "
                           f"`florenz finetune-data`); choose an empty or new --out (nothing there was "
                           "changed)")
    if not overwrite:
        state = "a fine-tuning mixture" if manifest else "an unfinished fine-tuning mixture"
        raise FlorenzError(f"{out} already holds {state}; pass --overwrite to rebuild it (its translation "
                           "cache is kept) or choose another --out (nothing there was changed)")
    for path in _own_files(out):
        path.unlink()
    if (out / "train").is_dir() and not any((out / "train").iterdir()):
        (out / "train").rmdir()


def _check_inputs(config: FinetuneDataConfig) -> None:
    for name in DATASETS:
        directory = getattr(config, name)
        if directory and not Path(directory).is_dir():
            raise FlorenzError(f"--{name} {directory} is not a directory; pass the dataset's directory in "
                               f"its published layout (florenz.data.published) or leave --{name} out")
    if config.mt:
        _check_mt_checkpoint(Path(config.mt))
    if config.tokenizer:
        load_tokenizer(config.tokenizer)  # a bad tokenizer is refused before anything is written


def _check_mt_checkpoint(checkpoint: Path) -> None:
    if not (checkpoint / "config.json").is_file():
        raise FlorenzError(f"--mt {checkpoint} holds no config.json; pass a local NLLB or M2M100 checkpoint "
                           "directory (transformers save_pretrained layout)")
    model_type = read_json(checkpoint / "config.json", "pass a transformers NLLB or M2M100 checkpoint "
                                                       "directory").get("model_type")
    if model_type not in ("m2m_100", "nllb-moe"):
        raise FlorenzError(f"--mt {checkpoint} holds a {model_type!r} model, not NLLB or M2M100 (model_type "
                           "'m2m_100' or 'nllb-moe'); pass e.g. a local facebook/nllb-200-3.3B directory")


def _tokenizer_file(path: str) -> Path:
    given = Path(path)
    return given / "tokenizer.json" if given.is_dir() else given


# --- the verb ---------------------------------------------------------------------------------------------

def finetune_data(config: FinetuneDataConfig) -> Path:
    """Write the fine-tuning mixture of the given datasets into `config.out` and return that directory."""
    _check_inputs(config)
    out = Path(config.out)
    cache_dir = Path(config.mt_cache) if config.mt_cache else out / "mt_cache"
    images, excluded = read_datasets(config)  # every input file is checked before anything is written
    if not images:
        raise FlorenzError("the given datasets hold no training images; check the directories' train splits")
    with owned_directory(out, "finetune-data"):
        _prepare_out(out, cache_dir, config.overwrite)
        translator = Translator(config, cache_dir) if config.mt else None
        write_atomically(out / IN_PROGRESS, json.dumps({"format": FORMAT, "config": to_dict(config)}))
        empty = translate_missing(images, translator) if translator else 0
        order = np.random.default_rng(config.seed).permutation(len(images))
        samples = [(images[i].key, str(images[i].path), images[i].dataset, tuple(images[i].annotations))
                   for i in order]
        size = config.shard_size
        jobs = [_ShardJob(str(out / "train" / f"{index:06d}.tar"), tuple(samples[start:start + size]))
                for index, start in enumerate(range(0, len(samples), size))]
        results = _write_shards(jobs, config.workers or len(os.sched_getaffinity(0)))
        if config.tokenizer:
            # the same bytes: `florenz train --init` compares the tokenizer's sha256 with the run's
            shutil.copyfile(_tokenizer_file(config.tokenizer), out / "tokenizer.json")
        manifest = _manifest(config, out, results, excluded, empty, translator)
        write_atomically(out / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        (out / IN_PROGRESS).unlink()
    print(_summary(out, manifest))
    return out


def _manifest(config: FinetuneDataConfig, out: Path, results: list[_ShardResult], excluded: int, empty: int,
              translator: Translator | None) -> dict:
    annotations: Counter = Counter()
    images_by_dataset: Counter = Counter()
    for result in results:
        annotations.update(result.annotations)
        images_by_dataset.update(result.images_by_dataset)
    present = frozenset(tuple(key.split("-", 1)) for key in annotations)
    if not present:
        raise FlorenzError("no image of the given datasets decodes; check the image folders")
    coverage = CoverageSpec(present)
    skipped = [path for result in results for path in result.skipped]
    return {
        "format": FORMAT,
        "coverage": str(coverage),
        "categories": list(coverage.keys()),
        "missing_pairs": [f"{task}-{lang}" for task, lang in ALL_PAIRS if (task, lang) not in present],
        "datasets": {name: getattr(config, name) or None for name in DATASETS},
        "counts": {"train": {"samples": sum(result.samples for result in results),
                             "annotations": dict(sorted(annotations.items()))},
                   "images_by_dataset": dict(sorted(images_by_dataset.items()))},
        "skipped_images": {"count": len(skipped), "files": skipped},
        "excluded_images": {"coco_in_multi30k_test_2017_mscoco": excluded},
        "translation": None if translator is None else {
            "model": config.mt, "model_sha256": translator.model_sha256, "translated": translator.translated,
            "from_cache": translator.from_cache, "empty_dropped": empty},
        "config": to_dict(config),
        "files": {str(path.relative_to(out)): sha256_of_file(path) for path in sorted(_own_files(out))
                  if path.name not in (MANIFEST, IN_PROGRESS)},
    }


def _summary(out: Path, manifest: dict) -> str:
    counts = manifest["counts"]
    used = [name for name, path in manifest["datasets"].items() if path]
    left_out = [name for name, path in manifest["datasets"].items() if not path]
    lines = [f"florenz finetune-data: wrote {out}: {counts['train']['samples']} images from {', '.join(used)}"
             + (f" (left out: {', '.join(left_out)})" if left_out else "")]
    lines.append("  pairs: " + ", ".join(f"{key} {n}" for key, n in counts["train"]["annotations"].items()))
    if manifest["missing_pairs"]:
        why = "give --mt to translate them" if manifest["translation"] is None else "no source for them"
        lines.append(f"  missing pairs ({why}): {', '.join(manifest['missing_pairs'])}")
    translation = manifest["translation"]
    if translation is not None:
        lines.append(f"  translated {translation['translated']} texts now, {translation['from_cache']} from "
                     f"the cache, {translation['empty_dropped']} empty ones dropped")
    skipped = manifest["skipped_images"]
    if skipped["count"]:
        lines.append(f"  skipped {skipped['count']} images that do not decode: "
                     f"{', '.join(skipped['files'][:10])}{' ...' if skipped['count'] > 10 else ''}")
    if excluded := manifest["excluded_images"]["coco_in_multi30k_test_2017_mscoco"]:
        lines.append(f"  kept {excluded} COCO images of Multi30K's test_2017_mscoco out of training")
    tokenizer = "" if "tokenizer.json" in manifest["files"] else " --loader.tokenizer MODEL_TOKENIZER"
    lines.append(f"  fine-tune (paper: lr 5e-5, cosine, wd 0.05): florenz train --init RUN --data {out}"
                 f"{tokenizer} --optim.lr 5e-5 --optim.weight-decay 0.05")
    return "\n".join(lines)
