import json

import pytest

from florenz.config import ConfigError
from florenz.data.coverage import DEFAULT_COVERAGE, CoverageSpec, parse_coverage

PAPER_PAIRS = {("caption", "en"), ("caption", "de"), ("translation", "de"), ("translation", "fr"),
               ("translation", "es"), ("translation", "ru"), ("translation", "zh")}


def test_default_coverage_is_the_papers():
    assert DEFAULT_COVERAGE.pairs == PAPER_PAIRS
    assert parse_coverage("paper") == DEFAULT_COVERAGE
    assert DEFAULT_COVERAGE.keys() == ("caption-en", "caption-de", "translation-de", "translation-fr",
                                       "translation-es", "translation-ru", "translation-zh")


def test_spec_text_parses_with_spaces_and_repeated_tasks():
    spec = parse_coverage(" caption: en ; translation:de,fr ;caption:zh ")
    assert spec.pairs == {("caption", "en"), ("caption", "zh"), ("translation", "de"), ("translation", "fr")}
    assert spec.languages("caption") == ("en", "zh")


def test_canonical_text_parses_back_to_the_same_spec():
    spec = parse_coverage("translation:zh,de;caption:de")
    assert str(spec) == "caption:de;translation:de,zh"
    assert parse_coverage(str(spec)) == spec


def test_json_and_yaml_files_parse(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"caption": ["en"], "translation": ["es", "ru"]}))
    (tmp_path / "c.yaml").write_text("caption: [en]\ntranslation:\n  - es\n  - ru\n")
    expected = CoverageSpec(frozenset({("caption", "en"), ("translation", "es"), ("translation", "ru")}))
    assert parse_coverage(tmp_path / "c.json") == expected
    assert parse_coverage(str(tmp_path / "c.yaml")) == expected


@pytest.mark.parametrize("text, named", [
    ("caption:en,xx", "'xx'"),
    ("captioning:en", "'captioning'"),
    ("caption en", "'caption en'"),
    ("translation:en", "translation:en"),
    ("", "empty"),
    ("caption:", "caption"),
])
def test_bad_specs_raise_config_errors_naming_the_bad_item(text, named):
    with pytest.raises(ConfigError, match=named):
        parse_coverage(text)


def test_missing_or_malformed_coverage_files_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        parse_coverage(tmp_path / "missing.yaml")
    (tmp_path / "bad.json").write_text("{caption")
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_coverage(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text('["en"]')
    with pytest.raises(ConfigError, match="mapping"):
        parse_coverage(tmp_path / "list.json")
