"""File helpers every package shares: atomic writes, content hashes, JSON reads with a clear error."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from florenz.errors import FlorenzError


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
