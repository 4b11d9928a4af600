import subprocess
import sys

from florenz.cli import VERBS, build_parser, main


def test_help_lists_every_verb_group():
    help_text = build_parser().format_help()
    for verb in VERBS:
        assert verb.name.split()[0] in help_text


def test_every_verb_has_help_with_defaults(capsys):
    for verb in VERBS:
        try:
            main([*verb.name.split(), "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0
        out = capsys.readouterr().out
        assert "--config" in out
        assert "default" in out, f"florenz {verb.name} --help shows no defaults"


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
