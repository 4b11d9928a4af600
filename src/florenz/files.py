"""File helpers every package shares: atomic writes, content hashes, JSON reads with a clear error."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from florenz.errors import FlorenzError

_TMP_PREFIX = ".tmp-"  # staging directories of write_directory_atomically
LOCK_SUFFIX = ".florenz-lock"  # flock'ed by the process writing a directory; names it (pid, host, verb)


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


def read_json_lines(path: str | Path, fix: str) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file ([] if it does not exist); a bad line is a FlorenzError naming the file,
    the line number and `fix`."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise FlorenzError(f"{path}:{number} is not JSON; {fix}") from None
    return rows


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


def _describe_owner(owner: dict[str, Any]) -> str:
    started = owner.get("started")
    since = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
             if isinstance(started, (int, float)) else "?")
    return (f"`florenz {owner.get('verb', '?')}` (pid {owner.get('pid', '?')} on {owner.get('host', '?')}, "
            f"since {since})")


def _read_owner(handle: IO[str]) -> dict[str, Any]:
    handle.seek(0)
    try:
        owner = json.loads(handle.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return owner if isinstance(owner, dict) else {}


def lock_path(directory: str | Path) -> Path:
    """The lock file of `directory`: beside it, so it survives the directory being replaced atomically."""
    directory = Path(directory)
    return directory.parent / f".{directory.name}{LOCK_SUFFIX}"


@contextmanager
def owned_directory(directory: str | Path, verb: str) -> Iterator[Path]:
    """Own `directory` for this process while the body runs, so two processes never write one output.

    Use it around everything a verb writes into its --out, after validating the inputs:

        with owned_directory(config.out, "world build") as out:
            ...check what out holds, then write into it (or replace it with write_directory_atomically)...

    It holds an exclusive flock on `lock_path(directory)`, a file beside the directory (so it may be replaced
    whole) naming the owner: pid, host, verb. It creates the parent, not the directory. A second process on
    the same directory gets a FlorenzError naming the owner. The kernel drops a flock when its process dies,
    however it dies, so a lock file left by a dead process is stale: it is named in a warning on stderr and
    taken over. On exit the lock file is removed. Under torchrun, one rank holds it.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FlorenzError(f"{directory} is a file, not a directory; choose another --out")
    lock = lock_path(directory)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(lock, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the body's lifetime
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(handle)
                handle.close()
                raise FlorenzError(
                    f"{directory} is in use by {_describe_owner(owner)}; wait for it to finish or stop "
                    f"it, or choose another --out (nothing there was changed; the lock is {lock})") from None
            if os.path.exists(lock) and os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino:
                break
            handle.close()  # the previous owner removed the file we locked: lock the new one
    except OSError as error:
        raise FlorenzError(f"cannot create {lock} ({error.strerror}); choose a writable --out") from None
    stale = _read_owner(handle)
    if stale:
        print(f"florenz {verb}: warning: taking over {directory} from {_describe_owner(stale)}, which is no "
              f"longer running (stale lock {lock})", file=sys.stderr, flush=True)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "verb": verb,
                             "started": time.time()}))
    handle.flush()
    try:
        yield directory
    finally:
        lock.unlink(missing_ok=True)  # before unlocking: a waiter that locked this inode sees it is gone
        handle.close()


def nothing_to_do(verb: str, out: str | Path, detail: str) -> str:
    """The one wording for rerunning a verb whose output is already complete; the verb then exits 0."""
    return f"florenz {verb}: {out} is finished ({detail}); nothing to do"
