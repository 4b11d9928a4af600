"""Configuration of `florenz train`: the run, its data loader and its optimiser/schedule.

Defaults are the paper's continued-pretraining settings (reference §3.5) where they carry over to the
world; the batch is smaller (32 instead of 1,024) because world budgets are 10⁴–10⁶ samples, not 10⁷, and
the peak learning rate higher (see `OptimConfig.lr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from florenz.config import option


def precision_option() -> Any:
    """--precision of every verb that trains a model (train, pretrain vision, pretrain decoder)."""
    return option("auto", "bf16 autocast with fp32 weights, or fp32; auto: bf16 where measured faster: CUDA, "
                          "or a CPU with native bf16 and a model of >= 1 GFLOP forward per sample (world-s "
                          "and up; florenz.train.device.use_bf16)")


@dataclass
class LoaderConfig:
    """How training samples are read, mixed and tokenised."""

    split: str = option("train", "subdirectory of the data directory that holds the training shards")
    tokenizer: str = option("", "tokenizer.json (file or directory); empty: the data directory's own")
    prompt_tokenizer: str = option("", "separate prompt (encoder) tokenizer; empty: the same tokenizer")
    coverage: str = option("", "train only on these task:lang pairs, e.g. 'caption:en;translation:fr'; "
                               "empty: every pair in the data's manifest")
    balance: str = option("task-lang", "target mixture: 'task-lang' (uniform over categories), 'task' "
                                       "(uniform over tasks), 'lang' (uniform over languages) or weights "
                                       "'caption-en=2,translation-fr=1,...'")
    max_prompt_tokens: int = option(128, "prompt tokens kept, <bos>/<eos> included (reference: 128)")
    max_target_tokens: int = option(128, "target tokens kept, <bos>/<eos> included (reference: 128)")
    pad_to_multiple: int = option(16, "pad prompt and target lengths up to a multiple of this (masked, so "
                                      "the loss is unchanged): fewer distinct shapes, less CPU kernel memory")
    prefetch_steps: int = option(2, "optimizer steps of batches prepared ahead in a background thread; "
                                    "0 loads in the training thread")

    def __post_init__(self) -> None:
        if self.max_prompt_tokens < 2 or self.max_target_tokens < 2:
            raise ValueError("loader.max_prompt_tokens and loader.max_target_tokens must be at least 2 "
                             "(room for <bos> and <eos>)")
        if self.pad_to_multiple < 1:
            raise ValueError(f"loader.pad_to_multiple is {self.pad_to_multiple}; use 1 (no rounding) or more")
        if self.prefetch_steps < 0:
            raise ValueError(f"loader.prefetch_steps is {self.prefetch_steps}; use 0 or more")


@dataclass
class OptimConfig:
    """AdamW and its learning-rate schedule (reference §3.5; HF `adamw_torch` defaults)."""

    # The paper's 1e-4 (5e-5 fine-tuning) suits its pre-trained 0.4B-11B models; the world's small models
    # start from scratch and learn far faster at 1e-3 (world-xxs, 20k samples: final train loss 1.5 vs 5.7).
    lr: float = option(1e-3, "peak learning rate (paper: 1e-4 pretraining, 5e-5 fine-tuning of its sizes)")
    weight_decay: float = option(0.01, "decoupled weight decay (paper: 0.01 pretraining, 0.05 fine-tuning)")
    beta1: float = option(0.9, "AdamW β1")
    beta2: float = option(0.999, "AdamW β2")
    eps: float = option(1e-8, "AdamW ε")
    # transformers 5.x Trainer.get_decay_parameter_names: nn.LayerNorm modules, then these name patterns
    no_decay: tuple[str, ...] = option(
        ("LayerNorm", "bias", "layernorm", "rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"),
        "parameters without weight decay: 'LayerNorm', 'RMSNorm' and 'Embedding' match every parameter of "
        "such modules, anything else is a regular expression searched in the lower-cased parameter name "
        "(e.g. 'encoder_attn_gate'); default: transformers' Trainer, i.e. biases and every LayerNorm and "
        "RMSNorm weight (the reference's older transformers exempted LayerNorm only, §3.5)")
    grad_clip: float = option(1.0, "clip the global gradient norm to this; 0 disables")
    schedule: Literal["cosine", "wsd", "constant"] = option(
        "cosine", "cosine: warm-up then cosine to 0 (paper); wsd: warm-up, stable, decay over the last "
                  "cooldown_fraction (gives a cooled-down checkpoint per budget from one run)")
    warmup_steps: int = option(100, "linear warm-up steps from 0 to the peak (paper: 100)")
    cooldown_fraction: float = option(0.2, "wsd: share of each budget's steps spent decaying to 0")
    cooldown_shape: Literal["linear", "1-sqrt"] = option(
        "linear", "wsd: decay shape; '1-sqrt' is 1 - sqrt(progress) (Hägele et al. 2024)")

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"optim.lr is {self.lr}; use a positive learning rate")
        if not 0 < self.cooldown_fraction <= 1:
            raise ValueError(f"optim.cooldown_fraction is {self.cooldown_fraction}; use a value in (0, 1]")
        if self.warmup_steps < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            raise ValueError("optim.warmup_steps, optim.grad_clip and optim.weight_decay must be >= 0")


@dataclass
class TrainConfig:
    """One training run: model, data, budget, batch, precision, parallelism and checkpointing."""

    data: str = option("runs/world", "data directory: a world (florenz world build) or real shards in its "
                                     "layout")
    out: str = option("runs/train", "run directory; an existing one is resumed, a finished one left alone")
    size: str = option("", "model size from the ladder (florenz.model.sizes); empty: world-xxs, or with "
                           "--init the checkpoint's own size (another one is refused)")
    init: str = option("", "checkpoint directory to start from (fine-tuning, or VLM training after LM "
                           "pre-training); empty: fresh random weights")
    mode: Literal["vlm", "lm"] = option("vlm", "vlm: image+prompt -> target; lm: decoder-only language "
                                               "modelling on DATA/corpus/{lang}.txt")
    langs: str = option("all", "lm mode: corpus languages, 'all' or a list like 'de,fr'")
    samples: int = option(20000, "training budget in seen samples (rounded up to whole steps)")
    steps: int = option(0, "training budget in optimizer steps; overrides --samples when > 0")
    budgets: tuple[int, ...] = option((), "wsd: extra budgets in seen samples, each saved as a cooled-down "
                                          "checkpoint in OUT/budget-<samples>/ (e.g. 5e3,1e4)")
    batch_size: int = option(32, "global batch in samples per optimizer step (paper: 1024)")
    micro_batch_size: int = option(0, "samples per forward pass on one process; 0: auto, up to 8 on CPU "
                                      "under the token loss (florenz.train.device.auto_micro_batch_size), "
                                      "else batch_size / processes. Under the token loss a step's samples "
                                      "are sorted by length into micro-batches: less padding, same gradient")
    image_size: int = option(0, "image side fed to the model; 0: the model config's image_size")
    train_vision: bool = option(False, "also train the vision tower and adapter (frozen in the paper)")
    loss_reduction: Literal["token", "micro-batch"] = option(
        "token", "token: sum of token losses / all target tokens of the step over every process; "
                 "micro-batch: mean of per-micro-batch token means (the reference's HF Trainer)")
    precision: Literal["auto", "bf16", "fp32"] = precision_option()
    device: Literal["auto", "cpu", "cuda"] = option("auto", "auto: cuda when available, else cpu")
    threads: int = option(0, "CPU threads of this process (torch.set_num_threads); 0: torch's default. Two "
                             "1-thread runs side by side beat one 2-thread run on 2 cores (world.md)")
    parallel: Literal["auto", "ddp", "fsdp"] = option(
        "auto", "under torchrun: ddp replicates the model, fsdp shards it (FSDP2); auto: ddp")
    activation_checkpointing: bool = option(
        False, "keep only each encoder/decoder layer's input and recompute its activations in the backward "
               "pass: same loss and gradients, less memory (`florenz model memory`), ~1/3 more compute")
    seed: int = option(44595, "seed of initialisation, data order and balancing (paper: 44595)")
    save_every: int = option(200, "save a resumable checkpoint every N optimizer steps; 0: only at the end")
    keep_last: int = option(2, "resumable checkpoints kept in OUT/checkpoints/")
    log_every: int = option(10, "append a metrics.jsonl row every N optimizer steps")
    report_to: Literal["none", "tensorboard", "wandb"] = option(
        "none", "also log to TensorBoard or wandb (offline) if that package is installed")
    resume_with_changes: bool = option(False, "let a resume change optim.lr, optim.grad_clip, precision or "
                                              "skip_bad_samples (recorded in OUT/changes.jsonl); any other "
                                              "change needs a new --out")
    verify_data: bool = option(False, "also check the sha256 of every training shard against the data's "
                                      "manifest at start (reads all the data; counts are always checked)")
    skip_bad_samples: bool = option(False, "skip samples whose image does not decode and count them "
                                           "(skipped_samples in metrics.jsonl); default: stop, naming them")
    optim: OptimConfig = option(OptimConfig(), "optimizer and schedule")
    loader: LoaderConfig = option(LoaderConfig(), "data loading, balancing and tokenisation")

    def __post_init__(self) -> None:
        if self.samples <= 0 and self.steps <= 0:
            raise ValueError("give a positive budget: --samples N (seen samples) or --steps N")
        if self.batch_size <= 0 or self.micro_batch_size < 0:
            raise ValueError(f"batch_size ({self.batch_size}) must be positive and micro_batch_size "
                             f"({self.micro_batch_size}) non-negative")
        if self.budgets and self.optim.schedule != "wsd":
            raise ValueError("--budgets needs --optim.schedule wsd: only a warmup-stable-decay run can "
                             "branch cooled-down checkpoints off its stable phase")
        if any(budget <= 0 for budget in self.budgets):
            raise ValueError(f"budgets {list(self.budgets)} must be positive sample counts")
        if self.threads < 0:
            raise ValueError(f"threads is {self.threads}; use 0 (torch's default) or a positive count")
        if self.keep_last < 1 or self.save_every < 0 or self.log_every < 1:
            raise ValueError("keep_last and log_every must be >= 1, save_every >= 0")
