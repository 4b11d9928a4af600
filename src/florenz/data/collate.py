"""From one chosen annotation to model tensors: image preprocessing, truncation, padding, shift-right.

A batch has the keys the model takes (reference §3.3): `pixel_values` (B, 3, H, W) float32,
`input_ids` / `attention_mask` (B, L) for the prompt, `decoder_input_ids` (B, T) and `labels` (B, T) with
-100 on padding. Text-only batches for decoder LM pre-training carry only the last two.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

IGNORE_INDEX = -100  # labels equal to this are left out of the loss (torch's cross_entropy default)
# ImageNet statistics, as the reference's torchvision Normalize (reference §1.10)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class EncodedSample:
    """One training sample, tokenised; `pixel_values` is None for text-only samples."""

    prompt_ids: list[int]
    target_ids: list[int]
    pixel_values: torch.Tensor | None = None  # (3, H, W)
    category: str = ""  # "task-lang", e.g. "translation-fr"


def image_to_tensor(image: bytes | Image.Image, size: int) -> torch.Tensor:
    """PNG/JPEG bytes or a PIL image -> (3, size, size) float32, bicubic-resized, ImageNet-normalised."""
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    image = image.convert("RGB")
    if image.size != (size, size):
        # aspect ratio is not kept, as the reference's Resize((s, s), bicubic)
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3)
    pixels = (pixels - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))  # (3, H, W)


def truncate(ids: list[int], max_length: int) -> list[int]:
    """Cut the end of a token list, as the reference does (a long target loses its <eos>)."""
    return ids[:max_length]


def shift_right(labels: torch.Tensor, decoder_start_token_id: int, pad_token_id: int) -> torch.Tensor:
    """(B, T) labels -> (B, T) decoder inputs: [start, labels[:-1]] with -100 replaced by pad (§1.9)."""
    decoder_input_ids = labels.new_empty(labels.shape)
    decoder_input_ids[:, 0] = decoder_start_token_id
    decoder_input_ids[:, 1:] = labels[:, :-1]
    return decoder_input_ids.masked_fill(decoder_input_ids == IGNORE_INDEX, pad_token_id)


def _pad(rows: list[list[int]], value: int, multiple: int) -> torch.Tensor:
    width = -(-max(len(row) for row in rows) // multiple) * multiple
    return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)


def collate(samples: list[EncodedSample], prompt_pad_token_id: int, decoder_start_token_id: int = 1,
            target_pad_token_id: int = 0, pad_to_multiple_of: int = 1) -> dict[str, torch.Tensor]:
    """Pad a list of samples to one batch (right padding); text-only samples give a decoder-only batch.

    `pad_to_multiple_of` rounds both lengths up: padding is masked (prompt) or ignored (labels), so the
    loss is unchanged, while the few distinct shapes keep CPU kernel caches (oneDNN) small and warm.
    """
    labels = _pad([s.target_ids for s in samples], IGNORE_INDEX, pad_to_multiple_of)  # (B, T)
    batch = {
        "decoder_input_ids": shift_right(labels, decoder_start_token_id, target_pad_token_id),  # (B, T)
        "labels": labels,
    }
    if samples[0].pixel_values is None:
        return batch
    batch["pixel_values"] = torch.stack([s.pixel_values for s in samples])  # (B, 3, H, W)
    prompts = [s.prompt_ids for s in samples]
    batch["input_ids"] = _pad(prompts, prompt_pad_token_id, pad_to_multiple_of)  # (B, L)
    batch["attention_mask"] = _pad([[1] * len(p) for p in prompts], 0, pad_to_multiple_of)  # (B, L)
    return batch
