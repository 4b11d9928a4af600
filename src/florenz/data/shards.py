"""WebDataset tar shards: one image and one JSON list of annotations per sample.

A shard is a plain tar with members `<key>.png` (or .jpg) and `<key>.json`, consecutive per key, as
WebDataset expects. Writing is deterministic (fixed mtime, owner and mode, so a rebuilt shard is
byte-identical) and atomic (written to `NAME.tmp`, then renamed). Reading checks every sample and raises a
FlorenzError naming the shard and key on a broken tar, image or JSON.

An annotation is a dict `{"task", "lang", "detail", "target"}` plus `"source"` (translation),
`"references"` (caption benchmarks) or `"incorrect"` (ambiguity benchmark).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from florenz.errors import FlorenzError
from florenz.files import read_json, sha256_of_file, write_atomically

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")
REQUIRED_ANNOTATION_KEYS = ("task", "lang", "target")


@dataclass
class ShardSample:
    key: str  # unique within the data set; no dots (WebDataset splits member names at the first dot)
    image: bytes | Image.Image  # encoded bytes as stored, or an RGB PIL image when read with decode_images
    annotations: list[dict] = field(default_factory=list)
    image_extension: str = "png"


def _member(name: str, payload: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0  # fixed metadata: the same samples always give the same bytes
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(payload)


def shard_bytes(samples: Iterable[ShardSample]) -> bytes:
    """The tar archive of `samples`, in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for sample in samples:
            if "." in sample.key or "/" in sample.key or not sample.key:
                raise ValueError(f"shard key {sample.key!r} must be non-empty without '.' or '/'")
            if not isinstance(sample.image, bytes):
                raise ValueError(f"sample {sample.key}: write encoded image bytes, not {type(sample.image)}")
            text = json.dumps(sample.annotations, ensure_ascii=False, separators=(",", ":"))
            tar.addfile(*_member(f"{sample.key}.{sample.image_extension}", sample.image))
            tar.addfile(*_member(f"{sample.key}.json", text.encode("utf-8")))
    return buffer.getvalue()


def write_shard(path: str | Path, samples: Iterable[ShardSample]) -> Path:
    """Write a shard atomically: a crash leaves at most `path.tmp`, never a truncated `path`."""
    return write_atomically(path, shard_bytes(samples))


def _check_annotations(annotations: object, where: str) -> list[dict]:
    if not isinstance(annotations, list) or not annotations:
        raise FlorenzError(f"{where}: annotations must be a non-empty JSON list; rebuild the shard")
    for annotation in annotations:
        present = annotation if isinstance(annotation, dict) else {}
        missing = [key for key in REQUIRED_ANNOTATION_KEYS if key not in present]
        if missing:
            raise FlorenzError(f"{where}: an annotation lacks {missing}; rebuild the shard")
    return annotations


def _finish(shard: Path, key: str, parts: dict[str, bytes], decode_images: bool) -> ShardSample:
    where = f"shard {shard}, sample {key}"
    image_extension = next((ext for ext in IMAGE_EXTENSIONS if ext in parts), None)
    if image_extension is None or "json" not in parts:
        raise FlorenzError(f"{where}: needs an image ({'/'.join(IMAGE_EXTENSIONS)}) and a json member, has "
                           f"{sorted(parts)}; the shard is incomplete, rebuild it")
    try:
        annotations = json.loads(parts["json"].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FlorenzError(f"{where}: annotations are not valid UTF-8 JSON ({error}); "
                           "rebuild the shard") from None
    image: bytes | Image.Image = parts[image_extension]
    if decode_images:
        try:
            with Image.open(io.BytesIO(image)) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise FlorenzError(f"{where}: the image cannot be decoded ({error}); rebuild the shard") from None
    return ShardSample(key, image, _check_annotations(annotations, where), image_extension)


def read_shard(path: str | Path, decode_images: bool = False) -> Iterator[ShardSample]:
    """The samples of one shard in stored order; images as bytes, or RGB PIL images if `decode_images`."""
    path = Path(path)
    if not path.is_file():
        raise FlorenzError(f"shard {path} does not exist; check the data directory or rebuild the world")
    key, parts = None, {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                stem, _, extension = Path(member.name).name.partition(".")
                if stem != key:
                    if key is not None:
                        yield _finish(path, key, parts, decode_images)
                    key, parts = stem, {}
                parts[extension.lower()] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise FlorenzError(f"shard {path} is not a readable tar ({error}); rebuild it") from None
    if key is not None:
        yield _finish(path, key, parts, decode_images)


def list_shards(directory: str | Path) -> list[Path]:
    """The `*.tar` shards of a directory, in name order (finished shards only, never `*.tar.tmp`)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FlorenzError(f"shard directory {directory} does not exist; build the world or fix the path")
    return sorted(directory.glob("*.tar"))


def count_samples(path: Path) -> int:
    """Samples in a shard, from its tar headers alone (data blocks are skipped, not read)."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            return len({Path(m.name).name.partition(".")[0] for m in tar if m.isfile()})
    except (tarfile.TarError, OSError) as error:
        raise FlorenzError(f"shard {path} is not a readable tar ({error}); rebuild it") from None


def _expected_counts(manifest: dict, split: str, listed: list[str]) -> dict[str, int]:
    """Samples per listed shard of a world build: full shards of `shard_size`, the last one the rest."""
    config = manifest.get("config", {})
    shard_size, samples = config.get("shard_size"), config.get("samples")
    if split != "train" or not isinstance(shard_size, int) or not isinstance(samples, int):
        return {}
    return {name: min(shard_size, samples - index * shard_size) for index, name in enumerate(sorted(listed))}


def check_shards(data_dir: str | Path, split: str, shard_paths: list[Path], verify_sha256: bool) -> str:
    """Compare the shards of `data_dir/split` with the data's manifest.json: every listed shard present, none
    extra, each with its number of samples (and its sha256 if `verify_sha256`). Returns a note of what was
    checked; raises a FlorenzError listing every difference."""
    data_dir = Path(data_dir)
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        return f"{data_dir} has no manifest.json: its {len(shard_paths)} shards are used unchecked"
    manifest = read_json(manifest_path, f"rebuild the world (`florenz world build --out {data_dir}`)")
    listed = {name: sha for name, sha in manifest.get("files", {}).items()
              if name.startswith(f"{split}/") and name.endswith(".tar")}
    present = {path.relative_to(data_dir).as_posix(): path for path in shard_paths}
    problems = []
    if missing := sorted(set(listed) - set(present)):
        problems.append(f"missing shard(s) {', '.join(missing)}")
    if unlisted := sorted(set(present) - set(listed)):
        problems.append(f"shard(s) not in the manifest {', '.join(unlisted)}")
    for name, expected in _expected_counts(manifest, split, list(listed)).items():
        if name in present and (found := count_samples(present[name])) != expected:
            problems.append(f"{name} holds {found} of its {expected} samples")
    if verify_sha256:
        changed = [name for name in sorted(set(listed) & set(present))
                   if sha256_of_file(present[name]) != listed[name]]
        if changed:
            problems.append(f"sha256 differs from the manifest for {', '.join(changed)}")
    if problems:
        raise FlorenzError(f"the training data in {data_dir / split} does not match {manifest_path}: "
                           f"{'; '.join(problems)}. Restore the files or rebuild the world (`florenz world "
                           f"build`)")
    how = "sample counts and sha256" if verify_sha256 else "sample counts; sha256 with --verify-data"
    return f"{len(listed)} shards match {manifest_path} ({how})"
