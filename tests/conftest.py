"""Suite-wide settings: tests use tiny models, for which one thread is fastest (no thread sync)."""

import pytest
import torch

from florenz.data.world_build import build_world
from florenz.world.config import WorldConfig

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def one_thread():
    """Back to one thread after a test that set more: on a shared 2-core machine, OpenMP threads that
    spin-wait on each other's cores make tiny models 5-10x slower."""
    yield
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """A 96-image world at 32 px (the world-xxs image size) with the paper's coverage."""
    out = tmp_path_factory.mktemp("tiny_world") / "world"
    return build_world(WorldConfig(out=str(out), samples=96, image_size=32, test_samples=4,
                                   benchmark_samples=2, corpus_sentences=64, shard_size=32, workers=1))
