import subprocess
import sys

from florenz.cli import VERBS, build_parser, main


def test_help_lists_every_verb_group():
    help_text = build_parser().format_help()
    for verb in VERBS:
        assert verb.name.split()[0] in help_text


def test_every_option_of_every_verb_shows_its_default(capsys):
    for verb in VERBS:
        try:
            main([*verb.name.split(), "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0
        out = capsys.readouterr().out
        assert "--config" in out
        options = [" ".join(block.split()) for block in out.split("\n  --")[1:]]
        for option in options:
            if not option.startswith(("config", "help")):
                assert "default:" in option or "required" in option, f"florenz {verb.name}: --{option}"


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
