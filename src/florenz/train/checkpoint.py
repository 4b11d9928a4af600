"""Resumable checkpoints: atomic directories, optimizer state as safetensors, and the trainer state.

A checkpoint directory holds the model in the HF layout (`config.json` + `model.safetensors`), the
optimizer state in `optimizer.safetensors` (every tensor under "state/<parameter name>/<key>", the
param groups as JSON metadata: nothing is ever pickled) and `trainer_state.json` (step, seen samples,
data cursor, RNG states, schedule). It is written into a hidden temporary directory, fsync'ed and renamed
into place, so a crash leaves either the old checkpoint or the new one, never a half-written one.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from florenz import files
from florenz.errors import FlorenzError
from florenz.files import write_directory_atomically

TRAINER_STATE = "trainer_state.json"
OPTIMIZER_STATE = "optimizer.safetensors"
CHECKPOINTS = "checkpoints"
DELETING_PREFIX = ".deleting-"  # a checkpoint being deleted: renamed first, so it is never listed half-gone


# --- optimizer state ----------------------------------------------------------------------------------

def save_optimizer_state(state_dict: dict[str, Any], path: Path) -> None:
    """A name-keyed optimizer state dict (torch.distributed.checkpoint.state_dict layout) -> safetensors."""
    tensors = {}
    for name, state in state_dict["state"].items():
        for key, value in state.items():
            if not isinstance(value, torch.Tensor):
                raise FlorenzError(f"optimizer state {name}.{key} is a {type(value).__name__}, not a tensor; "
                                   "only tensor optimizer states can be checkpointed")
            tensors[f"state/{name}/{key}"] = value.detach().cpu().contiguous()
    metadata = {"param_groups": json.dumps(state_dict["param_groups"])}
    save_file(tensors, str(path), metadata=metadata)


def load_optimizer_state(path: Path) -> dict[str, Any]:
    """Inverse of `save_optimizer_state`."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise FlorenzError(f"optimizer state {path} is unreadable ({error}); delete this checkpoint to "
                           "resume from the one before it") from None
    state: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        _, rest = key.split("/", 1)
        name, field = rest.rsplit("/", 1)
        state.setdefault(name, {})[field] = tensor
    groups = json.loads(metadata["param_groups"])
    for group in groups:
        group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


# --- RNG states ---------------------------------------------------------------------------------------

def rng_state() -> dict[str, str]:
    """This process's torch RNG states (CPU, and CUDA when present) as base64 text."""
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return {key: base64.b64encode(state.numpy().tobytes()).decode("ascii") for key, state in states.items()}


def set_rng_state(states: dict[str, str]) -> None:
    def decode(text: str) -> torch.Tensor:
        return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)

    torch.set_rng_state(decode(states["cpu"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(decode(states["cuda"]))


# --- checkpoint directories ---------------------------------------------------------------------------

def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints in RUN_DIR/checkpoints, oldest first (temporary directories are ignored)."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-")
                  and (p / TRAINER_STATE).is_file() and (p / "config.json").is_file())


def write_checkpoint(directory: Path, write_model: Callable[[Path], None],
                     optimizer_state: dict[str, Any] | None, trainer_state: dict[str, Any]) -> None:
    """Atomically write model, optimizer state (if given) and trainer state to `directory`."""
    def write(temporary: Path) -> None:
        write_model(temporary)
        if optimizer_state is not None:
            save_optimizer_state(optimizer_state, temporary / OPTIMIZER_STATE)
        (temporary / TRAINER_STATE).write_text(json.dumps(trainer_state, indent=2), encoding="utf-8")

    write_directory_atomically(directory, write)


def read_json(path: Path) -> dict[str, Any]:
    return files.read_json(path, "delete it (or its checkpoint) to start that part again")


def read_trainer_state(directory: Path) -> dict[str, Any]:
    return read_json(directory / TRAINER_STATE)


def _delete(directory: Path) -> None:
    """Rename, then delete: a kill midway leaves a `.deleting-*` leftover, never a listed half checkpoint."""
    doomed = directory.with_name(f"{DELETING_PREFIX}{directory.name}")
    os.replace(directory, doomed)
    shutil.rmtree(doomed)


def prune_checkpoints(run_dir: Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` checkpoints (all of them, and their folder, for 0)."""
    checkpoints = list_checkpoints(run_dir)
    for old in checkpoints[:max(len(checkpoints) - keep_last, 0)]:
        _delete(old)
    if keep_last == 0 and (run_dir / CHECKPOINTS).is_dir():
        _delete(run_dir / CHECKPOINTS)


def remove_leftovers(run_dir: Path) -> list[Path]:
    """Delete what killed writes leave in a run directory and return it: staging directories of model saves
    (`.saving-*`), of atomic directory writes (`.tmp-*`) and of deletions (`.deleting-*`), `*.tmp` files."""
    prefixes = (".saving-", ".tmp-", DELETING_PREFIX)
    leftovers = [path for folder in (run_dir, run_dir / CHECKPOINTS) if folder.is_dir()
                 for path in sorted(folder.iterdir())
                 if path.name.startswith(prefixes) or (path.is_file() and path.name.endswith(".tmp"))]
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return leftovers
