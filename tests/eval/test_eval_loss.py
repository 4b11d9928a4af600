"""eval-loss on a real tiny run with two WSD branches: rows, S, T, compute against measured FLOPs, losses
against florenz.eval.losses and a plain token mean, content-hash skipping, and bad input."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from florenz.cli import main
from florenz.config import to_dict
from florenz.data.collate import IGNORE_INDEX, collate
from florenz.errors import FlorenzError
from florenz.eval.config import EvalLossConfig
from florenz.eval.eval_loss import EVAL_LOSS_FILE, encode_sets, eval_loss, read_train_config
from florenz.eval.losses import split_losses
from florenz.model.accounting import apply_freezing, count_parameters
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size
from florenz.train.build import build_steps
from florenz.train.config import LoaderConfig, OptimConfig, TrainConfig
from florenz.train.loop import train
from florenz.train.loss import token_loss_sum

SET_SAMPLES = 3  # per test set: the tiny world has 4


@pytest.fixture(scope="module")
def run(tiny_world, tmp_path_factory):
    """A world-xxs WSD run of 80 samples with cool-down branches at 48 and 64, started from a starting
    point whose starting_point.json records T."""
    root = tmp_path_factory.mktemp("eval_loss")
    torch.manual_seed(0)
    start = root / "start"
    FlorenzModel(get_size("world-xxs")).save_pretrained(start)
    (start / "starting_point.json").write_text(json.dumps({"T": 5.25, "losses": {}}))
    config = TrainConfig(data=str(tiny_world), out=str(root / "run"), init=str(start), samples=80,
                         budgets=(48, 64), batch_size=8, precision="fp32", save_every=0,
                         optim=OptimConfig(lr=5e-3, warmup_steps=1, schedule="wsd", cooldown_fraction=0.5),
                         loader=LoaderConfig(max_prompt_tokens=48, max_target_tokens=32))
    train(config)
    rows = eval_loss(EvalLossConfig(run=config.out, max_samples_per_set=SET_SAMPLES, length_samples=16))
    return root / "run", rows


def test_one_row_per_checkpoint_with_its_seen_samples_and_the_starting_points_t(run):
    run_dir, rows = run
    assert [(row["checkpoint"], row["S"]) for row in rows] == [("budget-48", 48), ("budget-64", 64),
                                                                (".", 80)]
    assert all(row["T"] == 5.25 and row["run"] == "run" and row["size"] == "world-xxs" for row in rows)
    written = [json.loads(line) for line in (run_dir / EVAL_LOSS_FILE).read_text().splitlines()]
    assert written == rows


def test_compute_is_s_times_measured_length_flops_times_backward_factor(run):
    """F at the mean lengths agrees within 5% with torch's FLOP counter run on the same samples one by one
    (unpadded); C = S·F·(1 + Pt/P) with P and Pt counted on the frozen model."""
    run_dir, rows = run
    model = FlorenzModel.from_pretrained(run_dir).eval()
    apply_freezing(model)
    total, trainable = count_parameters(model)
    train_config = read_train_config(run_dir)
    steps = build_steps(dataclasses.replace(train_config, loader=dataclasses.replace(
        train_config.loader, prefetch_steps=0)), model.config, None, 8, 0, 1)
    batches = [next(steps).micro_batches[0] for _ in range(2)]  # the 16 samples eval-loss measured
    steps.close()
    cpu_attention = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
                     lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v)}
    measured = []
    for batch in batches:
        for i in range(len(batch["labels"])):
            prompt = int(batch["attention_mask"][i].sum())
            target = int((batch["labels"][i] != IGNORE_INDEX).sum())
            with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=cpu_attention) as counter:
                model(batch["pixel_values"][i:i + 1], batch["input_ids"][i:i + 1, :prompt],
                      batch["attention_mask"][i:i + 1, :prompt], batch["decoder_input_ids"][i:i + 1, :target])
            measured.append(counter.get_total_flops())
    for row in rows:
        assert row["lengths"]["samples"] == 16
        assert row["F"] == pytest.approx(sum(measured) / len(measured), rel=0.05)
        assert (row["P"], row["Pt"]) == (total, trainable)
        assert row["C"] == pytest.approx(row["S"] * row["F"] * (1 + trainable / total), rel=1e-12)
        assert row["C_ref_gmac"] == pytest.approx(row["S"] * row["F_ref_gmac"] * (1 + trainable / total))
        assert row["F_ref_gmac"] > row["F"] / 2e9  # 128/128 tokens are longer than the world's sentences


def test_losses_equal_split_losses_and_token_mean_is_the_plain_token_average(run, tiny_world):
    run_dir, rows = run
    model = FlorenzModel.from_pretrained(run_dir / "budget-48").eval()
    expected = split_losses(model, tiny_world, max_samples_per_set=SET_SAMPLES)
    row = rows[0]
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-5), name
    assert {"uc", "st", "sc", "mean", "uc/fr", "sc/en"} <= set(row)
    # the global token mean of UC, from one padded batch of all its samples and the trainer's token loss
    sets = encode_sets(tiny_world, model.config, EvalLossConfig(run=str(run_dir),
                                                                max_samples_per_set=SET_SAMPLES))
    samples = [sample for name, members in sets.items() if name.startswith("uc/") for sample in members]
    batch = collate(samples, model.config.encoder.pad_token_id, model.config.decoder_start_token_id,
                    model.config.pad_token_id)
    with torch.no_grad():
        logits = model(batch["pixel_values"], batch["input_ids"], batch["attention_mask"],
                       batch["decoder_input_ids"])
    loss_sum, tokens = token_loss_sum(logits, batch["labels"])
    assert row["token_mean"]["uc"] == pytest.approx(float(loss_sum / tokens), rel=1e-5)


def test_a_rerun_skips_current_rows_and_redoes_a_changed_checkpoint(run, capsys):
    run_dir, rows = run
    config = EvalLossConfig(run=str(run_dir), max_samples_per_set=SET_SAMPLES, length_samples=16)
    assert eval_loss(config) == rows
    assert "have current rows" in capsys.readouterr().out
    weights_path = run_dir / "budget-64" / "model.safetensors"
    original = weights_path.read_bytes()
    try:
        tensors = load_file(weights_path)
        name = next(key for key in tensors if key.startswith("decoder.") and tensors[key].dim() == 2)
        tensors[name] = tensors[name] * 1.5
        save_file(tensors, weights_path, metadata={"format": "pt"})
        again = eval_loss(config)
        assert "1 checkpoint(s)" in capsys.readouterr().out
        assert again[0] == rows[0] and again[2] == rows[2]
        assert again[1]["checkpoint_sha256"] != rows[1]["checkpoint_sha256"]
        assert again[1]["uc"] != rows[1]["uc"]
    finally:
        weights_path.write_bytes(original)
        eval_loss(config)


def test_the_same_world_spelled_relative_keeps_the_rows_current(run, tiny_world, capsys, monkeypatch):
    """A study resumed with its directory spelled otherwise names the same world another way: no rerun."""
    run_dir, rows = run
    monkeypatch.chdir(tiny_world.parent)
    config = EvalLossConfig(run=str(run_dir), world=tiny_world.name, max_samples_per_set=SET_SAMPLES,
                            length_samples=16)
    assert eval_loss(config) == rows
    assert "have current rows" in capsys.readouterr().out


def test_bad_runs_are_named_errors(tmp_path, tiny_world, capsys):
    with pytest.raises(FlorenzError, match="not a run directory"):
        eval_loss(EvalLossConfig(run=str(tmp_path)))
    assert main(["eval-loss", str(tmp_path / "missing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    config = TrainConfig(data=str(tiny_world), out=str(unfinished), samples=16, batch_size=8)
    (unfinished / "train_config.json").write_text(json.dumps(to_dict(config)))
    with pytest.raises(FlorenzError, match="no finished checkpoint"):
        eval_loss(EvalLossConfig(run=str(unfinished)))
