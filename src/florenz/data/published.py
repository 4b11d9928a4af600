"""The paper's datasets in their published layouts: the file checks and row readers that the fine-tuning
mixture (florenz.data.finetune, train splits) and the benchmarks (florenz.eval.benchmarks, test splits) share.

Each reader takes the dataset's own directory and returns plain rows. A missing or malformed file is a
FlorenzError naming the file, the line (or JSON entry) and the layout expected there:

    multi30k/data/task1/raw/<split>.{en,de,fr}[.gz]        one sentence per line, the languages line-parallel
    multi30k/data/task1/image_splits/<split>.txt           one image file name per line (COCO ones end '#n')
    multi30k/data/task2/raw/<split>.{1..5}.{en,de}[.gz]    caption k of each image in file k, independent
    multi30k/data/task2/image_splits/<split>_images.txt
    multi30k/flickr30k-images/ (task1_test_2017/, task1_test_2018/, coco/ for the test sets)     images
    coco/dataset_coco.json    Karpathy: {"images": [{"filepath", "filename", "split", "cocoid",
                              "sentences": [{"raw"}, ...]}, ...]}; images in coco/<filepath>/<filename>
    docci/docci_descriptions.jsonlines   one {"example_id", "split", "image_file", "description"} per line;
                                         images in docci/images/<image_file>
    image_paragraphs/paragraphs_v1.json  [{"image_id", "url", "paragraph"}, ...], and the image id lists
                                         {train,val,test}_split.json; images in image_paragraphs/images/ as
                                         <image_id>.jpg, <url dir>_<file> or <url dir>/<file> (Visual Genome)
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from florenz.errors import FlorenzError

MULTI30K_TASK1_LAYOUT = ("multi30k/data/task1/raw/<split>.<lang>[.gz] (one sentence per line, parallel "
                         "across languages) and data/task1/image_splits/<split>.txt (one image file name per "
                         "line)")
MULTI30K_TASK2_LAYOUT = ("multi30k/data/task2/raw/<split>.<1..5>.<lang>[.gz] (one caption per line) and "
                         "data/task2/image_splits/<split>_images.txt (one image file name per line)")
COCO_LAYOUT = ('coco/dataset_coco.json (Karpathy splits): {"images": [{"filepath", "filename", "split", '
               '"cocoid", "sentences": [{"raw": ...}]}]}')
DOCCI_LAYOUT = ('docci/docci_descriptions.jsonlines: one JSON object per line with "example_id", "split", '
                '"image_file" and "description"')
PARAGRAPHS_LAYOUT = ('image_paragraphs/paragraphs_v1.json: a JSON list of {"image_id", "url", "paragraph"}, '
                     'and <split>_split.json: a JSON list of image ids')


@dataclass
class ImageTexts:
    """One image and its texts in one language: captions, or a single paragraph."""

    id: str  # unique within its dataset and split
    image: Path
    texts: list[str]


# --- files ----------------------------------------------------------------------------------------------

def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FlorenzError(f"{what}: {path} does not exist (looked in {path.parent}); put the dataset's "
                           "files there in their published layout or pass another directory")
    return path


def read_lines(path: Path, what: str, layout: str = "") -> list[str]:
    """The lines of a text file, or of its .gz as the Multi30K repository ships it. With `layout`, every line
    must hold text (an empty one is an error naming the file, the line and the layout)."""
    packed = path.with_name(path.name + ".gz")
    if not path.is_file() and packed.is_file():
        path = packed
    if not path.is_file():
        raise FlorenzError(f"{what}: neither {path} nor {packed.name} exists (looked in {path.parent}); put "
                           "the dataset's files there in their published layout or pass another directory")
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        lines = data.decode("utf-8").splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise FlorenzError(f"{what}: {path} is not a readable UTF-8 text file ({error}); "
                           "re-download it") from None
    if layout:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                raise FlorenzError(f"{what}: {path} line {number} is empty; expected {layout}")
    return lines


def read_json_file(path: Path, what: str, layout: str = ""):
    try:
        return json.loads(require_file(path, what).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        expected = f"; expected {layout}" if layout else ""
        raise FlorenzError(f"{what}: {path} is not valid JSON ({error}){expected}; re-download it") from None


def read_json_rows(path: Path, what: str, layout: str = "", keys: tuple[str, ...] = ()) -> list[dict]:
    """The objects of a JSON-lines file; a line that is not an object with `keys` is an error naming it."""
    rows = []
    for number, line in enumerate(require_file(path, what).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            expected = layout or "one JSON object per line"
            raise FlorenzError(f"{what}: {path} line {number} is not JSON ({error}); expected {expected}; "
                               "re-download it") from None
        missing = [key for key in keys if not isinstance(row, dict) or key not in row]
        if missing:
            raise FlorenzError(f"{what}: {path} line {number} lacks {missing}; expected {layout}")
        rows.append(row)
    return rows


def same_length(what: str, **columns: list) -> None:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise FlorenzError(f"{what}: files disagree in line count {lengths}; re-download the dataset")


def find_image(names: str | tuple[str, ...], root: Path, folders: tuple[str, ...], what: str) -> Path:
    """The first of `names` found in one of `root`'s `folders`; a FlorenzError lists every place looked."""
    names = (names,) if isinstance(names, str) else names
    for folder in folders:
        for name in names:
            if (root / folder / name).is_file():
                return root / folder / name
    places = ", ".join(str(root / folder) for folder in folders)
    raise FlorenzError(f"{what}: image {' or '.join(names)} not found; looked in {places}")


# --- Multi30K -------------------------------------------------------------------------------------------

def multi30k_task1(multi30k: Path, split: str, langs: tuple[str, ...], image_root: Path,
                   image_folders: tuple[str, ...]) -> list[tuple[Path, dict[str, str]]]:
    """Task 1 (translation): per image, its sentence in each of `langs` (the files are line-parallel)."""
    base = multi30k / "data" / "task1"
    what = f"Multi30K task 1 {split}"
    sentences = {lang: read_lines(base / "raw" / f"{split}.{lang}", what, MULTI30K_TASK1_LAYOUT)
                 for lang in langs}
    names = read_lines(base / "image_splits" / f"{split}.txt", what, MULTI30K_TASK1_LAYOUT)
    same_length(what, images=names, **sentences)
    return [(find_image(name.split("#")[0].strip(), image_root, image_folders, what),
             {lang: sentences[lang][index] for lang in langs}) for index, name in enumerate(names)]


def multi30k_task2(multi30k: Path, split: str, lang: str, image_root: Path,
                   image_folders: tuple[str, ...]) -> list[ImageTexts]:
    """Task 2 (captions): five independent captions per image in `lang` (en or de)."""
    base = multi30k / "data" / "task2"
    what = f"Multi30K task 2 {split} {lang}"
    names = read_lines(base / "image_splits" / f"{split}_images.txt", what, MULTI30K_TASK2_LAYOUT)
    columns = [read_lines(base / "raw" / f"{split}.{number}.{lang}", what, MULTI30K_TASK2_LAYOUT)
               for number in range(1, 6)]
    same_length(what, images=names, **{f"captions_{n}": column for n, column in enumerate(columns, 1)})
    return [ImageTexts(f"{split}-{index}", find_image(name.strip(), image_root, image_folders, what),
                       [column[index] for column in columns]) for index, name in enumerate(names)]


def multi30k_image_names(multi30k: Path, split: str) -> set[str]:
    """The image file names of a task 1 split (test_2017_mscoco: to keep its COCO images out of training)."""
    names = read_lines(multi30k / "data" / "task1" / "image_splits" / f"{split}.txt",
                       f"Multi30K task 1 {split}", MULTI30K_TASK1_LAYOUT)
    return {name.split("#")[0].strip() for name in names}


# --- COCO Karpathy, DOCCI, Image-Paragraphs -------------------------------------------------------------

def coco_karpathy(coco: Path, splits: tuple[str, ...]) -> list[ImageTexts]:
    """The images of the Karpathy `splits` (train, restval, val, test) with all their captions."""
    path = coco / "dataset_coco.json"
    what = f"COCO Karpathy {'+'.join(splits)}"
    data = read_json_file(path, what, COCO_LAYOUT)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise FlorenzError(f"{what}: {path} has no 'images' list; expected {COCO_LAYOUT}")
    rows = []
    for index, image in enumerate(images):
        try:
            if image["split"] not in splits:
                continue
            captions = [" ".join(sentence["raw"].split()) for sentence in image["sentences"]]
            rows.append(ImageTexts(str(image.get("cocoid", image["filename"])),
                                   find_image(image["filename"], coco, (image.get("filepath", ""),), what),
                                   captions))
        except (KeyError, TypeError, AttributeError):
            raise FlorenzError(f"{what}: {path} images[{index}] lacks 'split', 'filename' or "
                               f"'sentences[].raw'; expected {COCO_LAYOUT}") from None
    return rows


def docci(docci_dir: Path, split: str) -> list[ImageTexts]:
    """The DOCCI descriptions of `split` (train, test, qual_dev, qual_test): one long paragraph per image."""
    what = f"DOCCI {split}"
    rows = read_json_rows(docci_dir / "docci_descriptions.jsonlines", what, DOCCI_LAYOUT,
                          ("example_id", "split", "image_file", "description"))
    return [ImageTexts(str(row["example_id"]), find_image(row["image_file"], docci_dir, ("images",), what),
                       [" ".join(str(row["description"]).split())]) for row in rows if row["split"] == split]


def image_paragraphs(paragraphs_dir: Path, split: str) -> list[ImageTexts]:
    """Stanford Image-Paragraphs `split` (train, val, test): one paragraph per Visual Genome image."""
    what = f"Image-Paragraphs {split}"
    split_path = paragraphs_dir / f"{split}_split.json"
    ids = read_json_file(split_path, what, PARAGRAPHS_LAYOUT)
    if not isinstance(ids, list):
        raise FlorenzError(f"{what}: {split_path} is not a list of image ids; expected {PARAGRAPHS_LAYOUT}")
    wanted = set(ids)
    path = paragraphs_dir / "paragraphs_v1.json"
    entries = read_json_file(path, what, PARAGRAPHS_LAYOUT)
    if not isinstance(entries, list):
        raise FlorenzError(f"{what}: {path} is not a JSON list; expected {PARAGRAPHS_LAYOUT}")
    rows = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "image_id" not in entry or "paragraph" not in entry:
            raise FlorenzError(f"{what}: {path} entry [{index}] lacks 'image_id' or 'paragraph'; expected "
                               f"{PARAGRAPHS_LAYOUT}")
        if entry["image_id"] not in wanted:
            continue
        url_parts = str(entry.get("url", "")).rstrip("/").split("/")[-2:]
        names = (f"{entry['image_id']}.jpg", *(["_".join(url_parts), "/".join(url_parts)]
                                               if len(url_parts) == 2 else []))
        rows.append(ImageTexts(str(entry["image_id"]), find_image(names, paragraphs_dir, ("images",), what),
                               [" ".join(str(entry["paragraph"]).split())]))
    return rows
