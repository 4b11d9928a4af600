import pytest
import torch

from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size


@pytest.fixture(scope="module")
def random_run(tmp_path_factory):
    """A world-xxs model with random weights saved as a checkpoint directory (the verbs' RUN)."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("random_run") / "model"
    FlorenzModel(get_size("world-xxs")).save_pretrained(directory)
    return directory
