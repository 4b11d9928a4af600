import importlib.util

import pytest

from florenz import files
from florenz.config import ConfigError
from florenz.errors import FlorenzError
from florenz.train.metrics import MetricsLog, read_metrics, truncate_metrics


def test_truncation_keeps_only_rows_up_to_the_resumed_step(tmp_path):
    log = MetricsLog(tmp_path)
    for step in range(1, 6):
        log.write({"step": step, "loss": 10.0 - step})
    truncate_metrics(log.path, 3)
    assert [row["step"] for row in read_metrics(log.path)] == [1, 2, 3]
    assert read_metrics(tmp_path / "absent.jsonl") == []


@pytest.mark.parametrize("sink", ["tensorboard", "wandb"])
def test_a_sink_that_is_not_installed_is_a_config_error_naming_the_package(tmp_path, sink):
    if importlib.util.find_spec(sink) is not None:
        pytest.skip(f"{sink} is installed here")
    with pytest.raises(ConfigError, match=f"pip install {sink}"):
        MetricsLog(tmp_path, sink)


def test_a_kill_while_rewriting_the_history_leaves_it_whole(tmp_path, monkeypatch):
    log = MetricsLog(tmp_path)
    for step in range(1, 6):
        log.write({"step": step, "loss": 10.0 - step})
    before = log.path.read_bytes()

    def killed(descriptor):
        raise OSError("killed")  # the process dies after writing, before the data is on disk

    monkeypatch.setattr(files.os, "fsync", killed)
    with pytest.raises(OSError, match="killed"):
        truncate_metrics(log.path, 3)
    assert log.path.read_bytes() == before


def test_a_half_written_last_line_is_dropped_with_a_warning_a_broken_middle_one_named(tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    truncate_metrics(path, 2)
    assert "half-written last line 3" in capsys.readouterr().err
    assert path.read_text() == '{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n'
    path.write_text('{"step": 1}\n{"st\n{"step": 3}\n')
    with pytest.raises(FlorenzError, match=r"metrics.jsonl, line 2, is not JSON"):
        read_metrics(path)
