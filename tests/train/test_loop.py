import dataclasses
import math
import shutil
from pathlib import Path

import pytest
import torch

from florenz.cli import main
from florenz.config import ConfigError
from florenz.errors import FlorenzError
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size
from florenz.train.build import build_steps
from florenz.train.config import LoaderConfig, OptimConfig, TrainConfig
from florenz.train.loop import plan_run, train
from florenz.train.metrics import read_metrics


def make_config(data, out, **overrides) -> TrainConfig:
    """A world-xxs run of a few steps of 8 samples, with short sequences to keep tests fast."""
    optim = OptimConfig(**{"lr": 5e-3, "warmup_steps": 2, **overrides.pop("optim", {})})
    loader = LoaderConfig(**{"max_prompt_tokens": 48, "max_target_tokens": 32, **overrides.pop("loader", {})})
    values = dict(data=str(data), out=str(out), size="world-xxs", steps=6, batch_size=8, precision="fp32",
                  save_every=0, log_every=1, optim=optim, loader=loader)
    return TrainConfig(**{**values, **overrides})


def losses(run_dir) -> list[float]:
    return [row["loss"] for row in read_metrics(run_dir / "metrics.jsonl")]


def weights(run_dir) -> dict[str, torch.Tensor]:
    return FlorenzModel.from_pretrained(run_dir).state_dict()


def assert_same_weights(first, second, tolerance=1e-6):
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=tolerance, atol=tolerance, msg=name)


@pytest.fixture(scope="module")
def trained_run(tiny_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "trained"
    result = train(make_config(tiny_world, out, steps=24, precision="bf16", save_every=8))
    return out, result


def test_loss_falls_clearly_in_bf16_and_the_run_directory_is_complete(trained_run):
    out, result = trained_run
    curve = losses(out)
    assert len(curve) == 24 and all(math.isfinite(loss) for loss in curve)
    assert curve[0] > math.log(2048) - 0.5  # a fresh model is near uniform over the vocabulary
    assert sum(curve[-3:]) / 3 < curve[0] - 1.5
    assert result.final_loss == pytest.approx(curve[-1])
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "train_config.json", "trainer_state.json",
            "metrics.jsonl"} <= names and "checkpoints" not in names
    row = read_metrics(out / "metrics.jsonl")[-1]
    assert {"step", "seen_samples", "loss", "lr", "grad_norm", "samples_per_s", "tokens_per_s"} <= set(row)
    assert row["seen_samples"] == 24 * 8


def test_a_finished_run_is_not_trained_again(trained_run, tiny_world):
    out, _ = trained_run
    modified = (out / "model.safetensors").stat().st_mtime_ns
    again = train(make_config(tiny_world, out, steps=24, precision="bf16", save_every=8))
    assert again.already_finished and (out / "model.safetensors").stat().st_mtime_ns == modified


def test_a_resumed_run_reproduces_the_uninterrupted_loss_curve(tiny_world, tmp_path):
    train(make_config(tiny_world, tmp_path / "whole", steps=8))

    def interrupt(row):
        if row["step"] == 7:
            raise KeyboardInterrupt

    config = make_config(tiny_world, tmp_path / "split", steps=8, save_every=3)
    with pytest.raises(KeyboardInterrupt):
        train(config, interrupt)
    kept = sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir())
    assert kept == ["step-00000003", "step-00000006"]
    resumed = train(config)
    assert resumed.resumed_from_step == 6
    assert losses(tmp_path / "split") == pytest.approx(losses(tmp_path / "whole"), rel=1e-6)
    assert_same_weights(weights(tmp_path / "split"), weights(tmp_path / "whole"))


def test_a_non_finite_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(tiny_world, tmp_path):
    def poison(row):
        if row["step"] == 3:  # corrupt a weight after update 3; update 4's loss is NaN
            for parameter in trainer_model_parameters:
                parameter.data.fill_(float("nan"))

    trainer_model_parameters = []
    original = FlorenzModel.__init__

    def capture(self, config):
        original(self, config)
        trainer_model_parameters.append(self.encoder.embed_tokens.weight)

    config = make_config(tiny_world, tmp_path / "run", steps=8, save_every=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FlorenzModel, "__init__", capture)
        with pytest.raises(FlorenzError, match=r"step 4: the loss is nan.*step-00000002"):
            train(config, poison)
    kept = tmp_path / "run" / "checkpoints" / "step-00000002"
    assert all(torch.isfinite(t).all() for t in FlorenzModel.from_pretrained(kept).state_dict().values())
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_gradient_accumulation_gives_the_same_run_as_one_big_batch(tiny_world, tmp_path):
    train(make_config(tiny_world, tmp_path / "big", steps=3))
    train(make_config(tiny_world, tmp_path / "accumulated", steps=3, micro_batch_size=2))
    assert losses(tmp_path / "accumulated") == pytest.approx(losses(tmp_path / "big"), rel=1e-5)
    assert_same_weights(weights(tmp_path / "accumulated"), weights(tmp_path / "big"), 1e-5)


def test_length_grouped_micro_batches_give_the_run_of_one_unsorted_batch_with_less_padding(tiny_world,
                                                                                           tmp_path):
    settings = dict(steps=4, batch_size=16, loader={"pad_to_multiple": 4, "max_prompt_tokens": 128,
                                                    "max_target_tokens": 128})
    grouped = make_config(tiny_world, tmp_path / "grouped", **settings)  # auto: 2 sorted halves of 8
    # reference: one micro-batch per step in stream order, whose micro-batch mean is the token mean
    reference = make_config(tiny_world, tmp_path / "reference", loss_reduction="micro-batch", **settings)
    assert plan_run(grouped, 1, torch.device("cpu")).accumulation == 2
    assert plan_run(reference, 1, torch.device("cpu")).accumulation == 1
    padded = {}
    for name, config in (("grouped", grouped), ("reference", reference)):
        steps = build_steps(config, get_size("world-xxs"), None, plan_run(config, 1, torch.device("cpu"))
                            .micro_batch_size, 0, 1)
        batches = [batch for _ in range(4) for batch in next(steps).micro_batches]
        padded[name] = sum(batch["labels"].numel() + batch["input_ids"].numel() for batch in batches)
        steps.close()
    assert padded["grouped"] < 0.8 * padded["reference"]
    train(grouped)
    train(reference)
    assert losses(tmp_path / "grouped") == pytest.approx(losses(tmp_path / "reference"), rel=1e-5)
    assert_same_weights(weights(tmp_path / "grouped"), weights(tmp_path / "reference"), 1e-5)


def test_lm_mode_trains_the_decoder_only_and_its_loss_falls(tiny_world, tmp_path):
    train(make_config(tiny_world, tmp_path / "lm", mode="lm", langs="de,fr", steps=12))
    curve = losses(tmp_path / "lm")
    assert sum(curve[-3:]) / 3 < curve[0] - 1.0
    torch.manual_seed(44595)  # the trainer's seed: the same initial weights
    initial = FlorenzModel(get_size("world-xxs")).state_dict()
    trained = weights(tmp_path / "lm")
    for name, tensor in trained.items():
        unchanged = torch.equal(tensor, initial[name])
        if not name.startswith("decoder.") or "encoder_attn" in name:
            assert unchanged, f"{name} changed in LM pre-training"
    assert not torch.equal(trained["decoder.embed_tokens.weight"], initial["decoder.embed_tokens.weight"])


def test_fine_tuning_starts_from_init_with_another_image_size_and_mixture(trained_run, tiny_world, tmp_path):
    init_dir, _ = trained_run
    config = make_config(tiny_world, tmp_path / "ft", init=str(init_dir), image_size=48, steps=2,
                         optim={"warmup_steps": 0},
                         loader={"coverage": "caption:en", "balance": "caption-en=1"})
    train(config)
    fresh = losses(tmp_path / "ft")[0]
    train(dataclasses.replace(config, init="", out=str(tmp_path / "fresh")))
    assert fresh < losses(tmp_path / "fresh")[0] - 1.0  # the trained weights were loaded
    assert FlorenzModel.from_pretrained(tmp_path / "ft").config.image_size == 48


def test_wsd_budget_branches_equal_separate_runs_and_leave_the_main_run_unchanged(tiny_world, tmp_path):
    wsd = {"schedule": "wsd", "cooldown_fraction": 0.5, "warmup_steps": 1}
    main_run = make_config(tiny_world, tmp_path / "main", steps=0, samples=80, budgets=(48,), optim=wsd)
    train(main_run)
    train(make_config(tiny_world, tmp_path / "only48", steps=0, samples=48, optim=wsd))
    train(make_config(tiny_world, tmp_path / "plain", steps=0, samples=80, optim=wsd))
    budget = tmp_path / "main" / "budget-48"
    assert losses(budget) == pytest.approx(losses(tmp_path / "only48"), rel=1e-5)
    assert_same_weights(weights(budget), weights(tmp_path / "only48"), 1e-5)
    assert losses(tmp_path / "main") == pytest.approx(losses(tmp_path / "plain"), rel=1e-5)
    assert_same_weights(weights(tmp_path / "main"), weights(tmp_path / "plain"), 1e-5)


def test_bad_settings_are_config_errors_that_name_the_flag(tiny_world, tmp_path, capsys):
    with pytest.raises(SystemExit):  # argparse rejects an unknown flag
        main(["train", "--data", str(tiny_world), "--out", str(tmp_path / "r"), "--optim.lrate", "1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lrate: 1\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "lrate" in capsys.readouterr().err
    with pytest.raises(ValueError, match="optim.schedule wsd"):
        make_config(tiny_world, tmp_path / "r", budgets=(16,))
    with pytest.raises(ConfigError, match="warmup-steps"):
        train(make_config(tiny_world, tmp_path / "r", steps=2))
    assert main(["train", "--data", str(tiny_world), "--out", str(tmp_path / "r"), "--steps", "1",
                 "--optim.warmup-steps", "0", "--loader.balance", "caption-xx=1"]) == 2
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_a_run_directory_is_never_reused_with_other_settings_or_taken_over(tiny_world, tmp_path):
    train(make_config(tiny_world, tmp_path / "run", steps=3))
    with pytest.raises(ConfigError, match="batch_size"):
        train(make_config(tiny_world, tmp_path / "run", steps=3, batch_size=16))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a run directory"):
        train(make_config(tiny_world, foreign, steps=3))
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]



def test_the_same_data_directory_spelled_relative_is_the_same_run(tiny_world, tmp_path, monkeypatch):
    """A study started with an absolute --out and resumed with a relative one (or from another working
    directory) passes its runs the same directories spelled otherwise: that is no change of settings."""
    run = tmp_path / "run"
    train(make_config(tiny_world, run, steps=3))
    monkeypatch.chdir(tiny_world.parent)
    train(make_config(Path(tiny_world.name), run, steps=3))  # finished: left alone, no settings error
    other = tmp_path / "other_world"
    shutil.copytree(tiny_world, other)
    with pytest.raises(ConfigError, match="data differ"):
        train(make_config(other, run, steps=3))


def test_the_cli_trains_then_leaves_the_finished_run_alone(tiny_world, tmp_path, capsys):
    flags = ["train", "--data", str(tiny_world), "--out", str(tmp_path / "run"), "--steps", "2",
             "--batch-size", "4", "--optim.warmup-steps", "0", "--precision", "fp32",
             "--loader.max-target-tokens", "16"]
    assert main(flags) == 0
    assert "trained 2 steps (8 samples)" in capsys.readouterr().out
    assert main(flags) == 0
    assert "is finished (2 steps)" in capsys.readouterr().err
