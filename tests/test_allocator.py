"""keep_freed_memory: a training step stops taking fresh pages from the kernel, the user's own malloc
setting wins, and every verb and study task sets it."""

import os
import platform
import subprocess
import sys

import pytest
import torch

from florenz import cli
from florenz.allocator import USER_SETTINGS
from florenz.study import runner

# world-xxs VLM training steps on one thread; prints whether freed memory is kept and the page faults per
# step over 20 steps after 5
STEP_FAULTS = """
import resource, torch
import torch.nn.functional as F
from florenz.allocator import keep_freed_memory
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size
kept = keep_freed_memory()
torch.manual_seed(0)
torch.set_num_threads(1)
config = get_size("world-xxs")
model = FlorenzModel(config)
pixels = torch.randn(16, 3, config.image_size, config.image_size)
prompt, targets = torch.randint(4, 100, (16, 12)), torch.randint(4, 100, (16, 24))
def step():
    logits = model(pixels, prompt, torch.ones_like(prompt), targets[:, :-1])
    F.cross_entropy(logits.flatten(0, 1), targets[:, 1:].flatten()).backward()
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(kept, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def step_faults(**env: str) -> tuple[str, float]:
    clean = {key: value for key, value in os.environ.items() if key not in USER_SETTINGS}
    done = subprocess.run([sys.executable, "-c", STEP_FAULTS], env=clean | env, check=True,
                          capture_output=True, text=True)
    kept, faults = done.stdout.split()
    return kept, float(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")
def test_training_steps_reuse_freed_memory_unless_the_user_set_malloc():
    kept, faults = step_faults()
    assert kept == "True" and faults < 200  # 0-50 seen
    # an empty GLIBC_TUNABLES is the user's own (empty) choice: glibc's defaults, whose trimming the step pays
    # for in page faults (2,250-3,200 a step seen)
    kept, faults = step_faults(GLIBC_TUNABLES="")
    assert kept == "False" and faults > 1000


def test_every_verb_and_study_task_keeps_freed_memory(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("verb"))
    monkeypatch.setattr(runner, "keep_freed_memory", lambda: calls.append("task"))
    assert cli.main(["model", "list"]) == 0
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # run_task sets it; given back after the test
    threads = torch.get_num_threads()
    try:
        result, _ = runner.run_task("builtins:repr", None, 1, str(tmp_path / "task.log"), own_process=False)
        assert result == "None"
    finally:
        torch.set_num_threads(threads)
    assert calls == ["verb", "task"]
