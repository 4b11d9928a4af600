import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)

from florenz.train import checkpoint as ckpt


def _model_and_optimizer(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    model[0].bias.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    return model, optimizer


def _steps(model, optimizer, count, seed):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(count):
        loss = model(torch.randn(5, 4, generator=generator)).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def test_optimizer_state_round_trips_through_safetensors_and_resumes_exactly(tmp_path):
    model, optimizer = _model_and_optimizer()
    _steps(model, optimizer, 3, seed=1)
    state = get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True))
    ckpt.save_optimizer_state(state, tmp_path / "optimizer.safetensors")
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    _steps(model, optimizer, 2, seed=2)  # the uninterrupted continuation

    resumed, resumed_optimizer = _model_and_optimizer(seed=9)
    resumed.load_state_dict(weights)
    loaded = ckpt.load_optimizer_state(tmp_path / "optimizer.safetensors")
    options = StateDictOptions(full_state_dict=True)
    set_optimizer_state_dict(resumed, resumed_optimizer, loaded, options=options)
    _steps(resumed, resumed_optimizer, 2, seed=2)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_optimizer_file_is_plain_safetensors_with_named_states(tmp_path):
    model, optimizer = _model_and_optimizer()
    _steps(model, optimizer, 1, seed=0)
    state = get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True))
    ckpt.save_optimizer_state(state, tmp_path / "o.safetensors")
    tensors = load_file(tmp_path / "o.safetensors")
    assert "state/0.weight/exp_avg" in tensors and "state/2.bias/exp_avg_sq" in tensors
    assert not any(key.startswith("state/0.bias/") for key in tensors)  # frozen: no state


def _write_checkpoints(run_dir, steps):
    for step in steps:
        ckpt.write_checkpoint(run_dir / "checkpoints" / ckpt.checkpoint_name(step),
                              lambda d: (d / "config.json").write_text("{}"), None, {"step": step})


def _listed_steps(run_dir):
    return [ckpt.read_trainer_state(path)["step"] for path in ckpt.list_checkpoints(run_dir)]


def test_only_complete_checkpoints_are_listed_and_pruning_keeps_the_newest(tmp_path):
    _write_checkpoints(tmp_path, (2, 4, 6))
    (tmp_path / "checkpoints" / ".tmp-step-00000008").mkdir()  # a crashed write
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000002", "step-00000004",
                                                                 "step-00000006"]
    ckpt.prune_checkpoints(tmp_path, 2)
    assert _listed_steps(tmp_path) == [4, 6]
    ckpt.prune_checkpoints(tmp_path, 0)
    assert not (tmp_path / "checkpoints").exists()


def test_rng_state_round_trips():
    torch.manual_seed(3)
    saved = ckpt.rng_state()
    expected = torch.rand(4)
    torch.manual_seed(99)
    ckpt.set_rng_state(json.loads(json.dumps(saved)))
    assert torch.equal(torch.rand(4), expected)


@pytest.mark.parametrize(("written", "keep_last"), [(2, 3), (2, 5), (3, 3), (1, 2)])
def test_pruning_never_deletes_checkpoints_when_fewer_than_keep_last_exist(tmp_path, written, keep_last):
    steps = list(range(1, written + 1))
    _write_checkpoints(tmp_path, steps)
    ckpt.prune_checkpoints(tmp_path, keep_last)
    assert _listed_steps(tmp_path) == steps


def test_a_checkpoint_being_deleted_is_never_listed_and_leftovers_are_removed(tmp_path):
    _write_checkpoints(tmp_path, (2, 4))
    half_deleted = tmp_path / "checkpoints" / "step-00000002"
    (half_deleted / "config.json").unlink()  # an rmtree killed midway, before this fix
    (tmp_path / "checkpoints" / ".deleting-step-00000001").mkdir()
    (tmp_path / "checkpoints" / ".tmp-step-00000006").mkdir()
    (tmp_path / ".saving-abc123").mkdir()
    (tmp_path / ".tmp-budget-48").mkdir()
    (tmp_path / "metrics.jsonl.tmp").write_text("{")
    (tmp_path / "metrics.jsonl").write_text("{}\n")
    assert _listed_steps(tmp_path) == [4]
    removed = {p.name for p in ckpt.remove_leftovers(tmp_path)}
    assert removed == {".deleting-step-00000001", ".tmp-step-00000006", ".saving-abc123", ".tmp-budget-48",
                       "metrics.jsonl.tmp"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "metrics.jsonl"]


def test_pruning_renames_before_deleting(tmp_path, monkeypatch):
    _write_checkpoints(tmp_path, (2, 4, 6))
    deleted = []
    monkeypatch.setattr(ckpt.shutil, "rmtree", lambda path: deleted.append(path.name))  # killed: never done
    ckpt.prune_checkpoints(tmp_path, 1)
    assert deleted == [".deleting-step-00000002", ".deleting-step-00000004"]
    assert _listed_steps(tmp_path) == [6]
