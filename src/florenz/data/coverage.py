"""Coverage: which (task, language) pairs the training data holds; everything else is held out.

A spec is written `"caption:en,de;translation:de,fr,es,ru,zh"` (translation is always from English), or
given as a YAML/JSON file `{caption: [en, de], translation: [de, fr, es, ru, zh]}`. The name `paper` stands
for the paper's coverage: captions in En and De, translation En -> {De, Fr, Es, Ru, Zh} (reference §4.3).
A pair's key "task-lang" (e.g. "caption-en", "translation-fr") names a training category.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from florenz.config import ConfigError
from florenz.world.languages import LANGUAGES

TASKS = ("caption", "translation")
PAPER_COVERAGE_TEXT = "caption:en,de;translation:de,fr,es,ru,zh"


@dataclass(frozen=True)
class CoverageSpec:
    pairs: frozenset[tuple[str, str]]  # (task, target language)

    def languages(self, task: str) -> tuple[str, ...]:
        """The languages covered for `task`, in LANGUAGES order."""
        return tuple(lang for lang in LANGUAGES if (task, lang) in self.pairs)

    def keys(self) -> tuple[str, ...]:
        """The training categories "task-lang", in TASKS then LANGUAGES order."""
        return tuple(f"{task}-{lang}" for task in TASKS for lang in self.languages(task))

    def __str__(self) -> str:
        """The canonical spec text, which parses back to the same spec."""
        return ";".join(f"{task}:{','.join(self.languages(task))}" for task in TASKS if self.languages(task))


def _check_pair(task: str, lang: str, where: str) -> tuple[str, str]:
    if task not in TASKS:
        raise ConfigError(f"{where}: unknown task {task!r}; choose from {', '.join(TASKS)}")
    if lang not in LANGUAGES:
        raise ConfigError(f"{where}: unknown language {lang!r} for {task}; "
                          f"choose from {', '.join(LANGUAGES)}")
    if task == "translation" and lang == "en":
        raise ConfigError(f"{where}: translation:en is not a pair (translation is from English); remove 'en'")
    return task, lang


def _from_mapping(mapping: object, where: str) -> CoverageSpec:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping like {{caption: [en, de]}}, "
                          f"got {type(mapping).__name__}")
    pairs = set()
    for task, langs in mapping.items():
        if isinstance(langs, str):
            langs = [lang for lang in langs.split(",") if lang.strip()]
        if not isinstance(langs, list) or not langs:
            raise ConfigError(f"{where}: {task!r} needs a non-empty list of languages, got {langs!r}")
        pairs.update(_check_pair(str(task).strip(), str(lang).strip(), where) for lang in langs)
    if not pairs:
        raise ConfigError(f"{where}: the coverage is empty; name at least one task:language pair")
    return CoverageSpec(frozenset(pairs))


def _parse_text(text: str) -> dict[str, list[str]]:
    mapping: dict[str, list[str]] = {}
    for part in filter(None, (part.strip() for part in text.split(";"))):
        task, colon, langs = part.partition(":")
        if not colon:
            raise ConfigError(f"coverage {text!r}: {part!r} is not 'task:lang,lang'; "
                              f"write e.g. '{PAPER_COVERAGE_TEXT}'")
        mapping.setdefault(task.strip(), []).extend(lang.strip() for lang in langs.split(",") if lang.strip())
    return mapping


def parse_coverage(text_or_path: str | Path) -> CoverageSpec:
    """A CoverageSpec from spec text, the name `paper`, or a YAML/JSON file; ConfigError names a bad item."""
    text = str(text_or_path).strip()
    if text == "paper":
        text = PAPER_COVERAGE_TEXT
    path = Path(text)
    if path.suffix in (".json", ".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"coverage file {path} does not exist; pass an existing file or a spec like "
                              f"'{PAPER_COVERAGE_TEXT}'")
        if path.suffix == ".json":
            try:
                mapping = json.loads(path.read_text())
            except json.JSONDecodeError as error:
                raise ConfigError(f"coverage file {path} is not valid JSON: {error}") from None
        else:
            import yaml

            try:
                mapping = yaml.safe_load(path.read_text())
            except yaml.YAMLError as error:
                raise ConfigError(f"coverage file {path} is not valid YAML: {error}") from None
        return _from_mapping(mapping, f"coverage file {path}")
    return _from_mapping(_parse_text(text), f"coverage {text!r}")


DEFAULT_COVERAGE = parse_coverage(PAPER_COVERAGE_TEXT)
