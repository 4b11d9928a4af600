"""Process groups and model wrapping (DDP, FSDP2), applied from outside the model code.

Under `torchrun` the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) says how many processes
there are; without it everything runs in one process and no wrapping happens. The backend is NCCL on CUDA
and gloo on CPU. FSDP2 (`fully_shard`) shards every layer of each `layers` list, then the root, as
torchtitan's `parallelize.py` does; DDP replicates the model. Activation checkpointing, when asked for,
recomputes the same layers in the backward pass. State dicts are taken with
`torch.distributed.checkpoint.state_dict` so checkpoints are full, name-keyed and independent of the
number of processes and of the wrapping.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)

from florenz.model.florenz import transformer_layers
from florenz.train.device import pick_device


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str) -> Distributed:
    """Join torchrun's process group if launched by torchrun; one process otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    chosen = pick_device(device)
    if world_size == 1:
        return Distributed(device=chosen)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    return Distributed(rank=rank, world_size=world_size, device=chosen)


def shutdown(distributed: Distributed) -> None:
    if distributed.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(module: nn.Module, strategy: str, distributed: Distributed) -> nn.Module:
    """DDP or FSDP2 around `module` when there are several processes; `module` itself otherwise."""
    if not distributed.enabled:
        return module
    if strategy in ("auto", "ddp"):
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [distributed.device.index] if distributed.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(distributed.device.type, (distributed.world_size,))
    for layer in transformer_layers(module):
        fully_shard(layer, mesh=mesh)
    fully_shard(module, mesh=mesh)
    return module


def apply_activation_checkpointing(module: nn.Module) -> None:
    """Keep only each layer's input and recompute its activations in the backward pass (before wrapping, as
    torchtitan applies it); the composable API adds hooks and keeps every parameter name."""
    from torch.distributed._composable import checkpoint

    for layer in transformer_layers(module):
        checkpoint(layer)


def set_gradient_sync(model: nn.Module, enabled: bool) -> None:
    """Skip the gradient all-reduce on all but the last micro-batch of a step (DDP and FSDP2)."""
    if hasattr(model, "require_backward_grad_sync"):  # DDP; its no_sync() context sets the same flag
        model.require_backward_grad_sync = enabled
    elif hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(enabled)


def all_reduce_sum(values: list[float], distributed: Distributed) -> list[float]:
    """Element-wise sum of `values` over all processes (float64)."""
    if not distributed.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=distributed.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_gather_objects(value: object, distributed: Distributed) -> list[object]:
    """[value of rank 0, value of rank 1, ...] (JSON-like values)."""
    if not distributed.enabled:
        return [value]
    gathered: list[object] = [None] * distributed.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def barrier(distributed: Distributed) -> None:
    if distributed.enabled:
        dist.barrier()


_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's state dict on CPU, gathered on rank 0 under FSDP (other ranks get {})."""
    return get_model_state_dict(model, options=_FULL)


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer state keyed by parameter names, gathered on rank 0 under FSDP."""
    return get_optimizer_state_dict(model, optimizer, options=_FULL)


def load_full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a full, name-keyed optimizer state on every rank (each rank keeps its own shard under FSDP)."""
    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))


def print0(distributed: Distributed, message: str) -> None:
    """The one way the trainer prints: to stderr, from rank 0 only."""
    if distributed.is_main:
        print(message, file=sys.stderr, flush=True)
