"""Florenz training: `florenz train` on one process or under torchrun (DDP / FSDP2), with exact resume.

Public names are imported on first use (PEP 562): the CLI imports `florenz.train.config` to build its flags
and must not pay for importing torch to print --help.
"""

from florenz.lazy import lazy_getattr

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

__getattr__ = lazy_getattr(__name__, _EXPORTS)
