"""File helpers every package shares: atomic writes, content hashes, JSON reads with a clear error."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from florenz.errors import FlorenzError

_TMP_PREFIX = ".tmp-"  # staging directories of write_directory_atomically


def write_atomically(path: str | Path, data: bytes | str) -> Path:
    """Write `data` to `path` via `path.tmp`, fsync'ed and renamed: a crash never leaves a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            _fsync_directory(path)
    _fsync_directory(directory)


def write_directory_atomically(final: Path, write: Callable[[Path], None]) -> None:
    """Let `write(tmp)` fill a temporary directory, fsync it, then rename it to `final` (replacing it)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / f"{_TMP_PREFIX}{final.name}"
    if temporary.exists():
        shutil.rmtree(temporary)  # left by a crash: never a complete checkpoint
    temporary.mkdir()
    write(temporary)
    _fsync_tree(temporary)
    if final.exists():
        replaced = final.parent / f"{_TMP_PREFIX}old-{final.name}"
        os.replace(final, replaced)
        os.replace(temporary, final)
        shutil.rmtree(replaced)
    else:
        os.replace(temporary, final)
    _fsync_directory(final.parent)  # make the rename itself durable


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON file through a temporary file and a rename."""
    write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False))


def sha256_of_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | Path, fix: str) -> dict[str, Any]:
    """Parse a JSON file; an unreadable one is a FlorenzError naming it and `fix`."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FlorenzError(f"{path} is unreadable ({error}); {fix}") from None


def check_output_directory(out: Path, marker: str, expected: str, overwrite: bool, verb: str) -> None:
    """Refuse an --out holding anything but an earlier output of the same kind (replaced with overwrite):
    `marker` is the file whose "model_type" names that kind."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    kind = None
    if (out / marker).is_file():
        try:
            kind = json.loads((out / marker).read_text(encoding="utf-8")).get("model_type")
        except (OSError, json.JSONDecodeError):
            kind = None
    if kind != expected:
        raise FlorenzError(f"{out} is not empty and holds no output of `{verb}`; choose a new or empty --out "
                           f"(nothing there was changed)")
    if not overwrite:
        raise FlorenzError(f"{out} already holds an output of `{verb}`; pass --overwrite to replace it or "
                           f"choose another --out (nothing there was changed)")
