"""torchrun with 2 gloo processes on CPU gives the run of one process with the same global batch."""

import json
import subprocess
import sys

import pytest

from florenz.config import to_dict
from florenz.train.loop import train

from .test_loop import assert_same_weights, losses, make_config, weights


def _torchrun(tiny_world, out, *flags):
    """`florenz train` under torchrun with the one-process run's config file, plus `flags`."""
    config_file = out.parent / f"{out.name}.json"
    config = make_config(tiny_world, out, steps=4, save_every=2, threads=1)
    config_file.write_text(json.dumps(to_dict(config)))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "florenz.cli", "train", "--config", str(config_file), *flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]


def _one_process(tiny_world, out):
    train(make_config(tiny_world, out, steps=4, save_every=2))


def test_ddp_on_two_processes_matches_one_process(tiny_world, tmp_path):
    _torchrun(tiny_world, tmp_path / "ddp", "--parallel", "ddp", "--micro-batch-size", "2")
    _one_process(tiny_world, tmp_path / "single")
    assert losses(tmp_path / "ddp") == pytest.approx(losses(tmp_path / "single"), rel=1e-5)
    assert_same_weights(weights(tmp_path / "ddp"), weights(tmp_path / "single"), 1e-5)


def test_fsdp_on_two_processes_matches_one_process(tiny_world, tmp_path):
    _torchrun(tiny_world, tmp_path / "fsdp", "--parallel", "fsdp")
    _one_process(tiny_world, tmp_path / "single")
    assert losses(tmp_path / "fsdp") == pytest.approx(losses(tmp_path / "single"), rel=1e-5)
    assert_same_weights(weights(tmp_path / "fsdp"), weights(tmp_path / "single"), 1e-5)
