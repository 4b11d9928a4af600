"""A built world as its readers see it: the manifest, its hash (fingerprinting every file), the tokenizer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from florenz.errors import FlorenzError
from florenz.files import sha256_of_file


@dataclass(frozen=True)
class WorldInfo:
    """What starting points need to know of a built world."""

    path: Path
    manifest: dict[str, Any]
    manifest_sha256: str  # the manifest lists the sha256 of every file, so this fingerprints the world

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    def tokenizer_sha256(self) -> str:
        return file_sha256(self.path / "tokenizer.json")


def file_sha256(path: Path) -> str:
    if not path.is_file():
        raise FlorenzError(f"{path} does not exist; rebuild the world with `florenz world build`")
    return sha256_of_file(path)


def read_world(world_dir: str | Path) -> WorldInfo:
    """The manifest of a built world and its hash; FlorenzError naming the directory if it is not one."""
    path = Path(world_dir)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise FlorenzError(f"{path} is not a Florenz world (no manifest.json); build one with "
                           f"`florenz world build --out {path}`")
    text = manifest_path.read_bytes()
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as error:
        raise FlorenzError(f"{manifest_path} is not valid JSON ({error}); rebuild the world") from None
    if "config" not in manifest:
        raise FlorenzError(f"{manifest_path} has no 'config' entry; rebuild the world with this version")
    return WorldInfo(path, manifest, hashlib.sha256(text).hexdigest())
