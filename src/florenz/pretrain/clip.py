"""`florenz pretrain clip`: a tiny contrastive image-text model for `florenz align`, trained on a world.

The paper attaches text-only bitext (CCMatrix) to web images (CC12M) by CLIP similarity. On the world the
same retrieval code (florenz.data.align) needs a CLIP-like model that knows the world's pictures: this verb
trains a transformers `CLIPModel` with a small config (a ViT and a text transformer of a few layers each) on
the world's training images and their English captions, with CLIP's symmetric contrastive loss (every image
told apart from the batch's other captions and vice versa). Only captions are used, never the translation
pairs' English sources: those are the bitext that `align` is later asked to pair blindly.

The output is a normal transformers directory: `config.json` + `model.safetensors` (CLIPModel),
`tokenizer.json` + `tokenizer_config.json` (the world's BPE with a `<bos> … <eos>` template, since CLIP
pools its text at the first `<eos>`) and `preprocessor_config.json` (a CLIPImageProcessor), so
`CLIPModel.from_pretrained`, `AutoTokenizer` and `AutoImageProcessor` load it like any open CLIP, and
`florenz align --clip` takes either. `clip_pretraining.json` beside them records the settings (a rerun with
the same ones does nothing) and the retrieval accuracy on the world's held-out English captioning images.

Shapes: `B` batch, `S` image side, `E` embedding width (projection_dim), `n` evaluation images.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from florenz.config import ConfigError, to_dict
from florenz.data.shards import list_shards, read_shard
from florenz.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, load_tokenizer
from florenz.data.world import WorldInfo, read_world
from florenz.errors import FlorenzError
from florenz.files import write_directory_atomically, write_json_atomically
from florenz.pretrain.config import ClipPretrainConfig, claimed_output
from florenz.train.config import OptimConfig
from florenz.train.optim import build_optimizer, lr_factor, set_learning_rate

CLIP_MODEL_TYPE = "florenz-clip-pretraining"
CLIP_RECORD = "clip_pretraining.json"
LOGIT_SCALE_INIT = math.log(1 / 0.07)  # CLIP's initial temperature 0.07 (Radford et al. 2021, §2.5)
LOGIT_SCALE_MAX = math.log(100)  # ... and its clamp: logits scaled by at most 100


# --- the model, its tokenizer and its image processor ---------------------------------------------------

def clip_model_config(config: ClipPretrainConfig, vocab_size: int) -> Any:
    """A small transformers CLIPConfig; the text tower uses the world tokenizer's ids (<eos> pools)."""
    from transformers import CLIPConfig

    tower = {"hidden_size": config.width, "intermediate_size": 4 * config.width,
             "num_hidden_layers": config.layers, "num_attention_heads": config.heads}
    return CLIPConfig(
        text_config={**tower, "vocab_size": vocab_size, "max_position_embeddings": config.max_text_tokens,
                     "pad_token_id": PAD_ID, "bos_token_id": BOS_ID, "eos_token_id": EOS_ID},
        vision_config={**tower, "image_size": config.image_size, "patch_size": config.patch_size},
        projection_dim=config.projection_dim, logit_scale_init_value=LOGIT_SCALE_INIT)


def clamp_logit_scale(model: Any) -> None:
    """Keep the learned log inverse temperature at or below log(100), as CLIP does after every step."""
    with torch.no_grad():
        model.logit_scale.clamp_(max=LOGIT_SCALE_MAX)


def clip_tokenizer(world_path: Path, max_tokens: int) -> Any:
    """The world's tokenizer as a transformers fast tokenizer that adds <bos>/<eos> and truncates to
    `max_tokens` keeping <eos> (CLIP's text tower pools the state at the first <eos>)."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = load_tokenizer(world_path)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", BOS_ID), ("<eos>", EOS_ID)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>", model_max_length=max_tokens)


def clip_image_processor(image_size: int) -> Any:
    """CLIP's own preprocessing (bicubic resize of the short side, centre crop, OpenAI mean/std) at
    `image_size`; the PIL backend, as torchvision does not work beside this torch (dependencies.md)."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    return CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                 crop_size={"height": image_size, "width": image_size})


def resized_pixels(processor: Any, images: list[Image.Image]) -> torch.Tensor:
    """(B, 3, S, S) uint8: the processor's resize and crop without its rescale and normalisation, so a
    world's images fit in memory; `normalised` finishes the processor's work per batch."""
    out = processor(images=images, do_rescale=False, do_normalize=False, return_tensors="pt")
    return out["pixel_values"].round().clamp(0, 255).to(torch.uint8)


def normalised(processor: Any, pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> the processor's float input: rescaled to [0, 1], then mean/std-normalised."""
    mean = torch.tensor(processor.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
    return (pixels.float() * processor.rescale_factor - mean) / std


# --- the world's image-caption pairs ---------------------------------------------------------------------

def english_captions(annotations: list[dict]) -> list[str]:
    """The English captions of one world sample (every detail level); translation sources are left out."""
    return [a["target"] for a in annotations if a["task"] == "caption" and a["lang"] == "en"]


def world_pairs(shard_dir: Path, processor: Any, limit: int,
                desc: str) -> tuple[torch.Tensor, list[list[str]]]:
    """Pixels (n, 3, S, S) uint8 and the English captions of the first `limit` samples (0: all) of a folder
    of world shards that have English captions."""
    pixels, captions, batch = [], [], []
    shards = list_shards(shard_dir)
    with tqdm(desc=desc, unit="image", leave=False) as bar:
        for shard in shards:
            for sample in read_shard(shard, decode_images=True):
                texts = english_captions(sample.annotations)
                if not texts:
                    continue
                captions.append(texts)
                batch.append(sample.image)
                if len(batch) == 256:
                    pixels.append(resized_pixels(processor, batch))
                    batch = []
                bar.update()
                if len(captions) == limit:
                    break
            if len(captions) == limit:
                break
    if batch:
        pixels.append(resized_pixels(processor, batch))
    if not captions:
        raise FlorenzError(f"{shard_dir} holds no image with an English caption; pretrain clip needs a world "
                           f"whose coverage includes caption:en (rebuild it with `florenz world build`)")
    return torch.cat(pixels), captions


# --- evaluation -------------------------------------------------------------------------------------------

@torch.inference_mode()
def embed(model: Any, processor: Any, tokenizer: Any, pixels: torch.Tensor | None = None,
          texts: list[str] | None = None, batch_size: int = 256) -> torch.Tensor:
    """Unit-length embeddings (n, E) float32 of uint8 pixels or of texts, in batches."""
    model.eval()
    rows = []
    count = len(pixels) if pixels is not None else len(texts)
    for start in range(0, count, batch_size):
        if pixels is not None:
            batch = normalised(processor, pixels[start:start + batch_size])
            features = model.get_image_features(pixel_values=batch)
        else:
            encoded = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                                return_tensors="pt")
            features = model.get_text_features(input_ids=encoded["input_ids"],
                                               attention_mask=encoded["attention_mask"])
        rows.append(torch.nn.functional.normalize(features.pooler_output.float(), dim=-1))
    return torch.cat(rows)


def retrieval_accuracy(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> dict[str, float]:
    """Top-1 accuracy of caption i -> image i and image i -> caption i among the n pairs (chance 1/n)."""
    similarity = text_embeddings @ image_embeddings.T  # (n, n): captions x images
    truth = torch.arange(len(similarity))
    return {"caption_to_image": (similarity.argmax(1) == truth).float().mean().item(),
            "image_to_caption": (similarity.argmax(0) == truth).float().mean().item(),
            "chance": 1 / len(similarity)}


# --- the run ---------------------------------------------------------------------------------------------

def _settings(config: ClipPretrainConfig, world: WorldInfo) -> dict[str, Any]:
    recipe = {key: value for key, value in to_dict(config).items()
              if key not in ("world", "out", "overwrite", "threads")}
    return {"world_manifest_sha256": world.manifest_sha256, **recipe}


def pretrain_clip(config: ClipPretrainConfig) -> Path:
    """Train a tiny CLIPModel on the world's training images and English captions; save it to `out`."""
    world = read_world(config.world)
    out = Path(config.out)
    total_steps = math.ceil(config.samples / config.batch_size)
    if config.warmup_steps >= total_steps:
        raise ConfigError(f"--warmup-steps {config.warmup_steps} leaves no room in a {total_steps}-step run; "
                          f"lower it or raise --samples")
    settings = _settings(config, world)
    with claimed_output(out, "pretrain clip", CLIP_RECORD, CLIP_MODEL_TYPE, settings, config.overwrite,
                        "the same settings; --overwrite pre-trains again") as finished:
        if finished:
            return out
        model, tokenizer, processor, record = _pretrain(config, world, total_steps)
        record["settings"] = settings

        def write(directory: Path) -> None:
            model.save_pretrained(directory)
            tokenizer.save_pretrained(directory)
            processor.save_pretrained(directory)
            write_json_atomically(directory / CLIP_RECORD, record)

        write_directory_atomically(out, write)
    accuracy = record["retrieval_accuracy"]
    print(f"florenz pretrain clip: {record['parameters'] / 1e6:.2f}M-parameter CLIP on {world.path}: "
          f"{total_steps * config.batch_size} pairs ({record['samples_per_s']:.0f} pairs/s), final loss "
          f"{record['final_loss']:.3f}, logit scale {math.exp(record['logit_scale']):.1f}; on "
          f"{record['eval_images']} held-out images caption->image top-1 "
          f"{accuracy['caption_to_image']:.2f}, image->caption {accuracy['image_to_caption']:.2f} (chance "
          f"{accuracy['chance']:.3f}) -> {out}")
    return out


def _pretrain(config: ClipPretrainConfig, world: WorldInfo,
              total_steps: int) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The trained model, its tokenizer and image processor, and the clip_pretraining.json record."""
    from transformers import CLIPModel

    if config.threads:
        torch.set_num_threads(config.threads)
    tokenizer = clip_tokenizer(world.path, config.max_text_tokens)
    processor = clip_image_processor(config.image_size)
    pixels, captions = world_pairs(world.path / "train", processor, config.images, "read training images")
    eval_pixels, eval_captions = world_pairs(world.path / "test" / "sc" / "en", processor, config.eval_images,
                                             "read test images")
    torch.manual_seed(config.seed)
    model = CLIPModel(clip_model_config(config, len(tokenizer)))
    optim = OptimConfig(lr=config.lr, weight_decay=config.weight_decay, warmup_steps=config.warmup_steps,
                        no_decay=(*OptimConfig().no_decay, "logit_scale"))  # decay would pull it to T = 1
    optimizer = build_optimizer(model, optim)
    order = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)  # which of an image's captions a step shows
    batch_size = min(config.batch_size, len(captions))
    permutation, cursor = torch.randperm(len(captions), generator=order), 0

    model.train()
    started = time.perf_counter()
    with tqdm(total=total_steps * config.batch_size, unit="pair", unit_scale=True, desc="pretrain clip",
              dynamic_ncols=True) as bar:
        for step in range(total_steps):
            if cursor + batch_size > len(permutation):  # a new epoch over the images
                permutation, cursor = torch.randperm(len(captions), generator=order), 0
            index = permutation[cursor:cursor + batch_size]
            cursor += batch_size
            texts = [captions[i][rng.integers(len(captions[i]))] for i in index.tolist()]
            encoded = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
            set_learning_rate(optimizer, config.lr * lr_factor(step, total_steps, optim))
            loss = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"],
                         pixel_values=normalised(processor, pixels[index]), return_loss=True).loss
            if not math.isfinite(loss.item()):
                raise FlorenzError(f"step {step + 1}: the loss is {loss.item()}; nothing was written. Lower "
                                   f"--lr")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            clamp_logit_scale(model)
            bar.update(config.batch_size)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    samples_per_s = total_steps * config.batch_size / (time.perf_counter() - started)

    first_captions = [texts[0] for texts in eval_captions]
    accuracy = retrieval_accuracy(embed(model, processor, tokenizer, pixels=eval_pixels),
                                  embed(model, processor, tokenizer, texts=first_captions))
    record = {
        "model_type": CLIP_MODEL_TYPE,
        "world": {"path": str(world.path), "manifest_sha256": world.manifest_sha256},
        "training_images": len(captions),
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": loss.item(),
        "logit_scale": model.logit_scale.item(),  # learned from LOGIT_SCALE_INIT, clamped at LOGIT_SCALE_MAX
        "samples_per_s": samples_per_s,
        "eval_images": len(first_captions),
        "retrieval_accuracy": accuracy,
    }
    return model, tokenizer, processor, record
