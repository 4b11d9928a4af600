import pytest
import torch

from florenz.data.world_build import build_world
from florenz.world.config import WorldConfig


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine, OpenMP threads that spin-wait on each other's cores
    make tiny models 5-10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """A 96-image world at 32 px (the world-xxs image size) with the paper's coverage."""
    out = tmp_path_factory.mktemp("tiny_world") / "world"
    return build_world(WorldConfig(out=str(out), samples=96, image_size=32, test_samples=4,
                                   benchmark_samples=2, corpus_sentences=64, shard_size=32, workers=1))
