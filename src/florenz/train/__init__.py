"""Florenz training: `florenz train` on one process or under torchrun (DDP / FSDP2), with exact resume.

Public names are imported on first use (PEP 562): the CLI imports `florenz.train.config` to build its flags
and must not pay for importing torch to print --help.
"""

import importlib
from typing import Any

_EXPORTS = {
    "LoaderConfig": "florenz.train.config",
    "OptimConfig": "florenz.train.config",
    "TrainConfig": "florenz.train.config",
    "TrainResult": "florenz.train.loop",
    "Trainer": "florenz.train.loop",
    "build_optimizer": "florenz.train.optim",
    "lr_factor": "florenz.train.optim",
    "micro_batch_objective": "florenz.train.loss",
    "plan_run": "florenz.train.loop",
    "token_loss_sum": "florenz.train.loss",
    "train": "florenz.train.loop",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'florenz.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
