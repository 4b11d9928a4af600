"""Typed configuration: dataclasses with documented fields, loaded from YAML/JSON and flags.

Every component has one config dataclass whose fields are declared with `option(default, "help")`.
The same field docs become `--help` text in the CLI; unknown keys anywhere are errors that list the
valid keys. This module imports nothing heavy so `florenz --help` stays fast.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from florenz.errors import FlorenzError

T = TypeVar("T")


class ConfigError(FlorenzError, ValueError):
    """A bad configuration value or key; the message names the key and the fix."""


class MissingKeysError(ConfigError):
    """Required keys without a value; `keys` are dotted from the top-level config (the CLI names flags)."""

    def __init__(self, where: str, keys: list[str]) -> None:
        self.keys = keys
        super().__init__(f"{where}: missing required key(s) {[key.rsplit('.', 1)[-1] for key in keys]}")


def option(default: Any = dataclasses.MISSING, help: str = "", *, positional: bool = False) -> Any:
    """A dataclass field with a help string; mutable defaults are deep-copied per instance (a nested
    config or a list inside a default would otherwise be shared by every instance)."""
    metadata = {"help": help, "positional": positional}
    if isinstance(default, (list, dict, set)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_help(field: dataclasses.Field) -> str:
    return field.metadata.get("help", "")


def _resolved_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """Convert a JSON/YAML/flag value to the annotated type, or raise naming `where`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        kinds = {_kind_of(arg): arg for arg in args if _kind_of(arg) is not None}
        if kinds and isinstance(value, dict):
            # a union of configs tagged by `kind` (e.g. the decoder): pick the member by its tag
            kind = value.get("kind", next(iter(kinds)))
            if kind not in kinds:
                raise ConfigError(f"{where}.kind: {kind!r} is not one of {sorted(kinds)}")
            return from_dict(kinds[kind], value, where)
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError("; ".join(errors))
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {annotation.__name__}, got {value!r}")
        return from_dict(annotation, value, where)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [item for item in value.split(",") if item]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [_convert(item, item_type, f"{where}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        try:
            number = float(value)  # accepts "2e5", as budgets are usually written
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
        if not number.is_integer():
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(number)
    if annotation is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if annotation is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if annotation is Path:
        return Path(value)
    return value


def _kind_of(cls: Any) -> str | None:
    """The default of a config dataclass's `kind` field, if it has one."""
    if not dataclasses.is_dataclass(cls):
        return None
    kind = next((f for f in dataclasses.fields(cls) if f.name == "kind"), None)
    return None if kind is None else kind.default


def from_dict(cls: type[T], data: dict[str, Any], where: str | None = None) -> T:
    """Build dataclass `cls` from a (nested) mapping; unknown keys are errors listing valid keys."""
    where = where or cls.__name__
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown}; valid keys are {sorted(fields)}"
        )
    hints = _resolved_types(cls)
    kwargs = {name: _convert(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as error:  # a __post_init__ check
        raise ConfigError(f"{where}: {error}") from None
    except TypeError as error:
        missing = [name for name, field in fields.items() if _is_required(field) and name not in kwargs]
        if not missing:  # a TypeError of the class itself (e.g. in __post_init__): report that one
            raise ConfigError(f"{where}: {error}") from error
        section = where.partition(".")[2]  # the dotted path below the top-level config
        raise MissingKeysError(where, [f"{section}.{name}" if section else name
                                       for name in missing]) from None


def _is_required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists, paths strings)."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)


def describe_changes(recorded: dict[str, Any], asked: dict[str, Any]) -> str:
    """'seed 0 -> 1, lr 0.003 -> 0.001': the settings that differ between an output's record and a rerun."""
    keys = [key for key in {**recorded, **asked} if recorded.get(key) != asked.get(key)]
    return ", ".join(f"{key} {recorded.get(key)!r} -> {asked.get(key)!r}" for key in keys)


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing .yaml or .json file")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"config file {path} is not valid JSON: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def apply_override(data: dict[str, Any], dotted_key: str, value: Any) -> None:
    """Set `data[a][b] = value` for dotted_key 'a.b', creating nested mappings as needed."""
    *parents, leaf = dotted_key.split(".")
    node = data
    for parent in parents:
        node = node.setdefault(parent, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted_key}: {parent} is not a section")
    node[leaf] = value


def load_config(cls: type[T], path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> T:
    """Build `cls` from an optional file plus dotted-key overrides (flags win over the file)."""
    data = load_file(path) if path is not None else {}
    for key, value in (overrides or {}).items():
        apply_override(data, key, value)
    return from_dict(cls, data)
