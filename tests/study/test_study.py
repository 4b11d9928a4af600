"""`florenz study` end to end on a tiny grid: the stages, an idempotent rerun, a SIGKILLed study restarted to
the same results, a grid too small for the scaling fits, and bad settings refused before anything runs."""

import json
import math
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from florenz.config import ConfigError
from florenz.errors import FlorenzError
from florenz.study.config import StudyConfig, resolve_grid
from florenz.study.study import collect_results, study

# 1 size x 2 budgets x 2 starts: 2 WSD runs (each with one cool-down branch), 4 checkpoints; a minute's work
TINY_GRID = {
    "sizes": ["world-xxs"],
    "budgets": [64, 128],
    "variants": ["A", "B"],
    "default_vision_samples": 2048,
    "decoder_samples": 1024,
    "batch_size": 16,
}


def study_config(out: Path, world: Path) -> StudyConfig:
    grid = out.parent / "grid.json"
    grid.write_text(json.dumps(TINY_GRID))
    return StudyConfig(out=str(out), preset="custom", grid_file=str(grid), world=str(world))


@pytest.fixture(scope="module")
def finished_study(tiny_world, tmp_path_factory) -> StudyConfig:
    config = study_config(tmp_path_factory.mktemp("finished") / "study", tiny_world)
    assert study(config) == 0
    return config


def read_rows(out: str) -> list[dict]:
    return [json.loads(line) for line in (Path(out) / "results.jsonl").read_text().splitlines()]


def file_times(out: str) -> dict[str, int]:
    """Modification times of everything the stages write (the logs aside, which every rerun appends to)."""
    root = Path(out)
    return {
        str(path.relative_to(root)): path.stat().st_mtime_ns
        for part in ("runs", "starts")
        for path in (root / part).rglob("*")
        if path.is_file()
    }


@pytest.mark.slow
def test_tiny_study_runs_end_to_end_and_a_rerun_changes_nothing(finished_study):
    out = Path(finished_study.out)
    rows = read_rows(finished_study.out)
    assert sorted((row["variant"], row["S"], row["checkpoint"]) for row in rows) == [
        ("A", 64, "budget-64"), ("A", 128, "."), ("B", 64, "budget-64"), ("B", 128, "."),
    ]
    for row in rows:
        assert all(math.isfinite(row[split]) and row[split] > 0 for split in ("uc", "st", "sc"))
        assert row["size"] == "world-xxs" and row["P"] > 0 and row["C"] > 0
    by_key = {(row["variant"], row["S"]): row for row in rows}
    for variant in ("A", "B"):  # more training lowers the unseen-captioning loss of both starts
        assert by_key[variant, 128]["uc"] < by_key[variant, 64]["uc"]
    # the English-only decoder (A) starts with the higher UC loss T: the variants are tagged the right way
    assert by_key["A", 64]["T"] > by_key["B", 64]["T"]
    for run in ("world-xxs-A", "world-xxs-B"):
        assert json.loads((out / "runs" / run / "eval" / "world.json").read_text())
    # 2 frontier points per split cannot carry a law: the study goes on and leaves the fit's reason
    assert "at least 4" in (out / "fits" / "fit_error.txt").read_text()
    assert not (out / "fits" / "fits.json").exists()
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings["wall_s"]) == set(timings["cpu_s"]) | {"world"} >= {
        "world", "vision", "starts", "train", "eval-loss", "eval", "fit",
    }
    # training happens in worker processes (each imports torch and trains: seconds of CPU) while the study
    # process waits: the workers' CPU time is counted once they have ended
    assert timings["cpu_s"]["train"] > 3 and timings["wall_s"]["train"] > 0

    before, results = file_times(finished_study.out), (out / "results.jsonl").read_bytes()
    assert study(finished_study) == 0
    assert file_times(finished_study.out) == before  # nothing retrained, re-evaluated or rewritten
    assert (out / "results.jsonl").read_bytes() == results
    assert (out / "logs" / "train-world-xxs-A.log").read_text().count("nothing to do") == 1


@pytest.mark.slow
def test_study_killed_during_training_restarts_to_the_same_results(finished_study, tiny_world, tmp_path):
    """The study process is SIGKILLed at a random moment after its first training run began its steps (its
    workers must go with it, or they would hold the runs' locks against the restart), then run again."""
    config = study_config(tmp_path / "study", tiny_world)
    # the same content-hashed starting points, so that only training and evaluation are repeated here
    shutil.copytree(Path(finished_study.out) / "starts", Path(config.out) / "starts")
    command = [sys.executable, "-m", "florenz.cli", "study", "--preset", "custom", "--grid-file",
               config.grid_file, "--world", config.world, "--out", config.out]
    delay = random.uniform(0.0, 1.5)  # 8 steps of world-xxs take about a second here
    with open(tmp_path / "killed.out", "w") as output:
        killed = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        logs = Path(config.out) / "logs"
        while not any("starting:" in log.read_text() for log in logs.glob("train-*.log")):  # steps begun
            assert killed.poll() is None, (tmp_path / "killed.out").read_text()
            assert time.monotonic() < deadline, "the study never reached its train stage"
            time.sleep(0.05)
        time.sleep(delay)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert killed.returncode == -signal.SIGKILL, f"the study ended before it was killed {delay:.2f} s in"

    assert study(config) == 0
    expected, restarted = read_rows(finished_study.out), read_rows(config.out)
    assert len(restarted) == len(expected) == 4
    for want, got in zip(expected, restarted):
        assert sorted(got) == sorted(want)
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, abs=1e-6), (key, delay)
            elif key != "checkpoint_sha256":  # equal losses to 1e-6 are the claim, not equal bytes
                assert got[key] == value, (key, delay)


def test_bad_grid_file_is_named_with_the_valid_keys(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("sizes: [world-xxs]\nbudget: [64]\n")
    with pytest.raises(ConfigError, match=f"--grid-file {grid}: .*budget.*budgets"):
        resolve_grid(StudyConfig(preset="custom", grid_file=str(grid)))
    grid.write_text("sizes: [world-xxs]\nbudgets: [64, 64]\n")
    with pytest.raises(ConfigError, match="repeat"):
        resolve_grid(StudyConfig(preset="custom", grid_file=str(grid)))
    with pytest.raises(ValueError, match="--grid-file goes with --preset custom"):
        StudyConfig(preset="quick", grid_file=str(grid))


def test_slurm_launcher_without_slurm_stops_before_any_task(tiny_world, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # python, but no sbatch
    config = replace(study_config(tmp_path / "study", tiny_world), launcher="slurm")
    with pytest.raises(FlorenzError, match="no sbatch on PATH"):
        study(config)
    assert not (tmp_path / "study" / "logs").exists() and not (tmp_path / "study" / "starts").exists()


def test_results_keep_their_start_when_the_study_is_resumed_with_its_directory_spelled_otherwise(
        tmp_path, monkeypatch):
    """Runs record their start as the first invocation spelled it (absolute); a resumed study relative."""
    start = tmp_path / "study" / "starts" / "init-world-xxs-en-0"
    run = tmp_path / "study" / "runs" / "world-xxs-A"
    run.mkdir(parents=True)
    (run / "train_config.json").write_text(json.dumps({"init": str(start)}))
    (run / "eval_loss.jsonl").write_text(json.dumps({"size": "world-xxs", "S": 1000, "uc": 2.0}) + "\n")
    monkeypatch.chdir(tmp_path)
    starts = {("world-xxs", "A"): "study/starts/init-world-xxs-en-0"}
    rows = collect_results(["study/runs/world-xxs-A"], starts)
    assert [row["variant"] for row in rows] == ["A"]
