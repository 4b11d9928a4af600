"""Cross-entropy of a model on the world's held-out test splits UC, ST and SC (reference §5.2).

Batches are built exactly as in training (`florenz.data.loader.encode_annotation` + `florenz.data.collate`),
so a loss here is the training objective on held-out samples. Averaging follows the reference:
- a sample's loss is the mean token cross-entropy over its target tokens, <bos> and <eos> predictions
  included (labels are [<bos>] + pieces + [<eos>], the decoder starts from <eos>);
- a set's loss (e.g. "uc/fr") is the unweighted mean over its samples (a macro average: long samples do not
  count more);
- a split's loss ("uc", "st", "sc") is the sample-count-weighted mean of its sets, and "mean" the same over
  every evaluated set.

Shapes: `B` batch, `T` target length, `V` vocabulary.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from florenz.data.collate import IGNORE_INDEX, EncodedSample, collate
from florenz.data.loader import encode_annotation
from florenz.data.shards import list_shards, read_shard
from florenz.data.tokenizer import load_tokenizer
from florenz.errors import FlorenzError

SPLITS = ("uc", "st", "sc")  # unseen captioning, seen translation, seen captioning


def split_sets(world_dir: str | Path, splits: tuple[str, ...] = SPLITS) -> dict[str, list[Path]]:
    """{"uc/fr": [shard, ...], ...}: the test sets of `splits` in a world, languages in directory order."""
    world_dir = Path(world_dir)
    sets: dict[str, list[Path]] = {}
    for split in splits:
        split_dir = world_dir / "test" / split
        if not split_dir.is_dir():
            raise FlorenzError(f"{world_dir} has no test split {split!r} ({split_dir} is missing); build the "
                               f"world with `florenz world build` or choose splits from {', '.join(SPLITS)}")
        for lang_dir in sorted(path for path in split_dir.iterdir() if path.is_dir()):
            shards = list_shards(lang_dir)
            if shards:
                sets[f"{split}/{lang_dir.name}"] = shards
    return sets


def _set_samples(shards: list[Path], image_size: int, tokenizer, max_samples: int,
                 max_target_tokens: int, max_prompt_tokens: int) -> list[EncodedSample]:
    encoded = []
    for shard in shards:
        for sample in read_shard(shard):
            encoded.append(encode_annotation(sample.image, sample.annotations[0], image_size, tokenizer,
                                             tokenizer, max_prompt_tokens, max_target_tokens))
            if len(encoded) == max_samples:
                return encoded
    return encoded


def sample_losses(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean token cross-entropy of each sample of a collated batch: (B,)."""
    device = next(model.parameters()).device
    batch = {key: value.to(device) for key, value in batch.items()}
    logits = model(batch["pixel_values"], batch["input_ids"], batch["attention_mask"],
                   batch["decoder_input_ids"])  # (B, T, V)
    labels = batch["labels"]  # (B, T)
    # flattened rows, not (B, V, T): cross-entropy over a transposed, non-contiguous view is ~4x slower
    token_losses = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX,
                                   reduction="none").view_as(labels)  # (B, T), 0 where ignored
    return token_losses.sum(dim=1) / (labels != IGNORE_INDEX).sum(dim=1)


@torch.inference_mode()
def split_losses(model: nn.Module, world_dir: str | Path, splits: tuple[str, ...] = SPLITS,
                 max_samples_per_set: int = 0, batch_size: int = 32, shuffle_images: bool = False,
                 max_target_tokens: int = 128, max_prompt_tokens: int = 128) -> dict[str, float]:
    """Losses of a FlorenzModel on a world's test splits: {"uc", "st", "sc", "mean", "uc/fr", ...}.

    max_samples_per_set: the first N samples of each set in stored order (0: all of them).
    shuffle_images: pair each sample with the next sample's image in its set (a derangement): an ablation
    that shows how much the loss depends on seeing the right image.
    """
    world_dir = Path(world_dir)
    tokenizer = load_tokenizer(world_dir)
    config = model.config
    vocabulary = tokenizer.get_vocab_size()
    if vocabulary > min(config.encoder.vocab_size, config.decoder.vocab_size):
        raise FlorenzError(f"world {world_dir}'s tokenizer has {vocabulary} entries but the model's "
                           f"vocabularies have {config.encoder.vocab_size} (encoder) and "
                           f"{config.decoder.vocab_size} (decoder); evaluate on the world the model was "
                           f"built for")
    batch_collate = partial(collate, prompt_pad_token_id=config.encoder.pad_token_id,
                            decoder_start_token_id=config.decoder_start_token_id,
                            target_pad_token_id=config.pad_token_id)
    was_training = model.training
    model.eval()
    set_losses: dict[str, torch.Tensor] = {}
    try:
        for name, shards in split_sets(world_dir, splits).items():
            samples = _set_samples(shards, config.image_size, tokenizer, max_samples_per_set,
                                   max_target_tokens, max_prompt_tokens)
            if shuffle_images and len(samples) > 1:
                images = [sample.pixel_values for sample in samples]
                for sample, image in zip(samples, images[1:] + images[:1]):
                    sample.pixel_values = image
            set_losses[name] = torch.cat([
                sample_losses(model, batch_collate(samples[start:start + batch_size])).cpu()
                for start in range(0, len(samples), batch_size)])
    finally:
        model.train(was_training)
    losses = {name: float(values.mean()) for name, values in set_losses.items()}
    for group in (*splits, "mean"):
        members = [values for name, values in set_losses.items()
                   if group == "mean" or name.startswith(group + "/")]
        if members:
            losses[group] = float(torch.cat(members).mean())  # sample-weighted over the group's sets
    return dict(sorted(losses.items()))

