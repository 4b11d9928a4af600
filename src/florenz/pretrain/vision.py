"""`florenz pretrain vision`: pre-train a size's DaViT tower and image adapter on the world, once per world.

In the paper the vision side comes pre-trained (Florence-2) and stays frozen; a frozen *random* tower would
starve the world's study of the image. The objective here is dense scene-attribute prediction: the scene
sampler puts at most one object in each cell of a jittered 3×3 grid (`florenz.world.scene._positions`), so
the adapter's image tokens are average-pooled to 3×3 and one linear head predicts, per cell, the object's
shape, colour, shade and size, or "empty". Why this and not a contrastive image–caption objective: the world
is procedural, so labelled images are unlimited and free; dense per-cell labels force the spatial detail the
captions need (positions, relations, counts); and there is no text tower and no large-batch requirement.

Scenes are drawn by the world's own sampler from a seed stream disjoint from the world's train/test streams,
rendered at the world's image size and preprocessed exactly like the trainer's loader does
(`florenz.data.collate.image_to_tensor`, bicubic resize to the size's image side). A pool of scenes is
rendered once and revisited over epochs, since rendering costs about as much as a step of the smallest tower.

The adapter (2-D positions, projection, LayerNorm) is pre-trained with the tower, as Florence-2's adapter is
pre-trained and frozen with its DaViT (reference §1.4): the heads read the adapter's output tokens. The
checkpoint holds exactly FlorenzModel's vision keys (`vision_tower.*`, `image_position_embed.*`,
`image_projection.*`, `image_proj_norm.*`) in `model.safetensors`, beside a `config.json` of model_type
"florenz-vision" with the size's vision config, the world's manifest hash and two quality measures on fresh
scenes: the dense-head accuracy (the training head's per-attribute accuracy on the cells that hold an object)
and the linear-probe accuracy (a ridge probe on the pooled image token for the largest object's colour and
shape) of the pre-trained and of the initial (random) tower. Rerunning with the same settings does nothing;
other settings need --overwrite or another --out.

Shapes: `B` batch, `N` image tokens, `D` adapter width, `c = 9` grid cells, `A = 4` attributes, `K` classes.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from florenz.config import ConfigError, to_dict
from florenz.data.collate import image_to_tensor
from florenz.data.world import WorldInfo, read_world
from florenz.errors import FlorenzError
from florenz.files import write_directory_atomically
from florenz.model.accounting import VISION_MODULES
from florenz.model.sizes import get_size
from florenz.pretrain.config import (
    WEAK_TOWER_COLOUR_ACCURACY,
    VisionPretrainConfig,
    claimed_output,
    vision_signature,
)
from florenz.train.config import OptimConfig
from florenz.train.device import pick_device, use_bf16
from florenz.train.optim import build_optimizer, lr_factor, set_learning_rate
from florenz.world.render import render_scene
from florenz.world.samples import stream_rng
from florenz.world.scene import COLOURS, SHADES, SHAPES, SIZES, Scene, sample_scene

VISION_MODEL_TYPE = "florenz-vision"
GRID_CELLS = 3  # objects sit one per cell of a 3x3 grid (world.scene._positions)
# Per-cell attributes; each gets one extra class, "empty", for a cell without an object.
ATTRIBUTES = {"shape": SHAPES, "colour": COLOURS, "shade": SHADES, "size": SIZES}
PROBE_ATTRIBUTES = ("colour", "shape")  # of the scene's largest object


# --- the objective ---------------------------------------------------------------------------------------

def cell_labels(scene: Scene) -> np.ndarray:
    """(9, A) class index of each attribute per grid cell, row-major; index len(values) means empty."""
    empty = [len(values) for values in ATTRIBUTES.values()]
    labels = np.array([empty] * GRID_CELLS**2)  # (9, A)
    for obj in scene.objects:
        row = min(int(obj.y * GRID_CELLS), GRID_CELLS - 1)
        column = min(int(obj.x * GRID_CELLS), GRID_CELLS - 1)
        labels[row * GRID_CELLS + column] = [values.index(getattr(obj, name))
                                             for name, values in ATTRIBUTES.items()]
    return labels


def cell_features(model: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """The adapter's grid tokens average-pooled to the 3x3 cells: pixels (B, 3, H, W) -> (B, 9, D)."""
    return _grid_cells(model.encode_image(pixel_values))


def _grid_cells(tokens: torch.Tensor) -> torch.Tensor:
    """The adapter's tokens (B, N, D) -> their grid average-pooled to the 3x3 cells (B, 9, D)."""
    grid = tokens[:, 1:]  # (B, N-1, D): the pooled token left out
    B, cells, D = grid.shape
    side = math.isqrt(cells)
    grid = grid.transpose(1, 2).reshape(B, D, side, side)  # (B, D, h, w)
    return F.adaptive_avg_pool2d(grid, GRID_CELLS).flatten(2).transpose(1, 2)  # (B, 9, D)


class DenseAttributeHead(nn.Module):
    """One linear classifier shared by all cells: (B, 9, D) -> logits of every attribute (B, 9, K)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.classes = [len(values) + 1 for values in ATTRIBUTES.values()]
        self.classifier = nn.Linear(width, sum(self.classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)  # (B, 9, K)

    def loss_and_correct(self, logits: torch.Tensor,
                         labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy summed over attributes, averaged over cells and images; and a (B, 9, A) hit mask."""
        loss, correct = logits.new_zeros((), dtype=torch.float32), []
        for index, part in enumerate(logits.float().split(self.classes, dim=-1)):  # (B, 9, K_a)
            loss = loss + F.cross_entropy(part.flatten(0, 1), labels[..., index].flatten())
            correct.append(part.argmax(-1) == labels[..., index])
        return loss, torch.stack(correct, dim=-1)


def render_pool(world: WorldInfo, unit: str, count: int, image_size: int,
                seed: int) -> tuple[list[Scene], torch.Tensor]:
    """`count` scenes of the world's sampler from stream "pretrain-vision/<unit>", and their pixels
    (count, 3, S, S) preprocessed as the trainer's loader does."""
    rng = stream_rng(world.config["seed"], f"pretrain-vision/{unit}", seed)
    scenes = [sample_scene(rng, max_objects=world.config["max_objects"]) for _ in range(count)]
    rendering: Iterable[Scene] = tqdm(scenes, desc=f"render {unit} scenes", unit="scene", leave=False)
    pixels = torch.stack([image_to_tensor(Image.fromarray(render_scene(scene, world.config["image_size"])),
                                          image_size) for scene in rendering])
    return scenes, pixels


def batch_gradients(model: nn.Module, head: DenseAttributeHead, parameters: list[nn.Parameter],
                    pixels: torch.Tensor, labels: torch.Tensor, bf16: bool, shards: int = 1,
                    pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
    """The batch's mean loss (0-d, detached), with its gradient written into each parameter's .grad.

    The batch is cut into `shards`; with a pool of as many threads, each shard runs forward and backward on
    its own Python thread with one torch thread (on a tiny tower two such shards beat one batch on two
    intra-op threads by ~1.3x: its ops are too small to split well); the shards' loss-weighted gradients
    are summed in shard order, so the result does not depend on which thread finishes first.
    """
    shards = min(shards, len(pixels))  # no empty shard: its mean loss would be NaN
    pieces = list(zip(pixels.tensor_split(shards), labels.tensor_split(shards)))

    def shard(piece: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        shard_pixels, shard_labels = piece
        weight = len(shard_pixels) / len(pixels)  # the batch mean is the size-weighted mean of shard means
        with torch.autocast(pixels.device.type, dtype=torch.bfloat16, enabled=bf16):  # autocast is per thread
            logits = head(cell_features(model, shard_pixels))  # (b, 9, K)
        loss, _ = head.loss_and_correct(logits, shard_labels)
        return loss.detach() * weight, torch.autograd.grad(loss * weight, parameters, allow_unused=True)

    results = list(map(shard, pieces) if pool is None else pool.map(shard, pieces))
    for index, parameter in enumerate(parameters):
        used = [gradients[index] for _, gradients in results if gradients[index] is not None]
        if not used:
            parameter.grad = None  # as backward() leaves an unused parameter
            continue
        # in the parameter's own layout, as backward() leaves it: autograd.grad returns a conv weight's
        # gradient channels-last, and CPU fused AdamW pairs gradient and weight in memory order
        gradient = torch.empty_like(parameter).copy_(used[0])
        for more in used[1:]:
            gradient.add_(more)
        parameter.grad = gradient
    return sum((loss for loss, _ in results[1:]), results[0][0])


# --- the linear probe ------------------------------------------------------------------------------------

def image_features(model: nn.Module, pixels: torch.Tensor, pool: ThreadPoolExecutor | None = None,
                   batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """What the two quality measures read, from one eval-mode pass in batches (run on `pool`'s threads when
    given): the adapter's first image token, the grid mean (Florence-2's spatial-average token), (n, D)
    float64 on the CPU for the linear probe; and the grid pooled to the cells, (n, 9, D) on the model's
    device for the dense head."""
    device = next(model.parameters()).device

    @torch.inference_mode()  # per thread, as autocast
    def encode(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = model.encode_image(batch.to(device))  # (b, N, D)
        return tokens[:, 0].cpu(), _grid_cells(tokens)

    batches = pixels.split(batch_size)
    was_training = model.training
    model.eval()
    try:
        pooled, cells = zip(*(map(encode, batches) if pool is None else pool.map(encode, batches)))
    finally:
        model.train(was_training)
    return torch.cat(pooled).double(), torch.cat(cells)


@contextmanager
def shard_threads(device: torch.device) -> Iterator[tuple[int, ThreadPoolExecutor | None]]:
    """(shards, pool) for batch_gradients and image_features: on a CPU with several torch threads, one shard
    per thread, each run on a Python thread of the pool with torch at one thread while the pool is open
    (on a tiny tower, batches small enough for the cache beat intra-op threads: ~1.3x in training, ~1.6x
    in encoding); elsewhere (1, None)."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield 1, None
        return
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="vision-shard") as pool:
            yield threads, pool
    finally:
        torch.set_num_threads(threads)


def _ridge(features: torch.Tensor, targets: torch.Tensor, alpha: float) -> torch.Tensor:
    """argmin_W |XW - Y|² + alpha |W|²; solved in the smaller of the primal and dual forms."""
    n, d = features.shape
    if d <= n:
        gram = features.T @ features + alpha * torch.eye(d, dtype=features.dtype)
        return torch.linalg.solve(gram, features.T @ targets)
    gram = features @ features.T + alpha * torch.eye(n, dtype=features.dtype)
    return features.T @ torch.linalg.solve(gram, targets)


def linear_probe_accuracy(fit_x: torch.Tensor, fit_y: torch.Tensor, test_x: torch.Tensor,
                          test_y: torch.Tensor, classes: int) -> float:
    """Test accuracy of a ridge-regression classifier on standardised features (one-hot targets); its
    regularisation is chosen on the last fifth of the fit set from a small grid."""
    mean, std = fit_x.mean(0), fit_x.std(0).clamp_min(1e-6)
    fit_x, test_x = (fit_x - mean) / std, (test_x - mean) / std
    one_hot = F.one_hot(fit_y, classes).double()

    def accuracy(train_x, train_y, eval_x, eval_y, alpha) -> float:
        offset = train_y.mean(0)
        weights = _ridge(train_x, train_y - offset, alpha * len(train_x))
        return float(((eval_x @ weights + offset).argmax(1) == eval_y).double().mean())

    cut = len(fit_x) * 4 // 5
    alphas = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    best = max(alphas, key=lambda a: accuracy(fit_x[:cut], one_hot[:cut], fit_x[cut:], fit_y[cut:], a))
    return accuracy(fit_x, one_hot, test_x, test_y, best)


def probe_accuracies(features: torch.Tensor, scenes: list[Scene]) -> dict[str, float]:
    """Linear-probe accuracy for the colour and the shape of each scene's largest object from the pooled
    image token (image_features' first output, one row per scene; 3/4 of the scenes fit the probe, the rest
    score it). A scene with several big objects names its first one, which no probe can tell from the image:
    the same ceiling for any tower."""
    cut = len(scenes) * 3 // 4
    result = {}
    for name in PROBE_ATTRIBUTES:
        values = ATTRIBUTES[name]
        labels = torch.tensor([values.index(getattr(scene.largest_object(), name)) for scene in scenes])
        result[name] = linear_probe_accuracy(features[:cut], labels[:cut], features[cut:], labels[cut:],
                                             len(values))
    return result


def dense_head_accuracy(head: DenseAttributeHead, cells: torch.Tensor,
                        labels: torch.Tensor) -> dict[str, float]:
    """Per-attribute accuracy of the dense head on the cells (image_features' second output) that hold an
    object; labels (n, 9, A) on the cells' device."""
    with torch.inference_mode():
        _, correct = head.loss_and_correct(head(cells), labels)
    occupied = labels[..., 0] < len(SHAPES)  # (n, 9)
    return {name: float(correct[..., i][occupied].double().mean()) for i, name in enumerate(ATTRIBUTES)}


# --- checkpoints -----------------------------------------------------------------------------------------

def vision_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """FlorenzModel's vision tower and adapter tensors under their FlorenzModel names."""
    return {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()
            if name.split(".", 1)[0] in VISION_MODULES}


def read_vision_checkpoint(directory: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config.json, tensors) of a vision checkpoint written by `pretrain_vision`."""
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FlorenzError(f"{directory} is not a vision checkpoint (no config.json); make one with "
                           f"`florenz pretrain vision --out {directory}`")
    meta = json.loads(config_path.read_text(encoding="utf-8"))
    if meta.get("model_type") != VISION_MODEL_TYPE:
        raise FlorenzError(f"{config_path} has model_type {meta.get('model_type')!r}, not "
                           f"{VISION_MODEL_TYPE!r}; pass a directory written by `florenz pretrain vision`")
    try:
        tensors = load_file(directory / "model.safetensors")
    except Exception as error:  # safetensors raises several error types for missing or truncated files
        raise FlorenzError(f"{directory / 'model.safetensors'} is unreadable ({error}); pre-train the vision "
                           f"tower again") from None
    return meta, tensors


# --- the run ---------------------------------------------------------------------------------------------

def _settings(config: VisionPretrainConfig, world: WorldInfo) -> dict[str, Any]:
    """What a vision checkpoint is made from: a rerun with equal settings has nothing to do."""
    recipe = {key: value for key, value in to_dict(config).items()
              if key not in ("world", "out", "overwrite")}
    return {"world_manifest_sha256": world.manifest_sha256, **recipe}


def pretrain_vision(config: VisionPretrainConfig) -> Path:
    """Pre-train the tower and adapter of `config.size` on `config.world`; write them to `config.out`."""
    world = read_world(config.world)
    model_config = get_size(config.size)
    out = Path(config.out)
    total_steps = math.ceil(config.samples / config.batch_size)
    if config.warmup_steps >= total_steps:
        raise ConfigError(f"--warmup-steps {config.warmup_steps} leaves no room in a {total_steps}-step run; "
                          f"lower it or raise --samples")
    with claimed_output(out, "pretrain vision", "config.json", VISION_MODEL_TYPE, _settings(config, world),
                        config.overwrite, "the same settings; --overwrite pre-trains again") as finished:
        if finished:
            return out
        model, meta = _pretrain(config, world, model_config, total_steps)

        def write(directory: Path) -> None:
            save_file(vision_state_dict(model), str(directory / "model.safetensors"),
                      metadata={"format": "pt"})
            (directory / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

        write_directory_atomically(out, write)
    probe, dense = meta["linear_probe_accuracy"], meta["dense_head_accuracy"]
    print(f"florenz pretrain vision: {model_config.name} on {world.path}: {total_steps * config.batch_size} "
          f"images ({meta['samples_per_s']:.0f} samples/s); dense-head accuracy on fresh scenes' objects: "
          f"colour {dense['colour']:.2f}, shape {dense['shape']:.2f}; linear-probe accuracy (pooled token, "
          f"largest object) colour/shape {probe['pretrained']['colour']:.2f}/"
          f"{probe['pretrained']['shape']:.2f} (random tower {probe['random']['colour']:.2f}/"
          f"{probe['random']['shape']:.2f}) -> {out}")
    if dense["colour"] < WEAK_TOWER_COLOUR_ACCURACY:  # seen: world-xxs needs ~128k images, 32k leaves chance
        print(f"florenz pretrain vision: warning: the dense head names only {dense['colour']:.0%} of object "
              f"colours on fresh scenes (dense-head accuracy); the tower would starve the VLM of the image. "
              f"Raise --samples (e.g. {4 * total_steps * config.batch_size}) and rerun with --overwrite",
              file=sys.stderr)
    return out


def _pretrain(config: VisionPretrainConfig, world: WorldInfo, model_config: Any,
              total_steps: int) -> tuple[nn.Module, dict[str, Any]]:
    """The pre-trained model (its vision part) and its config.json record."""
    from florenz.model.florenz import FlorenzModel

    device = pick_device("auto")
    bf16 = use_bf16(config.precision, device, model_config)
    torch.manual_seed(config.seed)  # vision tower and adapter are built first: equal signatures, equal init
    model = FlorenzModel(model_config).to(device)
    torch.manual_seed(config.seed + 1)  # the head's init does not depend on the encoder/decoder configs
    head = DenseAttributeHead(model_config.encoder.d_model).to(device)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.split(".", 1)[0] in VISION_MODULES)
    trainable = nn.ModuleDict({"model": model, "head": head})
    optim = OptimConfig(lr=config.lr, weight_decay=config.weight_decay, warmup_steps=config.warmup_steps)
    optimizer = build_optimizer(trainable, optim)
    # listed once: walking every parameter of the whole model each step cost ~9 ms of a ~250 ms step
    clipped = [parameter for parameter in trainable.parameters() if parameter.requires_grad]

    probe_scenes, probe_pixels = render_pool(world, "probe", config.probe_scenes, model_config.image_size,
                                             config.seed)
    probe_labels = torch.from_numpy(np.stack([cell_labels(scene) for scene in probe_scenes]))
    scenes, pixels = render_pool(world, "train", min(config.scenes, config.samples), model_config.image_size,
                                 config.seed)
    labels = torch.from_numpy(np.stack([cell_labels(scene) for scene in scenes]))  # (n, 9, A)
    order = torch.Generator().manual_seed(config.seed)
    permutation, cursor = torch.randperm(len(scenes), generator=order), 0

    with shard_threads(device) as (shards, pool):
        random_probe = probe_accuracies(image_features(model, probe_pixels, pool)[0], probe_scenes)
        model.train()
        started = time.perf_counter()
        with tqdm(total=total_steps * config.batch_size, unit="sample", unit_scale=True,
                  desc="pretrain vision", dynamic_ncols=True) as bar:
            for step in range(total_steps):
                if cursor + config.batch_size > len(permutation):  # a new epoch over the pool
                    permutation, cursor = torch.randperm(len(scenes), generator=order), 0
                index = permutation[cursor:cursor + config.batch_size]
                cursor += config.batch_size
                set_learning_rate(optimizer, config.lr * lr_factor(step, total_steps, optim))
                loss = batch_gradients(model, head, clipped, pixels[index].to(device),
                                       labels[index].to(device), bf16, shards, pool)
                if not math.isfinite(loss.item()):
                    raise FlorenzError(f"step {step + 1}: the loss is {loss.item()}; nothing was written. "
                                       f"Lower --lr or use --precision fp32")
                torch.nn.utils.clip_grad_norm_(clipped, 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                bar.update(config.batch_size)
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        samples_per_s = total_steps * config.batch_size / (time.perf_counter() - started)
        probe_pooled, probe_cells = image_features(model, probe_pixels, pool)  # one pass for both measures

    settings = _settings(config, world)
    meta = {
        "model_type": VISION_MODEL_TYPE,
        "size": model_config.name,
        **vision_signature(model_config),
        "world": {"path": str(world.path), "manifest_sha256": world.manifest_sha256,
                  "image_size": world.config["image_size"], "max_objects": world.config["max_objects"]},
        "pretraining": {key: value for key, value in settings.items() if key != "world_manifest_sha256"},
        "settings": settings,
        "final_loss": loss.item(),
        "dense_head_accuracy": dense_head_accuracy(head, probe_cells, probe_labels.to(device)),
        "linear_probe_accuracy": {"pretrained": probe_accuracies(probe_pooled, probe_scenes),
                                  "random": random_probe},
        "samples_per_s": samples_per_s,
    }
    return model, meta
