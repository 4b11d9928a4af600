"""`florenz train`: one run, on one process or under torchrun, to a budget of seen samples.

Reads top to bottom like nanoGPT's train.py: plan the budget → open the run directory (resume or start)
→ model, freezing, wrapping, optimizer → batches → loop (forward, loss, backward, clip, step; NaN guard)
→ checkpoints → the final model in the run directory. A WSD run also branches a cool-down off its
stable phase for each extra budget and saves the cooled-down model in RUN_DIR/budget-<samples>/.

Run directory: config.json + model.safetensors (the model, HF layout), train_config.json (this run's
fully resolved TrainConfig; kept apart so that config.json stays a loadable model config),
trainer_state.json, metrics.jsonl, checkpoints/step-N/ while running.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from florenz.config import ConfigError, to_dict
from florenz.data.collate import IGNORE_INDEX
from florenz.data.loader import Step
from florenz.errors import FlorenzError
from florenz.files import (
    nothing_to_do,
    owned_directory,
    write_atomically,
    write_directory_atomically,
    write_json_atomically,
)
from florenz.train import checkpoint as ckpt
from florenz.train.build import (
    build_model,
    build_steps,
    check_data,
    check_init_tokenizer,
    resolve_size,
    set_trainable,
    tokenizer_size,
)
from florenz.train.config import TrainConfig
from florenz.train.device import auto_micro_batch_size, use_bf16
from florenz.train.distributed import (
    Distributed,
    all_gather_objects,
    all_reduce_sum,
    apply_activation_checkpointing,
    barrier,
    full_model_state,
    full_optimizer_state,
    init_distributed,
    load_full_optimizer_state,
    print0,
    set_gradient_sync,
    shutdown,
    wrap_model,
)
from florenz.train.loss import micro_batch_objective, token_loss_sum
from florenz.train.metrics import (
    METRICS_FILE,
    MetricsLog,
    Throughput,
    read_metrics,
    truncate_metrics,
    write_metrics,
)
from florenz.train.optim import build_optimizer, cooldown_steps, lr_factor, set_learning_rate

TRAIN_CONFIG = "train_config.json"
CHANGES = "changes.jsonl"  # settings changed by resumes with --resume-with-changes: step, {key: [old, new]}


@dataclass(frozen=True)
class Plan:
    """Batch geometry and step counts of a run."""

    micro_batch_size: int
    accumulation: int
    total_steps: int
    budget_steps: dict[int, int]  # extra WSD budget (samples) -> its steps


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    seen_samples: int
    final_loss: float | None  # token-mean loss of the last step; None if nothing was trained now
    resumed_from_step: int
    already_finished: bool = False
    skipped_samples: int = 0  # bad samples left out over the whole run (--skip-bad-samples)


def plan_run(config: TrainConfig, world_size: int, device: torch.device) -> Plan:
    """Check the batch split and the schedule against the budget; every failure names the flag to change."""
    batch, optim = config.batch_size, config.optim
    if batch % world_size:
        raise ConfigError(f"--batch-size {batch} is not divisible by the {world_size} processes; change one")
    per_process = batch // world_size
    micro = config.micro_batch_size or auto_micro_batch_size(per_process, config.loss_reduction, device)
    if config.micro_batch_size and per_process % micro:
        raise ConfigError(f"--micro-batch-size {micro} does not divide the {per_process} samples per "
                          f"process and step (--batch-size {batch} / {world_size} processes)")
    total = config.steps or math.ceil(config.samples / batch)
    budget_steps = {budget: math.ceil(budget / batch) for budget in sorted(config.budgets)}
    if any(steps > total for steps in budget_steps.values()):
        raise ConfigError(f"--budgets {list(config.budgets)} exceed the run's own budget of {total * batch} "
                          f"samples; raise --samples to the largest budget")
    for steps in [total, *budget_steps.values()]:
        start = steps - cooldown_steps(steps, optim) if optim.schedule == "wsd" else steps
        if optim.schedule != "constant" and optim.warmup_steps >= start:
            raise ConfigError(f"--optim.warmup-steps {optim.warmup_steps} leaves no room in a {steps}-step "
                              f"schedule; lower it or raise the budget")
    budget_steps = {budget: steps for budget, steps in budget_steps.items() if steps < total}
    return Plan(micro, math.ceil(per_process / micro), total, budget_steps)


# Settings that change how a run is carried out, not what it computes: a resume may change them.
OPERATIONAL_SETTINGS = ("out", "threads", "save_every", "keep_last", "log_every", "report_to",
                        "loader.prefetch_steps", "resume_with_changes", "verify_data",
                        "activation_checkpointing")
# Settings a resume may change with --resume-with-changes: the optimizer state and the data order stay valid.
RESUMABLE_CHANGES = ("optim.lr", "optim.grad_clip", "precision", "skip_bad_samples")
# Directory settings: the same directory spelled another way (relative or absolute, ./, ..) is no change.
PATH_SETTINGS = ("data", "init")


def _same_setting(key: str, saved: Any, current: Any) -> bool:
    if key in PATH_SETTINGS and saved and current:
        return Path(saved).resolve() == Path(current).resolve()
    return saved == current


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _check_run_dir(run_dir: Path, config: TrainConfig) -> dict[str, list[Any]]:
    """A new run may start; an existing one must have been started with the same config, except for the
    RESUMABLE_CHANGES that --resume-with-changes allows, returned as {key: [old, new]}."""
    saved_path = run_dir / TRAIN_CONFIG
    if saved_path.is_file():
        saved, current = _flat(ckpt.read_json(saved_path)), _flat(to_dict(config))
        changed = {key: [saved.get(key), current.get(key)] for key in sorted(set(saved) | set(current))
                   if key not in OPERATIONAL_SETTINGS
                   and not _same_setting(key, saved.get(key), current.get(key))}
        fixed = [key for key in changed if key not in RESUMABLE_CHANGES]
        if fixed or (changed and not config.resume_with_changes):
            fix = (f"{', '.join(fixed)} cannot change within a run: rerun with its {TRAIN_CONFIG} (--config) "
                   f"or choose a new --out" if fixed else "rerun with --resume-with-changes to continue "
                   f"from the last checkpoint with them (recorded in {CHANGES}), or choose a new --out")
            raise ConfigError(f"{run_dir} holds a run with other settings ({', '.join(changed)} differ); "
                              f"{fix}")
        return changed
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir} is not empty and holds no {TRAIN_CONFIG}: it is not a run directory; "
                          "choose a new or empty --out (nothing there was changed)")
    return {}


class DataMismatchError(FlorenzError):
    """A checkpoint of this run was trained on other data than --data now holds: refused, never skipped."""


class Trainer:
    def __init__(self, config: TrainConfig, distributed: Distributed,
                 on_step: Callable[[dict[str, Any]], None] | None = None) -> None:
        # start-up checks: nothing is written before every input has been found good
        config = dataclasses.replace(config, size=resolve_size(config))
        self.data_identity, self.data_note = check_data(config)
        check_init_tokenizer(config, self.data_identity["tokenizer_sha256"])
        self.config, self.distributed, self.on_step = config, distributed, on_step
        self.run_dir = Path(config.out)
        self.plan = plan_run(config, distributed.world_size, distributed.device)
        self.last_checkpoint: Path | None = None
        self.skipped_samples = 0

    # --- set-up -------------------------------------------------------------------------------------

    def _resume_point(self) -> tuple[Path | None, dict[str, Any] | None]:
        """Set up from the newest checkpoint that loads, warning about each one that does not; a checkpoint
        of other data is refused, never skipped."""
        for checkpoint in reversed(ckpt.list_checkpoints(self.run_dir)):
            try:
                state = ckpt.read_trainer_state(checkpoint)
                self._check_same_data(checkpoint, state)
                return checkpoint, self._setup(checkpoint, state)
            except DataMismatchError:
                raise
            except FlorenzError as error:
                print0(self.distributed, f"warning: checkpoint {checkpoint} is unreadable ({error}); "
                                         f"resuming from the one before it")
        return None, self._setup(None, None)

    def _check_same_data(self, checkpoint: Path, state: dict[str, Any]) -> None:
        recorded = state.get("data_identity")
        if recorded is None:  # written before runs recorded their data
            return
        changed = [f"{key.removesuffix('_sha256')} sha256 {str(recorded.get(key))[:12]} -> {str(value)[:12]}"
                   for key, value in self.data_identity.items() if recorded.get(key) != value]
        if changed:
            raise DataMismatchError(
                f"{self.run_dir} was trained on other data than {self.config.data} holds now "
                f"({'; '.join(changed)}; recorded in {checkpoint}): the world was rebuilt or replaced. Point "
                f"--data at the data the run started on, or start a new --out")

    def _setup(self, checkpoint: Path | None, state: dict[str, Any] | None) -> dict[str, Any] | None:
        config, distributed = self.config, self.distributed
        torch.manual_seed(config.seed)  # the same initial weights on every process
        self.model = build_model(config, checkpoint, tokenizer_size(config)).to(distributed.device)
        self.bf16 = use_bf16(config.precision, distributed.device, self.model.config)
        self.trainable = set_trainable(self.model, config)
        if config.activation_checkpointing:
            apply_activation_checkpointing(self.trainable)
        self.wrapped = wrap_model(self.trainable, config.parallel, distributed)
        self.sharded = distributed.enabled and config.parallel == "fsdp"
        self.optimizer = build_optimizer(self.trainable, config.optim)
        self.clipped = [p for p in self.trainable.parameters() if p.requires_grad]  # once, not each step
        if state is None:
            torch.manual_seed(config.seed + distributed.rank)  # dropout differs between processes
        else:
            load_full_optimizer_state(self.wrapped, self.optimizer,
                                      ckpt.load_optimizer_state(checkpoint / ckpt.OPTIMIZER_STATE))
            if distributed.rank < len(state["rng"]):
                ckpt.set_rng_state(state["rng"][distributed.rank])
            else:  # more processes than saved states: its own stream, as in a new run, not a copy of rank 0's
                torch.manual_seed(config.seed + distributed.rank)
        self.data_state = None if state is None else state["data"]
        self.skipped_samples = 0 if state is None else state.get("skipped_samples", 0)
        self.steps: Iterator[Step] = self._batches(self.data_state)
        return state

    def _batches(self, data_state: dict | None) -> Iterator[Step]:
        return build_steps(self.config, self.model.config, data_state, self.plan.micro_batch_size,
                           self.distributed.rank, self.distributed.world_size)

    # --- one optimizer step ---------------------------------------------------------------------------

    def _forward(self, batch: dict[str, torch.Tensor], positions: torch.Tensor) -> torch.Tensor:
        """The (K, V) logits of the K decoder positions where `positions` (B, T) is True."""
        # logits only where a label is: padded positions would cost the head, its soft-cap and the loss
        if self.config.mode == "lm":  # text only: the decoder without cross-attention
            return self.wrapped(batch["decoder_input_ids"], None, None, logit_positions=positions)
        return self.wrapped(pixel_values=batch["pixel_values"], input_ids=batch["input_ids"],
                            attention_mask=batch["attention_mask"],
                            decoder_input_ids=batch["decoder_input_ids"], logit_positions=positions)

    def train_step(self, step: int, total_steps: int, batches: Step) -> dict[str, float]:
        """Update `step` (0-based) of a `total_steps` schedule; no update at all if the loss is not finite."""
        config, distributed = self.config, self.distributed
        micro_batches = batches.micro_batches
        local_targets = sum(int((b["labels"] != IGNORE_INDEX).sum()) for b in micro_batches)
        local_prompts = sum(int(b["attention_mask"].sum()) for b in micro_batches if "attention_mask" in b)
        (step_targets,) = all_reduce_sum([float(local_targets)], distributed)
        lr = config.optim.lr * lr_factor(step, total_steps, config.optim)
        set_learning_rate(self.optimizer, lr)
        autocast = (torch.autocast(distributed.device.type, dtype=torch.bfloat16) if self.bf16
                    else nullcontext())
        local_loss_sum = 0.0
        for index, batch in enumerate(micro_batches):
            set_gradient_sync(self.wrapped, index == len(micro_batches) - 1)
            batch = {key: value.to(distributed.device, non_blocking=True) for key, value in batch.items()}
            positions = batch["labels"] != IGNORE_INDEX  # (B, T)
            with autocast:
                logits = self._forward(batch, positions)  # (K, V)
            loss_sum, tokens = token_loss_sum(logits, batch["labels"][positions])
            micro_batch_objective(loss_sum, tokens, config.loss_reduction, int(step_targets),
                                  len(micro_batches), distributed.world_size).backward()
            local_loss_sum += loss_sum.item()
        loss_sum, targets, prompts, skipped = all_reduce_sum(
            [local_loss_sum, local_targets, local_prompts, float(batches.skipped)], distributed)
        loss = loss_sum / targets
        grad_norm = torch.nn.utils.clip_grad_norm_(self.clipped, config.optim.grad_clip or math.inf)
        grad_norm = float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm)
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self.optimizer.zero_grad(set_to_none=True)
            last = self.last_checkpoint or "none written yet"
            raise FlorenzError(f"step {step + 1}: the loss is {loss} and the gradient norm {grad_norm}; "
                               f"training stopped before this update, and the last checkpoint ({last}) is "
                               f"intact. Resume from it with a lower learning rate or in fp32: rerun with "
                               f"--resume-with-changes --optim.lr {config.optim.lr / 10:g} (or --precision "
                               f"fp32); or check the data, or start a new --out")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens": targets + prompts,
                "skipped": int(skipped)}

    # --- saving ---------------------------------------------------------------------------------------

    def _write_model(self) -> Callable[[Path], None]:
        """A writer of the model's HF files, run on rank 0; gathers the shards first under FSDP."""
        if not self.sharded:
            return self.model.save_pretrained
        state = full_model_state(self.model)  # collective: every rank takes part

        def write(directory: Path) -> None:
            plain = type(self.model)(self.model.config)
            plain.load_state_dict(state)
            plain.save_pretrained(directory)

        return write

    def _trainer_state(self, step: int, total_steps: int, finished: bool) -> dict[str, Any]:
        return {"format": 1, "step": step, "seen_samples": step * self.config.batch_size,
                "total_steps": total_steps, "global_batch_size": self.config.batch_size,
                "schedule": self.config.optim.schedule, "finished": finished, "data": self.data_state,
                "data_identity": self.data_identity, "skipped_samples": self.skipped_samples,
                "rng": all_gather_objects(ckpt.rng_state(), self.distributed)}

    def save_checkpoint(self, step: int) -> None:
        write_model = self._write_model()
        optimizer_state = full_optimizer_state(self.wrapped, self.optimizer)
        trainer_state = self._trainer_state(step, self.plan.total_steps, finished=False)
        directory = self.run_dir / ckpt.CHECKPOINTS / ckpt.checkpoint_name(step)
        if self.distributed.is_main:
            ckpt.write_checkpoint(directory, write_model, optimizer_state, trainer_state)
            ckpt.prune_checkpoints(self.run_dir, self.config.keep_last)
        self.last_checkpoint = directory
        barrier(self.distributed)

    # --- WSD budgets ----------------------------------------------------------------------------------

    def _branch_budgets(self, step: int, log: MetricsLog | None) -> None:
        """At a budget's cool-down start, train its cool-down, save it, and come back to the stable phase."""
        for budget, budget_steps in self.plan.budget_steps.items():
            directory = self.run_dir / f"budget-{budget}"
            if budget_steps - cooldown_steps(budget_steps, self.config.optim) != step or directory.exists():
                continue
            snapshot = ({k: v.detach().clone() for k, v in self.model.state_dict().items()},
                        copy.deepcopy(self.optimizer.state_dict()), ckpt.rng_state(), self.data_state)
            self.steps.close()
            self.steps = self._batches(self.data_state)
            rows = read_metrics(log.path) if log is not None else []
            for branch_step in range(step, budget_steps):
                batch = next(self.steps)
                result = self.train_step(branch_step, budget_steps, batch)
                self.data_state = batch.state
                done = branch_step + 1
                rows.append({"step": done, "seen_samples": done * self.config.batch_size,
                             "loss": result["loss"], "lr": result["lr"], "grad_norm": result["grad_norm"]})
            self._save_budget(directory, budget_steps, rows)
            barrier(self.distributed)
            print0(self.distributed, f"budget {budget}: cooled-down model in {directory} "
                                     f"(final loss {rows[-1]['loss']:.4f})")
            self.model.load_state_dict(snapshot[0])
            self.optimizer.load_state_dict(snapshot[1])
            ckpt.set_rng_state(snapshot[2])
            self.data_state = snapshot[3]
            self.steps.close()
            self.steps = self._batches(self.data_state)

    def _save_budget(self, directory: Path, steps: int, rows: list[dict[str, Any]]) -> None:
        """A finished run directory for one budget: model, trainer state and the budget's own metrics."""
        write_model = self._write_model()
        state = self._trainer_state(steps, steps, finished=True)
        if self.distributed.is_main:
            def write(temporary: Path) -> None:
                write_model(temporary)
                write_metrics(temporary / METRICS_FILE, rows)
                write_json_atomically(temporary / ckpt.TRAINER_STATE, state)

            write_directory_atomically(directory, write)

    # --- the run --------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        owner = owned_directory(self.run_dir, "train") if self.distributed.is_main else nullcontext()
        with owner:  # rank 0 holds the run directory for every rank
            return self._run()

    def _run(self) -> TrainResult:
        config, distributed, plan = self.config, self.distributed, self.plan
        final_state = self.run_dir / ckpt.TRAINER_STATE
        changes = _check_run_dir(self.run_dir, config)
        if final_state.is_file() and ckpt.read_json(final_state).get("finished"):
            state = ckpt.read_json(final_state)
            print0(distributed, nothing_to_do("train", self.run_dir, f"{state['step']} steps"))
            return TrainResult(self.run_dir, state["step"], state["seen_samples"], None, state["step"], True,
                               state.get("skipped_samples", 0))
        if self.data_note:
            print0(distributed, f"data: {self.data_note}")
        barrier(distributed)  # every rank has checked before rank 0 writes
        if distributed.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            leftovers = ckpt.remove_leftovers(self.run_dir)
            if leftovers:
                names = ", ".join(path.name for path in leftovers)
                print0(distributed, f"removed what an interrupted run left: {names}")
            write_json_atomically(self.run_dir / TRAIN_CONFIG, to_dict(config))
        barrier(distributed)
        checkpoint, state = self._resume_point()
        start = 0 if state is None else state["step"]
        self.last_checkpoint = checkpoint
        log = MetricsLog(self.run_dir, config.report_to) if distributed.is_main else None
        if log is not None:
            truncate_metrics(log.path, start)
            if changes:
                self._record_changes(start, changes)
        print0(distributed, f"{f'resuming at step {start}' if start else 'starting'}: {plan.total_steps} "
                            f"steps of {config.batch_size} samples ({distributed.world_size} process(es), "
                            f"{plan.accumulation} micro-batch(es) of {plan.micro_batch_size}"
                            f"{', grouped by length' if config.loss_reduction == 'token' else ''}, "
                            f"{'bf16' if self.bf16 else 'fp32'}) -> {self.run_dir}")
        throughput = Throughput()
        result: dict[str, float] = {}
        try:
            for step in range(start, plan.total_steps):
                self._branch_budgets(step, log)
                batch = next(self.steps)
                result = self.train_step(step, plan.total_steps, batch)
                self.data_state = batch.state
                self.skipped_samples += result["skipped"]
                done = step + 1
                throughput.add(config.batch_size, int(result["tokens"]))
                row = {"step": done, "seen_samples": done * config.batch_size, "loss": result["loss"],
                       "lr": result["lr"], "grad_norm": result["grad_norm"]}
                if config.skip_bad_samples:
                    row["skipped_samples"] = self.skipped_samples
                if log is not None and (done % config.log_every == 0 or done == plan.total_steps):
                    log.write({**row, **throughput.report(), "elapsed_s": throughput.elapsed})
                if self.on_step is not None and distributed.is_main:
                    self.on_step({**row, "total_steps": plan.total_steps})
                if config.save_every and done % config.save_every == 0 and done < plan.total_steps:
                    self.save_checkpoint(done)
        finally:
            self.steps.close()
        self._finish(plan.total_steps)
        return TrainResult(self.run_dir, plan.total_steps, plan.total_steps * config.batch_size,
                           result.get("loss"), start, skipped_samples=self.skipped_samples)

    def _record_changes(self, step: int, changes: dict[str, list[Any]]) -> None:
        """Append this resume's changed settings to changes.jsonl (rewritten whole, atomically)."""
        path = self.run_dir / CHANGES
        before = path.read_text(encoding="utf-8") if path.is_file() else ""
        row = {"step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "changed": changes}
        write_atomically(path, before + json.dumps(row) + "\n")
        print0(self.distributed, f"resuming at step {step} with changed settings: "
                                 + ", ".join(f"{key} {old} -> {new}" for key, (old, new) in changes.items()))

    def _finish(self, steps: int) -> None:
        """The final model into the run directory; trainer_state.json (finished) goes last, as the marker."""
        write_model = self._write_model()
        state = self._trainer_state(steps, steps, finished=True)
        if self.distributed.is_main:
            write_model(self.run_dir)
            write_json_atomically(self.run_dir / ckpt.TRAINER_STATE, state)
            ckpt.prune_checkpoints(self.run_dir, 0)
        barrier(self.distributed)


def train(config: TrainConfig, on_step: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train (or resume, or skip if finished) the run in `config.out`; `on_step` gets each step's metrics."""
    if config.threads:
        torch.set_num_threads(config.threads)
    distributed = init_distributed(config.device)
    try:
        return Trainer(config, distributed, on_step).run()
    finally:
        shutdown(distributed)
