"""The inputs of `florenz align`: bitext files (TSV or Moses pairs) and images (shards or image files).

Both are read as streams in a fixed order, so every process of a split run (`--shard i/N`) numbers the same
sentence and the same image alike. Bad lines are skipped and counted, never fatal. `world_bitext` exports a
world's translation pairs as such bitext, with the pairing thrown away (the proof on the world).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from florenz.data.shards import IMAGE_EXTENSIONS, count_samples, list_shards, read_shard
from florenz.errors import FlorenzError
from florenz.files import write_atomically
from florenz.world.languages import LANGUAGES

_LANGUAGE_WORD = re.compile(r"[a-z]{2}")


# --- inputs: the bitext ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BitextFile:
    """One bitext file: TSV (`en<TAB>xx` per line) or the xx side of a Moses pair (`english` beside it)."""

    path: Path
    lang: str
    english: Path | None = None  # the Moses pair's .en file; None for TSV


def _tsv_language(path: Path) -> str | None:
    """The target language a TSV's name gives: the last two-letter word of its stem other than 'en'."""
    words = [word for word in re.split(r"[^a-z]+", path.stem.lower()) if _LANGUAGE_WORD.fullmatch(word)]
    candidates = [word for word in words if word != "en"]
    return candidates[-1] if candidates else None


def bitext_files(paths: tuple[str, ...]) -> list[BitextFile]:
    """Each --bitext path as a BitextFile; FlorenzError naming a missing file or a language it cannot tell."""
    files = []
    for text in paths:
        path = Path(text)
        if not path.is_file():
            raise FlorenzError(f"bitext file {path} does not exist; check --bitext")
        if path.suffix.lower() == ".tsv":
            lang = _tsv_language(path)
            fix = "name it after its target language, e.g. fr.tsv or ccmatrix.en-fr.tsv"
        else:
            lang = path.suffix.lower().lstrip(".")
            english = path.with_suffix(".en")
            if lang == "en":
                raise FlorenzError(f"bitext {path} is the English side; give the other side of the Moses "
                                   f"pair (e.g. {path.with_suffix('.fr')}), which names the language")
            if not english.is_file():
                raise FlorenzError(f"bitext {path} is read as the {lang!r} side of a Moses pair, but its "
                                   f"English side {english} does not exist; put it beside it, or give a TSV "
                                   f"file 'en<TAB>{lang}' named *.tsv")
            fix = "give the Moses pair as corpus.en + corpus.<lang>"
        if lang not in LANGUAGES or lang == "en":
            raise FlorenzError(f"bitext {path}: cannot tell a target language among "
                               f"{', '.join(LANGUAGES[1:])} from its name (found {lang!r}); {fix}")
        files.append(BitextFile(path, lang, None if path.suffix.lower() == ".tsv" else english))
    return files


def read_bitext(file: BitextFile, skipped: Counter) -> Iterator[tuple[int, str, str]]:
    """(line number, English, target) of each usable line; a line without a tab (TSV) or with an empty side
    is skipped and counted in `skipped["<path>: <reason>"]`. A Moses pair of unequal length is an error."""
    if file.english is None:
        with open(file.path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                english, tab, target = line.rstrip("\r\n").partition("\t")
                if not tab or "\t" in target:
                    skipped[f"{file.path}: not 'en<TAB>{file.lang}'"] += 1
                elif not english.strip() or not target.strip():
                    skipped[f"{file.path}: an empty side"] += 1
                else:
                    yield number, english.strip(), target.strip()
        return
    with (open(file.english, encoding="utf-8", errors="replace") as english_handle,
          open(file.path, encoding="utf-8", errors="replace") as target_handle):
        number = 0
        for number, (english, target) in enumerate(zip(english_handle, target_handle, strict=False), 1):
            if not english.strip() or not target.strip():
                skipped[f"{file.path}: an empty side"] += 1
            else:
                yield number, english.strip(), target.strip()
        if english_handle.readline() or target_handle.readline():
            raise FlorenzError(f"Moses pair {file.english} / {file.path}: one file ends after line {number} "
                               f"and the other goes on; the two sides must have one line per sentence each")


@dataclass(frozen=True)
class Sentence:
    id: int  # position among the usable lines of all bitext files, in --bitext order
    file: int  # index into --bitext
    line: int  # 1-based line number in that file
    english: str
    target: str


def sentences(files: list[BitextFile], skipped: Counter) -> Iterator[Sentence]:
    """Every usable bitext line of every file, numbered the same way in every process."""
    next_id = 0
    for index, file in enumerate(files):
        for line, english, target in read_bitext(file, skipped):
            yield Sentence(next_id, index, line, english, target)
            next_id += 1


# --- inputs: the images ---------------------------------------------------------------------------------

@dataclass
class ImageItem:
    position: int  # position in the image stream, the same in every process
    key: str  # the output sample's key
    name: str  # where it came from, for the summary
    data: bytes
    extension: str
    captions: list[dict] = field(default_factory=list)


def _image_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*")
                  if path.is_file() and path.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS)


def image_inputs(folder: str | Path) -> tuple[str, list[Path]]:
    """("shards", tar files) or ("files", image files) of an --images folder; FlorenzError for neither."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FlorenzError(f"--images {folder} is not a directory; give a folder of shards (*.tar) or of "
                           f"image files")
    shards = list_shards(folder)
    if shards:
        return "shards", shards
    files = _image_files(folder)
    if not files:
        raise FlorenzError(f"--images {folder} holds no shards (*.tar) and no image files "
                           f"({', '.join(IMAGE_EXTENSIONS)}); a world's images are in WORLD/train")
    return "files", files


def iter_images(kind: str, paths: list[Path], root: Path) -> Iterator[ImageItem]:
    """The images of the input in a fixed order, with the captions of shard samples."""
    position = 0
    if kind == "shards":
        for shard in paths:
            for sample in read_shard(shard):
                captions = [a for a in sample.annotations if a.get("task") == "caption"]
                yield ImageItem(position, sample.key, f"{shard.name}:{sample.key}", sample.image,
                                sample.image_extension, captions)
                position += 1
        return
    for path in paths:
        relative = path.relative_to(root)
        key = f"{position:08d}_{re.sub(r'[^0-9A-Za-z_-]+', '_', str(relative.with_suffix('')))[:80]}"
        yield ImageItem(position, key, str(relative), path.read_bytes(), path.suffix.lower().lstrip("."))
        position += 1


def count_images(kind: str, paths: list[Path]) -> int:
    return sum(count_samples(path) for path in paths) if kind == "shards" else len(paths)



# --- the world proves it ---------------------------------------------------------------------------------

def world_bitext(world_dir: str | Path, out_dir: str | Path,
                 seed: int = 0) -> dict[str, tuple[Path, list[str]]]:
    """The world's training translation pairs as one shuffled TSV per language (`OUT/<lang>.tsv`, the
    pairing with images thrown away) and, aside, the key of each line's true image (`OUT/<lang>.images.txt`):
    {lang: (tsv path, true image key per line)}."""
    rows: dict[str, list[tuple[str, str, str]]] = {}
    for shard in list_shards(Path(world_dir) / "train"):
        for sample in read_shard(shard):
            for annotation in sample.annotations:
                if annotation["task"] == "translation":
                    rows.setdefault(annotation["lang"], []).append(
                        (annotation["source"], annotation["target"], sample.key))
    out_dir = Path(out_dir)
    exported = {}
    for lang, lang_rows in sorted(rows.items(), key=lambda item: LANGUAGES.index(item[0])):
        order = np.random.default_rng([seed, LANGUAGES.index(lang)]).permutation(len(lang_rows))
        shuffled = [lang_rows[i] for i in order]
        tsv = out_dir / f"{lang}.tsv"
        write_atomically(tsv, "".join(f"{english}\t{target}\n" for english, target, _ in shuffled))
        write_atomically(out_dir / f"{lang}.images.txt", "".join(f"{key}\n" for *_, key in shuffled))
        exported[lang] = (tsv, [key for *_, key in shuffled])
    return exported
