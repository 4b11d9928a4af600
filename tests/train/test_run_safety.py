"""Issue #13's trainer points: nothing lost, nothing silently wrong, errors that say what works."""

import dataclasses
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from florenz.config import ConfigError
from florenz.data.shards import ShardSample, read_shard, write_shard
from florenz.errors import FlorenzError
from florenz.files import lock_path, owned_directory
from florenz.train.loop import train
from florenz.train.metrics import read_metrics
from tests.train.test_loop import make_config


def small(data, out, **overrides):
    return make_config(data, out, **{"steps": 4, "batch_size": 4, "optim": {"warmup_steps": 0}, **overrides})


@pytest.fixture
def world(tiny_world, tmp_path):
    """A copy of the tiny world that a test may damage or rebuild."""
    copy = tmp_path / "world"
    shutil.copytree(tiny_world, copy)
    return copy


def test_a_second_train_on_the_same_out_is_refused_naming_the_owner(tiny_world, tmp_path):
    out = tmp_path / "run"
    with owned_directory(out, "train"):  # another process's run, as the lock file sees it
        with pytest.raises(FlorenzError, match=r"in use by `florenz train` \(pid \d+"):
            train(small(tiny_world, out))
    assert not out.exists() and not lock_path(out).exists()


def test_bad_inputs_are_refused_before_anything_is_written(tiny_world, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="unknown model size 'world-zz'"):
        train(small(tiny_world, out, size="world-zz"))
    with pytest.raises(FlorenzError, match=r"--data .*nowhere does not exist; build a world there"):
        train(small(tmp_path / "nowhere", out))
    assert not out.exists()
    train(small(tiny_world, out, steps=1))  # the corrected command is accepted


def test_size_with_init_is_refused_unless_it_is_the_checkpoints_own(tiny_world, tmp_path):
    train(small(tiny_world, tmp_path / "base", steps=1))
    with pytest.raises(ConfigError, match="--size world-xs contradicts --init .* size world-xxs"):
        train(small(tiny_world, tmp_path / "ft", init=str(tmp_path / "base"), size="world-xs"))
    train(small(tiny_world, tmp_path / "ft", init=str(tmp_path / "base"), size="", steps=1))
    assert json.loads((tmp_path / "ft" / "train_config.json").read_text())["size"] == "world-xxs"


def test_a_resume_on_a_rebuilt_world_and_an_init_of_another_tokenizer_are_refused(world, tmp_path):
    config = small(world, tmp_path / "run", save_every=2)

    def stop(row):
        if row["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, stop)
    train(small(world, tmp_path / "done", steps=1))
    tokenizer = world / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text().replace('"<unk>"', '"<unknown>"'))  # "rebuilt" world
    with pytest.raises(FlorenzError, match=r"trained on other data .*tokenizer sha256 .*start a new --out"):
        train(config)
    with pytest.raises(FlorenzError, match="--init .*done was trained with another tokenizer"):
        train(small(world, tmp_path / "ft", init=str(tmp_path / "done")))


def test_a_cut_shard_is_named_at_start(world, tmp_path):
    shard = world / "train" / "000001.tar"
    write_shard(shard, list(read_shard(shard))[:27])
    with pytest.raises(FlorenzError, match="train/000001.tar holds 27 of its 32 samples"):
        train(small(world, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_resume_with_changes_lowers_the_learning_rate_and_records_it(tiny_world, tmp_path):
    constant = {"warmup_steps": 0, "schedule": "constant"}
    config = small(tiny_world, tmp_path / "run", save_every=2, optim=constant)

    def stop(row):
        if row["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, stop)
    lower = small(tiny_world, tmp_path / "run", save_every=2, optim={**constant, "lr": 5e-4})
    with pytest.raises(ConfigError, match=r"optim.lr differ\); rerun with --resume-with-changes"):
        train(lower)
    with pytest.raises(ConfigError, match="batch_size cannot change within a run"):
        train(small(tiny_world, tmp_path / "run", save_every=2, batch_size=8, resume_with_changes=True,
                    optim=constant))
    result = train(dataclasses.replace(lower, resume_with_changes=True))
    assert result.resumed_from_step == 2
    assert [row["lr"] for row in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [5e-3, 5e-3, 5e-4, 5e-4]
    change = json.loads((tmp_path / "run" / "changes.jsonl").read_text())
    assert change["step"] == 2 and change["changed"] == {"optim.lr": [5e-3, 5e-4]}


def test_a_corrupt_newest_checkpoint_falls_back_to_the_one_before_and_leftovers_go(tiny_world, tmp_path,
                                                                                   capsys):
    out = tmp_path / "run"
    config = small(tiny_world, out, steps=6, save_every=2, keep_last=3)
    train(small(tiny_world, tmp_path / "whole", steps=6))

    def stop(row):
        if row["step"] == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, stop)
    newest = out / "checkpoints" / "step-00000004" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:1000])  # a torn write on a disk that lied about fsync
    (out / ".saving-x1").mkdir()
    (out / "checkpoints" / ".deleting-step-00000000").mkdir()
    result = train(config)
    err = capsys.readouterr().err
    assert "step-00000004 is unreadable" in err and "resuming from the one before it" in err
    assert result.resumed_from_step == 2 and ".saving-x1" in err
    assert not (out / ".saving-x1").exists() and not (out / "checkpoints").exists()
    whole, resumed = load_file(tmp_path / "whole" / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(whole[key], resumed[key]) for key in whole)  # still the uninterrupted run


def test_bad_images_stop_naming_them_or_are_skipped_and_counted(world, tmp_path, capsys):
    shard = world / "train" / "000000.tar"
    samples = list(read_shard(shard))
    samples = [ShardSample(s.key, s.image[:60] if i % 4 == 0 else s.image, s.annotations)
               for i, s in enumerate(samples)]  # 8 truncated PNGs
    write_shard(shard, samples)
    with pytest.raises(FlorenzError, match=r"shard .*000000.tar, sample \S+: the image cannot be decoded"):
        train(small(world, tmp_path / "stop", steps=24))  # same sample count: only --verify-data sees it
    from florenz.cli import main

    flags = ["train", "--data", str(world), "--out", str(tmp_path / "skip"), "--steps", "24", "--batch-size",
             "4", "--optim.warmup-steps", "0", "--precision", "fp32", "--skip-bad-samples",
             "--loader.max-target-tokens", "16", "--save-every", "0"]
    assert main(flags) == 0
    assert "8 bad samples skipped" in capsys.readouterr().out  # 24 steps of 4 = one epoch of 96 images
    assert read_metrics(tmp_path / "skip" / "metrics.jsonl")[-1]["skipped_samples"] == 8
