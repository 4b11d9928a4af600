import argparse
import subprocess
import sys
from dataclasses import dataclass

import pytest

import florenz.cli as cli
from florenz.cli import VERBS, Verb, build_parser, main
from florenz.config import option


def verb_parsers(parser: argparse.ArgumentParser,
                 words: tuple[str, ...] = ()) -> dict[str, argparse.ArgumentParser]:
    """Every leaf sub-command of the real parser tree, by its words ("world build")."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word, sub in action.choices.items():
                found |= verb_parsers(sub, (*words, word))
    return found or {" ".join(words): parser}


def test_the_parser_has_exactly_the_listed_verbs():
    parsers = verb_parsers(build_parser())
    assert sorted(parsers) == sorted(verb.name for verb in VERBS)
    for verb in VERBS:  # each leaf runs its own verb
        assert parsers[verb.name].get_default(f"{cli._INTERNAL}verb") is verb


def test_every_option_of_every_verb_shows_its_default(capsys):
    for verb in VERBS:
        try:
            main([*verb.name.split(), "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0
        out = capsys.readouterr().out
        assert "--config" in out
        options = [" ".join(block.split()) for block in out.split("\n  --")[1:]]
        for text in options:
            if not text.startswith(("config", "help")):
                assert "default:" in text or "required" in text, f"florenz {verb.name}: --{text}"


def test_console_script_runs_help():
    result = subprocess.run([sys.executable, "-m", "florenz.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "VERB" in result.stdout


def test_bad_config_key_is_a_clean_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"sampels": 5}')
    code = main(["world", "build", "--config", str(bad), "--out", str(tmp_path / "w")])
    assert code == 2
    err = capsys.readouterr().err
    assert "sampels" in err and "valid keys" in err
    assert not (tmp_path / "w").exists()


@dataclass
class VerboseConfig:
    target: str = option(help="a required key")
    verbose: bool = option(False, "a flag whose name starts with 'verb'")
    verbosity: int = option(0, "another one")


def record(config: VerboseConfig) -> int:
    record.seen = config
    return 0


@pytest.fixture
def verbose_verb(monkeypatch):
    verb = Verb("tool run", f"{__name__}:VerboseConfig", f"{__name__}:record", "a test verb")
    monkeypatch.setattr(cli, "VERBS", [*VERBS, verb])
    return verb


def test_flags_whose_names_start_with_verb_reach_the_config(verbose_verb):
    assert main(["tool", "run", "--target", "x", "--verbose", "--verbosity", "3"]) == 0
    assert record.seen == VerboseConfig(target="x", verbose=True, verbosity=3)


def test_a_missing_required_key_is_named_as_its_flag(verbose_verb, capsys, tmp_path):
    assert main(["tool", "run", "--verbose"]) == 2
    err = capsys.readouterr().err
    assert "--target" in err and "['target']" not in err
    file = tmp_path / "c.json"
    file.write_text('{"target": "from the file"}')
    assert main(["tool", "run", "--config", str(file)]) == 0
    assert record.seen.target == "from the file"
