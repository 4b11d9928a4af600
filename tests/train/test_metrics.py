import importlib.util

import pytest

from florenz.config import ConfigError
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
