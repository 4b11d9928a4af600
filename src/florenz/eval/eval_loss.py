"""`florenz eval-loss RUN`: test losses and training compute of every checkpoint of a run, one row each.

A run's checkpoints are its final model (RUN/) and each WSD cool-down branch (RUN/budget-<S>/), each with a
finished trainer_state.json that gives S, the seen samples. Every row goes to RUN/eval_loss.jsonl, holding:
- run, checkpoint, size, decoder kind, P, Pt (the parameters this run really trained), S, T (the UC loss of
  the starting point the run was initialised from, read from its starting_point.json; null from scratch);
- F: forward FLOPs of one sample at the run's measured mean prompt, target and image-token lengths (from
  the first `length_samples` samples of the run's own training stream); C = S · F · (1 + Pt/P);
- F_ref_gmac, C_ref_gmac: the reference's convention beside it (GMACs at 128 prompt and 128 target tokens,
  the run's image size: 224 px for the paper's sizes), to set our numbers next to the paper's;
- the losses uc, st, sc, mean and every set (uc/fr, …) in the reference's measure (florenz.eval.losses: a
  set is the macro average of per-sample token means), and under token_mean the global token mean.
A rerun skips a checkpoint whose weights (sha256) and evaluation settings are those of its row.
"""

from __future__ import annotations

import dataclasses
import json
import time
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import torch

from florenz.config import ConfigError, from_dict
from florenz.data.collate import IGNORE_INDEX, EncodedSample, collate
from florenz.data.loader import encode_annotation
from florenz.data.shards import read_shard
from florenz.data.tokenizer import load_tokenizer
from florenz.data.world import read_world
from florenz.errors import FlorenzError
from florenz.eval.config import EvalLossConfig
from florenz.eval.losses import sample_losses, split_sets
from florenz.files import read_json, read_json_lines, sha256_of_file, write_atomically
from florenz.model.accounting import forward_flops, parameter_counts, training_compute
from florenz.model.config import ModelConfig
from florenz.train.build import build_steps
from florenz.train.config import TrainConfig
from florenz.train.device import pick_device

EVAL_LOSS_FILE = "eval_loss.jsonl"
TRAIN_CONFIG = "train_config.json"  # florenz.train.loop writes it; read here as plain JSON
TRAINER_STATE = "trainer_state.json"
STARTING_POINT = "starting_point.json"  # written by `florenz init` (florenz.pretrain, a later package)
REFERENCE_TOKENS = 128  # the reference measures F at 128 prompt and 128 target tokens (§5.3)


# --- what a run holds ---------------------------------------------------------------------------------------

def run_checkpoints(run_dir: Path) -> list[tuple[Path, int]]:
    """(directory, S) of the final model and every budget branch with a finished trainer state, by S."""
    found = []
    for directory in [run_dir, *sorted(run_dir.glob("budget-*"))]:
        state_path = directory / TRAINER_STATE
        if not (directory / "config.json").is_file() or not state_path.is_file():
            continue
        state = read_json(state_path, f"rerun `florenz train` on {run_dir} to rewrite it")
        if state.get("finished"):
            found.append((directory, int(state["seen_samples"])))
    if not found:
        raise FlorenzError(f"{run_dir} holds no finished checkpoint (no finished {TRAINER_STATE} in it or "
                           f"in a budget-<S>/ branch); finish the run with `florenz train` first")
    return sorted(found, key=lambda item: item[1])


def read_train_config(run_dir: Path) -> TrainConfig:
    path = run_dir / TRAIN_CONFIG
    if not path.is_file():
        raise FlorenzError(f"{run_dir} is not a run directory of `florenz train` (no {TRAIN_CONFIG}); name "
                           "a run directory")
    try:
        config = from_dict(TrainConfig, read_json(path, "rerun `florenz train` to rewrite it"))
    except ConfigError as error:
        raise FlorenzError(f"{path}: {error}") from None
    if config.mode != "vlm":
        raise FlorenzError(f"{run_dir} is a decoder-only (--mode {config.mode}) run: eval-loss evaluates "
                           "vision-language runs")
    return config


def weights_sha256(directory: Path) -> str:
    """One hash over the checkpoint's weight files (a single file, or an index and its shards)."""
    files = sorted(directory.glob("model*.safetensors*"))
    if not files:
        raise FlorenzError(f"{directory} holds no model*.safetensors; rerun `florenz train` to rewrite it")
    if len(files) == 1:
        return sha256_of_file(files[0])
    return json.dumps({path.name: sha256_of_file(path) for path in files})


def starting_loss(train_config: TrainConfig) -> float | None:
    """T: the UC loss of the starting point the run was initialised from; None from scratch."""
    if not train_config.init:
        return None
    path = Path(train_config.init) / STARTING_POINT
    if not path.is_file():
        print(f"eval-loss: note: --init {train_config.init} is not a starting point (no "
              f"{STARTING_POINT}); T is left out of the rows")
        return None
    fix = f"rewrite it with `florenz init --out {train_config.init} --overwrite`"
    return float(read_json(path, fix)["T"])


# --- compute ------------------------------------------------------------------------------------------------

def training_lengths(train_config: TrainConfig, model_config: ModelConfig,
                     samples: int) -> dict[str, float]:
    """Mean prompt and target tokens (unpadded) of the first `samples` samples of the run's own stream."""
    loader = dataclasses.replace(train_config.loader, prefetch_steps=0)
    config = dataclasses.replace(train_config, loader=loader)
    steps = build_steps(config, model_config, None, config.batch_size, 0, 1)
    prompt = target = count = 0
    try:
        while count < samples:
            for batch in next(steps).micro_batches:
                prompt += int(batch["attention_mask"].sum())
                target += int((batch["labels"] != IGNORE_INDEX).sum())
                count += len(batch["labels"])
    finally:
        steps.close()
    return {"prompt": prompt / count, "target": target / count,
            "image": model_config.vision.num_image_tokens(model_config.image_size), "samples": count}


def compute_columns(model_config: ModelConfig, train_config: TrainConfig, lengths: dict[str, float],
                    seen_samples: int) -> dict[str, float]:
    """P, Pt, F, C at the measured lengths, and the reference's F and C in GMACs."""
    total, trainable = parameter_counts(model_config, train_vision=train_config.train_vision)
    flops = forward_flops(model_config, model_config.image_size, lengths["prompt"], lengths["target"])
    reference_gmac = forward_flops(model_config, model_config.image_size, REFERENCE_TOKENS,
                                   REFERENCE_TOKENS) / 2 / 1e9  # fvcore counts a multiply-add once
    return {"P": total, "Pt": trainable, "S": seen_samples, "F": flops,
            "C": training_compute(seen_samples, flops, total, trainable),
            "F_ref_gmac": reference_gmac,
            "C_ref_gmac": training_compute(seen_samples, reference_gmac, total, trainable)}


# --- losses -------------------------------------------------------------------------------------------------

def encode_sets(world_dir: Path, model_config: ModelConfig,
                config: EvalLossConfig) -> dict[str, list[EncodedSample]]:
    """Every test set of the world, encoded once for all checkpoints of the run."""
    tokenizer = load_tokenizer(world_dir)
    vocabulary = min(model_config.encoder.vocab_size, model_config.decoder.vocab_size)
    if tokenizer.get_vocab_size() > vocabulary:
        raise FlorenzError(f"world {world_dir}'s tokenizer has {tokenizer.get_vocab_size()} entries but "
                           f"the model's vocabulary {vocabulary}; pass the world the run was trained on "
                           "(--world)")
    limit = config.max_samples_per_set or None
    return {name: [encode_annotation(sample.image, sample.annotations[0], model_config.image_size, tokenizer,
                                     tokenizer, config.max_prompt_tokens, config.max_target_tokens)
                   for sample in islice((s for shard in shards for s in read_shard(shard)), limit)]
            for name, shards in split_sets(world_dir).items()}


@torch.inference_mode()
def set_losses(model: torch.nn.Module, samples: list[EncodedSample],
               batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-sample mean token losses, target tokens per sample) of one set: two (N,) tensors."""
    config = model.config
    batch_collate = partial(collate, prompt_pad_token_id=config.encoder.pad_token_id,
                            decoder_start_token_id=config.decoder_start_token_id,
                            target_pad_token_id=config.pad_token_id)
    # batches of similar lengths waste little compute on padding; the results go back to the set's order
    order = sorted(range(len(samples)),
                   key=lambda i: (len(samples[i].target_ids), len(samples[i].prompt_ids)))
    losses = torch.empty(len(samples), dtype=torch.float64)  # (N,)
    tokens = torch.empty(len(samples), dtype=torch.float64)  # (N,)
    for start in range(0, len(samples), batch_size):
        indices = order[start:start + batch_size]
        batch = batch_collate([samples[i] for i in indices])
        losses[indices] = sample_losses(model, batch).cpu().double()
        tokens[indices] = (batch["labels"] != IGNORE_INDEX).sum(1).double()
    return losses, tokens


def aggregate(per_set: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, Any]:
    """Set, split and overall losses in the reference's measure, and the global token means beside them."""
    reference, token_mean = {}, {}
    groups = {name: [name] for name in per_set}
    for split in sorted({name.split("/")[0] for name in per_set}):
        groups[split] = [name for name in per_set if name.startswith(split + "/")]
    groups["mean"] = list(per_set)
    for group, names in groups.items():
        losses = torch.cat([per_set[name][0] for name in names])
        tokens = torch.cat([per_set[name][1] for name in names])
        reference[group] = float(losses.mean())  # sample-weighted over the sets (reference §5.2)
        token_mean[group] = float((losses * tokens).sum() / tokens.sum())
    return {**dict(sorted(reference.items())), "token_mean": dict(sorted(token_mean.items()))}


# --- the verb -----------------------------------------------------------------------------------------------

def _resolved(settings: Any) -> Any:
    """A row's evaluation settings with its world path resolved (rows before this recorded it as given)."""
    if isinstance(settings, dict) and isinstance(settings.get("world"), str):
        return {**settings, "world": str(Path(settings["world"]).resolve())}
    return settings


def eval_loss(config: EvalLossConfig) -> list[dict[str, Any]]:
    """Evaluate the run's checkpoints that have no current row; returns all rows of RUN/eval_loss.jsonl."""
    from tqdm import tqdm

    from florenz.model.florenz import FlorenzModel

    run_dir = Path(config.run)
    train_config = read_train_config(run_dir)
    checkpoints = run_checkpoints(run_dir)
    world = read_world(config.world or train_config.data)
    # the world resolved: the same directory spelled relative or absolute (a resumed study) is no change
    settings = {"world": str(world.path.resolve()), "world_manifest_sha256": world.manifest_sha256,
                "max_samples_per_set": config.max_samples_per_set,
                "max_prompt_tokens": config.max_prompt_tokens, "max_target_tokens": config.max_target_tokens,
                "length_samples": config.length_samples}
    path = run_dir / EVAL_LOSS_FILE
    rows = {row.get("checkpoint"): row for row in read_json_lines(
        path, "delete that line (or the file) and rerun to evaluate it again")}
    todo = []
    for directory, seen in checkpoints:
        name = directory.relative_to(run_dir).as_posix()
        digest = weights_sha256(directory)
        old = rows.get(name)
        if config.overwrite or old is None or old.get("checkpoint_sha256") != digest or \
                _resolved(old.get("eval")) != settings:
            todo.append((directory, name, seen, digest))
    if not todo:
        print(f"eval-loss: all {len(checkpoints)} checkpoint(s) of {run_dir} have current rows in {path}")
        return sorted(rows.values(), key=lambda row: row["S"])
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    model_config = FlorenzModel.from_pretrained(todo[0][0]).config
    lengths = training_lengths(train_config, model_config, config.length_samples)
    sets = encode_sets(world.path, model_config, config)
    T = starting_loss(train_config)
    evaluated, started = 0, time.perf_counter()
    with tqdm(total=len(todo) * len(sets), unit="set", desc="eval-loss", dynamic_ncols=True) as bar:
        for directory, name, seen, digest in todo:
            model = FlorenzModel.from_pretrained(directory).to(device).eval()
            per_set = {}
            for set_name, samples in sets.items():
                per_set[set_name] = set_losses(model, samples, config.batch_size)
                evaluated += len(samples)
                rate = evaluated / (time.perf_counter() - started)
                bar.set_postfix(checkpoint=name, samples_per_s=f"{rate:.0f}", refresh=False)
                bar.update()
            rows[name] = {"run": run_dir.name, "checkpoint": name, "checkpoint_sha256": digest,
                          "size": model.config.name, "decoder": model.config.decoder.kind,
                          **compute_columns(model.config, train_config, lengths, seen), "T": T,
                          "lengths": lengths, **aggregate(per_set), "eval": settings}
            ordered = sorted(rows.values(), key=lambda row: row["S"])
            # written after each checkpoint: an interrupted evaluation keeps what it finished
            write_atomically(path, "".join(json.dumps(row) + "\n" for row in ordered))
    seconds = time.perf_counter() - started
    print(f"eval-loss: {len(todo)} checkpoint(s), {evaluated} samples in {seconds:.1f} s "
          f"({evaluated / seconds:.0f} samples/s) -> {path}")
    for row in ordered:
        print(f"  {row['checkpoint']:<16} S {row['S']:>10,}  C {row['C']:.3e}  UC {row['uc']:.4f}  "
              f"ST {row['st']:.4f}  SC {row['sc']:.4f}")
    return ordered
