"""`florenz model memory`: a dry run of one training step's memory per rank under FSDP2, on fake tensors.

Per rank of N, for the trainer's CUDA settings (florenz.train: FSDP2 `fully_shard` of every encoder/decoder
layer and of the root, fp32 weights under bf16 autocast, AdamW, the paper's freezing policy):
- parameters: 4 bytes x P / N (sharded); gradients: 4 bytes x Pt / N (reduce-scattered into shards);
  optimizer: AdamW's two moments, 8 bytes x Pt / N;
- gathered: the unsharded parameters in use: the root's (embeddings, vision tower, adapter, norms; FSDP2
  keeps the root gathered from forward to backward) and two layers (the one computing and the prefetched
  one), with the full-size gradients of their trainable parts before the reduce-scatter;
- activations: the bytes autograd saves for the backward, counted with saved_tensors_hooks while the model
  runs a training forward and the loss on fake tensors (FakeTensorMode: shapes and dtypes, no memory),
  one count per storage, parameters left out. bf16 autocast saves a bf16 copy of each weight it multiplies,
  which is counted too. With activation checkpointing the step holds what lies outside the layers, each
  layer's inputs and one layer's activations at a time (recomputed in its backward). Plus the float32
  gradient of the logits, the backward's first and largest temporary.
RESERVE of the memory is kept back for the CUDA context, NCCL buffers and allocator fragmentation.
Shapes: `B` micro-batch, `L` prompt tokens, `T` target tokens, `V` vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from florenz.model.accounting import apply_freezing, count_parameters
from florenz.model.config import ModelConfig, ModelMemoryConfig
from florenz.model.florenz import FlorenzModel, transformer_layers
from florenz.model.info import format_table
from florenz.model.sizes import PAPER_SIZES, get_size

RESERVE = 0.10  # share of the device memory not planned for
GB = 1e9


def _storage(tensor: torch.Tensor) -> int:
    # the storage's identity for real and fake tensors alike (fake tensors have no data pointer)
    return tensor.untyped_storage()._cdata


@dataclass
class SavedActivations:
    """Bytes autograd saves in one forward, per storage: outside the layers, per layer, and layer inputs."""

    outside: dict[int, int]
    layers: list[dict[int, int]]
    inputs: dict[int, int]  # every tensor a layer is called with (hidden states, encoder output, masks)

    def held(self, checkpointing: bool) -> int:
        """The most bytes held at once for the backward."""
        if not checkpointing:
            return sum(self.outside.values()) + sum(sum(layer.values()) for layer in self.layers)
        kept = {**self.outside, **self.inputs}
        recomputed = max((sum(size for storage, size in layer.items() if storage not in kept)
                          for layer in self.layers), default=0)
        return sum(kept.values()) + recomputed


def count_saved_activations(model: FlorenzModel, batch: dict[str, torch.Tensor],
                            bf16: bool) -> SavedActivations:
    """Run a training forward of `model` and the token cross-entropy on `batch` (pixel_values, input_ids,
    attention_mask, decoder_input_ids, labels), recording what autograd saves; real or fake tensors."""
    parameters = {_storage(p) for p in model.parameters()}
    counted: set[int] = set()
    outside: dict[int, int] = {}
    inputs: dict[int, int] = {}
    layers = transformer_layers(model)
    per_layer: list[dict[int, int]] = [{} for _ in layers]
    running: list[int] = []  # index of the layer running now, if any

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = _storage(tensor)
        if storage not in parameters and storage not in counted:
            counted.add(storage)
            (per_layer[running[-1]] if running else outside)[storage] = tensor.untyped_storage().nbytes()
        return tensor

    def enter(index: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            running.append(index)
            for value in [*args, *kwargs.values()]:
                for tensor in value if isinstance(value, tuple) else (value,):
                    if isinstance(tensor, torch.Tensor):
                        inputs[_storage(tensor)] = tensor.untyped_storage().nbytes()
        return hook

    def leave(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        running.pop()

    handles = [layer.register_forward_pre_hook(enter(index), with_kwargs=True)
               for index, layer in enumerate(layers)]
    handles += [layer.register_forward_hook(leave) for layer in layers]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), autocast:
            logits = model(batch["pixel_values"], batch["input_ids"], batch["attention_mask"],
                           batch["decoder_input_ids"])  # (B, T, V)
            F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), reduction="sum")
    finally:
        for handle in handles:
            handle.remove()
    return SavedActivations(outside, per_layer, inputs)


def training_batch(config: ModelConfig, batch: int, prompt_tokens: int, target_tokens: int,
                   device: str = "cpu") -> dict[str, torch.Tensor]:
    """Random inputs of one micro-batch at the size's image side (under FakeTensorMode: fake ones)."""
    R, V = config.image_size, min(config.encoder.vocab_size, config.decoder.vocab_size)
    return {"pixel_values": torch.randn(batch, 3, R, R, device=device),
            "input_ids": torch.randint(3, V, (batch, prompt_tokens), device=device),
            "attention_mask": torch.ones(batch, prompt_tokens, dtype=torch.long, device=device),
            "decoder_input_ids": torch.randint(3, V, (batch, target_tokens), device=device),
            "labels": torch.randint(3, V, (batch, target_tokens), device=device)}


def _numel(parameters, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in parameters if p.requires_grad or not trainable_only)


def memory_plan(config: ModelConfig, world_size: int, checkpointing: bool, prompt_tokens: int,
                target_tokens: int) -> dict[str, float]:
    """Bytes per rank: the parts independent of the micro-batch, and activations as fixed + per sample."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with torch.device("meta"):
        model = FlorenzModel(config)
    with FakeTensorMode(allow_non_fake_inputs=True):  # the meta-built weights become fake on to_empty
        model.to_empty(device="cpu")
        apply_freezing(model)
        model.train()
        held = [count_saved_activations(model, training_batch(config, B, prompt_tokens, target_tokens),
                                        bf16=True).held(checkpointing) for B in (1, 2)]
    total, trainable = count_parameters(model)
    layers = transformer_layers(model)
    in_layers = {id(p) for layer in layers for p in layer.parameters()}
    root = [p for p in model.parameters() if id(p) not in in_layers]
    largest = max(layers, key=lambda layer: _numel(layer.parameters()))
    logits_gradient = 4 * target_tokens * config.decoder.vocab_size  # float32 (T, V) per sample
    per_sample = held[1] - held[0] + logits_gradient
    return {"P": total, "Pt": trainable, "parameters": 4 * total / world_size,
            "gradients": 4 * trainable / world_size, "optimizer": 8 * trainable / world_size,
            "gathered": 4 * (_numel(root) + _numel(root, True) + 2 * _numel(largest.parameters())
                             + _numel(largest.parameters(), True)),
            "activations_fixed": held[0] - (held[1] - held[0]), "activations_per_sample": per_sample}


def largest_micro_batch(plan: dict[str, float], memory_bytes: float) -> int:
    """The largest micro-batch whose step fits memory_bytes less the reserve (0: none fits)."""
    static = plan["parameters"] + plan["gradients"] + plan["optimizer"] + plan["gathered"]
    free = memory_bytes * (1 - RESERVE) - static - plan["activations_fixed"]
    return max(0, int(free // plan["activations_per_sample"]))


def model_memory(config: ModelMemoryConfig) -> int:
    """Print, per size, one FSDP2 training step's memory per rank and the largest micro-batch that fits."""
    from tqdm import tqdm

    names = [config.size] if config.size else list(PAPER_SIZES)
    for name in names:
        get_size(name)  # an unknown size fails before any dry run
    rows, notes = [], []
    per_rank = config.batch_size // config.world_size
    for name in tqdm(names, desc="dry run", unit="size", leave=False):
        plan = memory_plan(get_size(name), config.world_size, config.activation_checkpointing,
                           config.prompt_tokens, config.target_tokens)
        fits = largest_micro_batch(plan, config.memory_gb * GB)
        divisors = [m for m in range(1, per_rank + 1) if per_rank % m == 0]
        micro = config.micro_batch or max([m for m in divisors if m <= fits], default=1)
        activations = plan["activations_fixed"] + micro * plan["activations_per_sample"]
        peak = plan["parameters"] + plan["gradients"] + plan["optimizer"] + plan["gathered"] + activations
        rows.append({"size": name, "P": f"{plan['P'] / 1e9:.2f}B", "Pt": f"{plan['Pt'] / 1e9:.2f}B",
                     **{part: f"{plan[part] / GB:.1f}" for part in ("parameters", "gradients", "optimizer",
                                                                    "gathered")},
                     "act/sample": f"{plan['activations_per_sample'] / GB:.2f}",
                     "micro-batch": str(micro), "activations": f"{activations / GB:.1f}",
                     "peak": f"{peak / GB:.1f}", "largest fitting micro-batch": str(fits)})
        verdict = "fits" if micro <= fits else "does NOT fit"
        notes.append(f"{name}: global batch {config.batch_size} = {config.world_size} ranks x micro-batch "
                     f"{micro} x {per_rank // micro} accumulation steps: {verdict} ({peak / GB:.1f} of "
                     f"{config.memory_gb:g} GB per rank, {RESERVE:.0%} kept in reserve)")
    print(f"FSDP2 on {config.world_size} ranks, bf16 autocast, AdamW, "
          f"{'with' if config.activation_checkpointing else 'without'} activation checkpointing, "
          f"{config.prompt_tokens} prompt / {config.target_tokens} target tokens; GB per rank:")
    print(format_table(rows))
    print("\n" + "\n".join(notes))
    return 0
