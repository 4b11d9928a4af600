"""Checkpoints in the Hugging Face layout: `config.json` + `model.safetensors`.

Above a size threshold the weights go to `model-0000k-of-0000n.safetensors` shards named by
`model.safetensors.index.json`. Saving writes each file with `florenz.files.write_atomically` (a
temporary file, fsync'ed, renamed into place; config.json last), so a reader never sees a half-written
file, and files of other components in the same directory (a run's `trainer_state.json`,
`metrics.jsonl`) are kept. Weights
that are the same tensor under two names (a tied LM head) are stored once. Loading never unpickles:
safetensors, or `torch.load(weights_only=True)` for `.bin`/`.pt` files. A strict load checks every key
and shape first and copies nothing unless all of them match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from florenz.errors import FlorenzError
from florenz.files import write_atomically

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
PICKLED_INDEX_NAME = "pytorch_model.bin.index.json"
DEFAULT_MAX_SHARD_BYTES = 5 * 1024**3  # transformers' historical default shard size, "5GB"
_METADATA_KEYS = ("model_type", "architectures", "torch_dtype", "dtype")  # "dtype": transformers 5


def _shard_name(index: int, count: int) -> str:
    return f"model-{index:05d}-of-{count:05d}.safetensors"


def tied_aliases(module: nn.Module) -> dict[str, str]:
    """{alias: canonical name} for parameters registered under more than one name (tied weights)."""
    first_name: dict[int, str] = {}
    aliases = {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        canonical = first_name.setdefault(id(parameter), name)
        if canonical != name:
            aliases[name] = canonical
    return aliases


def _shards(tensors: dict[str, torch.Tensor], max_shard_bytes: int) -> list[dict[str, torch.Tensor]]:
    """Split tensors, in name order, into consecutive groups of at most max_shard_bytes (a bigger tensor
    gets a shard of its own)."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name in sorted(tensors):
        nbytes = tensors[name].numel() * tensors[name].element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensors[name]
        size += nbytes
    return shards


def _is_weights_file(name: str) -> bool:
    return name in (WEIGHTS_NAME, INDEX_NAME) or (name.startswith("model-") and name.endswith(".safetensors"))


def save_checkpoint(module: nn.Module, config: dict[str, Any], directory: str | Path,
                    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES) -> None:
    """Write config.json (config plus torch_dtype) and the module's weights into directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    aliases = tied_aliases(module)
    tensors = {name: tensor.detach().contiguous() for name, tensor in module.state_dict().items()
               if name not in aliases}
    dtypes = {tensor.dtype for tensor in tensors.values() if tensor.is_floating_point()}
    config = {**config, "torch_dtype": str(dtypes.pop()).removeprefix("torch.") if len(dtypes) == 1 else None}
    shards = _shards(tensors, max_shard_bytes)
    count = len(shards)
    names = [WEIGHTS_NAME] if count == 1 else [_shard_name(i + 1, count) for i in range(count)]
    # each file is fsync'ed and renamed into place, config.json last: a reader never sees a partial one
    for name, shard in zip(names, shards):
        write_atomically(directory / name, save(shard, metadata={"format": "pt"}))
    if count > 1:
        weight_map = {key: name for name, shard in zip(names, shards) for key in shard}
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        write_atomically(directory / INDEX_NAME, json.dumps(
            {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2, sort_keys=True))
        names.append(INDEX_NAME)
    # weights files of an earlier save that this one does not overwrite would confuse a reader
    for stale in directory.iterdir():
        if _is_weights_file(stale.name) and stale.name not in names:
            stale.unlink()
    write_atomically(directory / CONFIG_NAME, json.dumps(config, indent=2) + "\n")


def read_config(directory: str | Path, model_type: str, architecture: str) -> dict[str, Any]:
    """config.json of directory without its metadata keys, after checking model_type and architecture."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FlorenzError(f"{path} does not exist; pass a directory written by save_pretrained")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise FlorenzError(f"{path} is not valid JSON ({error}); re-save the checkpoint") from None
    found = config.get("model_type")
    if found != model_type:
        fix = (f"pass a directory written by {architecture}.save_pretrained" if found != "florence2"
               else "it is a Florence-2 checkpoint: load it with florenz.model.load_florence2")
        raise FlorenzError(f"{path} has model_type {found!r}, expected {model_type!r}; {fix}")
    architectures = config.get("architectures", [architecture])
    if architectures != [architecture]:
        raise FlorenzError(f"{path} declares architectures {architectures}, expected [{architecture!r}]; "
                           f"pass a {model_type} checkpoint directory")
    return {key: value for key, value in config.items() if key not in _METADATA_KEYS}


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError) as error:
        raise FlorenzError(f"{path} is not a readable safetensors file ({error}); it may be truncated: "
                           f"save or copy it again") from None


def _read_pickled(path: Path) -> dict[str, torch.Tensor]:
    """A .bin/.pt state dict, loaded only if it holds nothing but tensors (weights_only=True)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only raises UnpicklingError for code, RuntimeError for bad zips
        raise FlorenzError(f"refusing to load {path}: it is not a plain tensor state dict that loads with "
                           f"torch.load(weights_only=True) ({type(error).__name__}); convert it to "
                           f"safetensors with trusted code") from None
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise FlorenzError(f"{path} is not a flat {{name: tensor}} state dict; save a model.state_dict()")
    return state


def _read_indexed(directory: Path, index_name: str, read) -> dict[str, torch.Tensor]:
    index_path = directory / index_name
    try:
        weight_map = json.loads(index_path.read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise FlorenzError(f"{index_path} is not a valid shard index ({error!r}); save the model again") \
            from None
    tensors: dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        if not (directory / shard).is_file():
            raise FlorenzError(f"{index_path} lists shard {shard}, which is missing; copy the whole folder")
        tensors.update(read(directory / shard))
    absent = sorted(set(weight_map) - set(tensors))
    if absent:
        raise FlorenzError(f"{index_path} maps {absent} to shards that lack them; save the model again")
    return tensors


def load_weights(directory: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint directory: model.safetensors, a sharded index, or plain .bin/.pt files."""
    directory = Path(directory)
    if (directory / INDEX_NAME).is_file():
        return _read_indexed(directory, INDEX_NAME, _read_safetensors)
    if (directory / WEIGHTS_NAME).is_file():
        return _read_safetensors(directory / WEIGHTS_NAME)
    if (directory / PICKLED_INDEX_NAME).is_file():
        return _read_indexed(directory, PICKLED_INDEX_NAME, _read_pickled)
    pickled = sorted([*directory.glob("*.bin"), *directory.glob("*.pt")])
    if len(pickled) == 1:
        return _read_pickled(pickled[0])
    found = ", ".join(p.name for p in pickled) or "none"
    raise FlorenzError(f"{directory} holds no {WEIGHTS_NAME}, {INDEX_NAME} or single .bin/.pt weights file "
                       f"(.bin/.pt found: {found}); pass a checkpoint directory")


def load_state_dict_strict(module: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Copy state_dict into module if and only if every key and shape matches; otherwise raise FlorenzError
    listing the missing, unexpected and wrongly shaped keys, with the module left untouched."""
    aliases = tied_aliases(module)
    targets = {name: tensor for name, tensor in module.state_dict(keep_vars=True).items()
               if name not in aliases}
    missing = sorted(set(targets) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(targets))
    mismatched = [f"{name}: checkpoint {tuple(state_dict[name].shape)}, model {tuple(targets[name].shape)}"
                  for name in sorted(set(targets) & set(state_dict))
                  if state_dict[name].shape != targets[name].shape]
    if missing or unexpected or mismatched:
        found = (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", mismatched))
        problems = "; ".join(f"{label} ({len(items)}): {', '.join(items)}" for label, items in found if items)
        raise FlorenzError(f"cannot load {source}: {problems}. The checkpoint was written for another model "
                           f"config: load it with its own config.json, or convert it")
    with torch.no_grad():
        for name, target in targets.items():
            target.copy_(state_dict[name])


def _key_template(key: str) -> tuple[list[str], list[str]]:
    """'a.3.b' -> (['a', '{}', 'b'], ['3']): the key's parts, each index replaced by '{}', and the indices."""
    parts = key.split(".")
    return ["{}" if part.isdigit() else part for part in parts], [part for part in parts if part.isdigit()]


def rename_keys(state_dict: dict[str, torch.Tensor], key_map: dict[str, str | None],
                source: str) -> dict[str, torch.Tensor]:
    """Rename keys by a map from key templates ('{}' for an index) to Florenz templates, None = drop.

    A template maps a key when it equals the key's template or a dotted prefix of it; the longest such
    template wins and the rest of the key is kept, so one entry can map a whole submodule. Raises
    FlorenzError listing the keys no template maps.
    """
    renamed: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, tensor in state_dict.items():
        parts, indices = _key_template(key)
        prefixes = (".".join(parts[:cut]) for cut in range(len(parts), 0, -1))
        match = next((prefix for prefix in prefixes if prefix in key_map), None)
        if match is None:
            unmapped.append(key)
            continue
        if key_map[match] is None:
            continue
        target = ".".join([key_map[match], *parts[match.count(".") + 1:]]).format(*indices)
        if target in renamed:
            raise FlorenzError(f"{source}: two keys map to {target}; the checkpoint mixes two layouts")
        renamed[target] = tensor
    if unmapped:
        raise FlorenzError(f"{source}: no mapping for {len(unmapped)} key(s): {', '.join(sorted(unmapped))}; "
                           f"the checkpoint has a layout this converter does not know")
    return renamed
