import json
from dataclasses import dataclass
from typing import Literal

import pytest

from florenz.config import ConfigError, MissingKeysError, from_dict, load_config, option, to_dict


@dataclass
class Inner:
    kind: Literal["a"] = option("a", "tag")
    width: int = option(8, "width")


@dataclass
class OtherInner:
    kind: Literal["b"] = option("b", "tag")
    depth: int = option(2, "depth")


@dataclass
class Outer:
    name: str = option("x", "name")
    samples: int = option(100, "budget")
    rate: float = option(0.5, "rate")
    flag: bool = option(False, "flag")
    dims: tuple[int, ...] = option((1, 2), "dims")
    part: Inner | OtherInner = option(Inner(), "tagged union")
    cap: float | None = option(None, "optional")


def test_unknown_key_error_lists_valid_keys():
    with pytest.raises(ConfigError) as error:
        from_dict(Outer, {"sampels": 3})
    assert "sampels" in str(error.value) and "samples" in str(error.value)


def test_nested_unknown_key_names_the_section():
    with pytest.raises(ConfigError, match=r"Outer\.part.*'widht'"):
        from_dict(Outer, {"part": {"widht": 3}})


def test_values_are_converted_from_strings_as_flags_give_them():
    flags = {"samples": "2e5", "rate": "0.25", "flag": "true", "dims": "4,5,6", "cap": "30"}
    config = from_dict(Outer, flags)
    assert config.samples == 200000
    assert config.rate == 0.25
    assert config.flag is True
    assert config.dims == (4, 5, 6)
    assert config.cap == 30.0


def test_non_integer_budget_is_rejected():
    with pytest.raises(ConfigError, match="samples"):
        from_dict(Outer, {"samples": "1.5"})


def test_tagged_union_picks_member_by_kind():
    assert from_dict(Outer, {"part": {"kind": "b", "depth": 5}}).part == OtherInner(depth=5)
    assert from_dict(Outer, {"part": {"width": 3}}).part == Inner(width=3)
    with pytest.raises(ConfigError, match="'c'"):
        from_dict(Outer, {"part": {"kind": "c"}})


def test_defaults_are_not_shared_between_instances():
    first, second = Outer(), Outer()
    first.part.width = 99
    assert second.part.width == 8


@dataclass
class Deep:
    kind: Literal["deep"] = option("deep", "tag")
    inner: Inner = option(Inner(), "a config nested in a config")
    sizes: list[int] = option([1, 2], "a list")


@dataclass
class Deeper:
    deep: Deep = option(Deep(), "a default holding a nested config and a list")
    table: dict[str, list[int]] = option({"a": [1]}, "a mapping of lists")


def test_nested_defaults_are_not_shared_between_instances():
    first, second = Deeper(), Deeper()
    first.deep.inner.width = 99
    first.deep.sizes.append(3)
    first.table["a"].append(2)
    assert second == Deeper(deep=Deep(inner=Inner(width=8), sizes=[1, 2]), table={"a": [1]})


@dataclass
class Needs:
    target: str = option(help="required")
    part: Inner = option(Inner(), "nested")


@dataclass
class NeedsNested:
    needs: Needs = option(Needs("x"), "a section with a required key")


@dataclass
class BrokenCheck:
    count: int = option(1, "a value whose check itself raises TypeError")

    def __post_init__(self) -> None:
        if self.count > "3":  # a TypeError that has nothing to do with missing keys
            pass


def test_missing_required_keys_are_reported_with_their_dotted_path():
    with pytest.raises(MissingKeysError, match=r"missing required key\(s\) \['target'\]") as error:
        from_dict(Needs, {})
    assert error.value.keys == ["target"]
    with pytest.raises(MissingKeysError) as error:
        from_dict(NeedsNested, {"needs": {"part": {"width": 2}}})
    assert error.value.keys == ["needs.target"]


def test_a_type_error_with_no_key_missing_is_reported_as_itself():
    with pytest.raises(ConfigError, match="'>' not supported") as error:
        from_dict(BrokenCheck, {"count": 2})
    assert "missing" not in str(error.value)


def test_file_then_overrides_round_trip(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "file", "part": {"kind": "b", "depth": 3}}))
    config = load_config(Outer, path, {"part.depth": "7", "samples": 5})
    assert (config.name, config.part.depth, config.samples) == ("file", 7, 5)
    assert from_dict(Outer, to_dict(config)) == config


def test_yaml_file_and_missing_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: y\nrate: 2\n")
    assert load_config(Outer, path).rate == 2.0
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, tmp_path / "missing.yaml")
