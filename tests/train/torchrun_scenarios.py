"""What each of test_distributed.py's 2 torchrun processes runs: every 2-process scenario in one launch.

A torchrun start costs 10-20 s on 2 shared cores, so one launch carries out a whole plan in one process
group. `python -m torch.distributed.run ... torchrun_scenarios.py PLAN.json`, where the plan is a list of:
- {"train": CONFIG.json}: `florenz train` with that config (a new run, or a resume of a stopped one);
- {"train": CONFIG.json, "stop_before_step": N}: the same, stopped on every rank before update N
  (0-based), as a kill would stop it: whatever the run wrote before stays as it is; with "rng_out": DIR,
  each rank writes its torch RNG state at the stop to DIR/rank-<r>.json;
- {"gradients": DIR}: the gradients of the step objective (`micro_batch_objective`) under DDP and FSDP2
  for both loss reductions, written by rank 0 to DIR/<strategy>-<reduction>.safetensors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch import nn

from florenz.config import load_config
from florenz.train import checkpoint, loop
from florenz.train.config import TrainConfig
from florenz.train.distributed import all_reduce_sum, init_distributed, set_gradient_sync, wrap_model
from florenz.train.loss import micro_batch_objective, token_loss_sum

GRADIENT_STRATEGIES = ("ddp", "fsdp")
REDUCTIONS = ("token", "micro-batch")


class TinyModel(nn.Module):
    """Two layers in a `layers` list (FSDP2 shards each) and a head: logits (B, T, 5) for inputs (B, T, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
        self.head = nn.Linear(4, 5)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            inputs = torch.tanh(layer(inputs))
        return self.head(inputs)


def gradient_problem() -> tuple[dict[str, torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
    """Initial weights and 4 micro-batches of 2 sequences whose target counts all differ (2, 7, 11, 12)."""
    generator = torch.Generator().manual_seed(7)
    weights = {name: torch.randn(tensor.shape, generator=generator)
               for name, tensor in TinyModel().state_dict().items()}
    micro_batches = []
    for targets in (2, 7, 11, 12):
        inputs = torch.randn(2, 6, 4, generator=generator)
        labels = torch.randint(0, 5, (2, 6), generator=generator)
        labels.view(-1)[targets:] = -100
        micro_batches.append((inputs, labels))
    return weights, micro_batches


def write_gradients(out: Path) -> None:
    """Rank r takes micro-batches r and r + 2 of the step (2 accumulated per process), as the trainer does."""
    distributed = init_distributed("cpu")
    weights, micro_batches = gradient_problem()
    mine = micro_batches[distributed.rank::distributed.world_size]
    local_targets = sum(int((labels != -100).sum()) for _, labels in mine)
    (step_targets,) = all_reduce_sum([float(local_targets)], distributed)
    for strategy in GRADIENT_STRATEGIES:
        for reduction in REDUCTIONS:
            model = TinyModel()
            model.load_state_dict(weights)
            wrapped = wrap_model(model, strategy, distributed)
            for index, (inputs, labels) in enumerate(mine):
                set_gradient_sync(wrapped, index == len(mine) - 1)
                loss_sum, tokens = token_loss_sum(wrapped(inputs), labels)
                micro_batch_objective(loss_sum, tokens, reduction, int(step_targets), len(mine),
                                      distributed.world_size).backward()
            gradients = {name: (p.grad.full_tensor() if hasattr(p.grad, "full_tensor") else p.grad).clone()
                         for name, p in model.named_parameters()}
            if distributed.is_main:
                save_file(gradients, str(out / f"{strategy}-{reduction}.safetensors"))
            dist.barrier()


class Stopped(Exception):
    """Raised on every rank at the same update: the run stops as if killed there."""


def train_stopping_before(config: TrainConfig, step: int, rng_out: Path | None) -> None:
    original = loop.Trainer.train_step

    def train_step(trainer, index, total_steps, batches):
        if index == step:
            if rng_out is not None:
                rng_out.mkdir(exist_ok=True)
                (rng_out / f"rank-{dist.get_rank()}.json").write_text(json.dumps(checkpoint.rng_state()))
            raise Stopped
        return original(trainer, index, total_steps, batches)

    loop.Trainer.train_step = train_step
    try:
        loop.train(config)
    except Stopped:
        pass
    finally:
        loop.Trainer.train_step = original


def main(plan_path: str) -> None:
    dist.init_process_group("gloo")
    loop.shutdown = lambda distributed: None  # one process group serves every scenario of the plan
    for scenario in json.loads(Path(plan_path).read_text()):
        if "gradients" in scenario:
            write_gradients(Path(scenario["gradients"]))
            continue
        config = load_config(TrainConfig, scenario["train"])
        if "stop_before_step" in scenario:
            rng_out = Path(scenario["rng_out"]) if "rng_out" in scenario else None
            train_stopping_before(config, scenario["stop_before_step"], rng_out)
        else:
            loop.train(config)
        dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
