"""Model configuration (vision tower, prompt encoder, one of two decoder kinds) and the model verbs' configs.

Field names follow the upstream Hugging Face configs (Florence-2's DaViT/BART, Gemma-2) so that a size's
entry in `sizes.py` can be checked against its upstream `config.json` by eye. No torch import here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from florenz.config import option


@dataclass
class VisionConfig:
    """DaViT vision tower and the image adapter (2-D positions, pooled token, projection, LayerNorm)."""

    embed_dims: tuple[int, ...] = option((128, 256, 512, 1024), "channel width of each DaViT stage")
    depths: tuple[int, ...] = option((1, 1, 9, 1), "(spatial, channel) block pairs per stage")
    num_heads: tuple[int, ...] = option((4, 8, 16, 32), "window-attention heads per stage")
    num_groups: tuple[int, ...] = option((4, 8, 16, 32), "channel-attention groups per stage")
    patch_size: tuple[int, ...] = option((7, 3, 3, 3), "patch-embedding conv kernel per stage")
    patch_stride: tuple[int, ...] = option((4, 2, 2, 2), "patch-embedding conv stride per stage")
    patch_padding: tuple[int, ...] = option((3, 1, 1, 1), "patch-embedding conv padding per stage")
    patch_prenorm: tuple[bool, ...] = option((False, True, True, True), "LayerNorm before the conv")
    window_size: int = option(12, "side of the non-overlapping attention windows")
    mlp_ratio: float = option(4.0, "MLP hidden width / stage width")
    drop_path_rate: float = option(0.1, "stochastic depth, rising linearly over all blocks")
    projection_dim: int = option(768, "width of the projected image tokens (= encoder width)")
    max_grid_side: int = option(50, "rows/columns of the learned 2-D position table")

    @property
    def total_stride(self) -> int:
        stride = 1
        for s in self.patch_stride:
            stride *= s
        return stride

    def num_image_tokens(self, image_size: int) -> int:
        """1 pooled token + one per grid cell: 1 + (R/stride)^2 (50 at 224 px for stride 32)."""
        side = image_size // self.total_stride
        return 1 + side * side

    def __post_init__(self) -> None:
        stages = len(self.embed_dims)
        for name in ("depths", "num_heads", "num_groups", "patch_size", "patch_stride", "patch_padding",
                     "patch_prenorm"):
            if len(getattr(self, name)) != stages:
                raise ValueError(f"vision.{name} has {len(getattr(self, name))} entries but embed_dims has "
                                 f"{stages}; give one per stage")


@dataclass
class EncoderConfig:
    """BART-style post-LN transformer encoder over [image tokens ; prompt tokens]."""

    vocab_size: int = option(51289, "prompt vocabulary (Florence-2 BART tokenizer + 1,024 task tokens)")
    d_model: int = option(768, "width")
    layers: int = option(6, "number of layers")
    attention_heads: int = option(12, "attention heads")
    ffn_dim: int = option(3072, "feed-forward hidden width")
    max_position_embeddings: int = option(1024, "longest [image ; prompt] sequence (table has +2 rows)")
    dropout: float = option(0.1, "hidden dropout")
    attention_dropout: float = option(0.1, "attention-probability dropout")
    activation_dropout: float = option(0.1, "dropout after the FFN activation")
    pad_token_id: int = option(1, "prompt padding id (BART: 1)")


@dataclass
class BartDecoderConfig:
    """Decoder A: Florence-2's BART decoder (post-LN, learned positions, cross-attention each layer)."""

    kind: Literal["bart"] = option("bart", "decoder kind")
    vocab_size: int = option(256000, "target vocabulary (Gemma-2 tokenizer)")
    d_model: int = option(768, "width")
    layers: int = option(6, "number of layers")
    attention_heads: int = option(12, "attention heads")
    ffn_dim: int = option(3072, "feed-forward hidden width")
    max_position_embeddings: int = option(1024, "longest target (table has +2 rows)")
    dropout: float = option(0.1, "hidden dropout")
    attention_dropout: float = option(0.1, "attention-probability dropout")
    activation_dropout: float = option(0.1, "dropout after the FFN activation")
    final_logit_softcapping: float | None = option(
        30.0, "logits become cap*tanh(z/cap); the reference hard-codes 30 (reference §9.2.9), None disables")


@dataclass
class Gemma2DecoderConfig:
    """Decoder B: Gemma-2 with gated cross-attention inserted (reference §1.8)."""

    kind: Literal["gemma2"] = option("gemma2", "decoder kind")
    vocab_size: int = option(256000, "target vocabulary")
    hidden_size: int = option(2304, "width H")
    intermediate_size: int = option(9216, "MLP hidden width")
    num_hidden_layers: int = option(26, "number of layers")
    num_attention_heads: int = option(8, "query heads")
    num_key_value_heads: int = option(4, "key/value heads (grouped-query attention)")
    head_dim: int = option(256, "width of one head")
    query_pre_attn_scalar: float = option(256, "attention scale is query_pre_attn_scalar**-0.5")
    attn_logit_softcapping: float | None = option(50.0, "attention logits soft-cap")
    final_logit_softcapping: float | None = option(30.0, "output logits soft-cap")
    sliding_window: int = option(4096, "window of the sliding-attention layers (even layer indices)")
    rope_theta: float = option(10000.0, "RoPE base")
    rms_norm_eps: float = option(1e-6, "RMSNorm epsilon")
    max_position_embeddings: int = option(8192, "longest target")
    cross_attention_every: int = option(1, "insert gated cross-attention in every N-th layer")
    cross_attention_prenorm: bool = option(
        False, "RMSNorm the cross-attention query input; the reference feeds the raw residual (§9.2.19)")

    def __post_init__(self) -> None:
        if self.cross_attention_every < 1:
            raise ValueError(f"decoder.cross_attention_every is {self.cross_attention_every}; use 1 (every "
                             f"layer, the paper's) or a larger N for every N-th layer")
        if self.num_key_value_heads < 1 or self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"decoder.num_attention_heads ({self.num_attention_heads}) is not a multiple of "
                             f"decoder.num_key_value_heads ({self.num_key_value_heads}); grouped-query "
                             f"attention needs a key-value head count that divides the query heads")


DecoderConfig = BartDecoderConfig | Gemma2DecoderConfig


@dataclass
class ModelConfig:
    """A whole Florenz model. Special ids follow the Gemma-2 tokenizer (pad 0, eos 1, bos 2)."""

    name: str = option("custom", "size name in the ladder, or 'custom'")
    vision: VisionConfig = option(VisionConfig(), "vision tower")
    encoder: EncoderConfig = option(EncoderConfig(), "prompt encoder")
    decoder: DecoderConfig = option(BartDecoderConfig(), "decoder (kind: bart or gemma2)")
    image_size: int = option(224, "training image side in pixels")
    pad_token_id: int = option(0, "target padding id")
    eos_token_id: int = option(1, "target end id")
    bos_token_id: int = option(2, "target begin id")
    decoder_start_token_id: int = option(1, "first decoder input: <eos>, as in the reference (§1.1)")
    attention: Literal["auto", "eager", "fused"] = option(
        "auto", "attention kernels: eager (matmuls and softmax, the reference), fused (PyTorch's SDPA for "
                "the encoder and BART decoder, FlexAttention for Gemma-2), auto (fused on CUDA, on CPU the "
                "one measured faster; florenz.model.attention)")

    def __post_init__(self) -> None:
        if self.image_size % self.vision.total_stride:
            raise ValueError(f"image_size {self.image_size} is not a multiple of the vision tower's total "
                             f"stride {self.vision.total_stride}; choose a multiple")
        if self.vision.projection_dim != self.encoder.d_model:
            raise ValueError(f"vision.projection_dim ({self.vision.projection_dim}) must equal "
                             f"encoder.d_model ({self.encoder.d_model})")


# --- the model verbs' configs (beside the model's, as every package keeps its verbs' configs in config.py)

@dataclass
class ModelListConfig:
    """`florenz model list` takes no options."""


@dataclass
class ModelInfoConfig:
    name: str = option(help="size name from `florenz model list`", positional=True)
    prompt_tokens: int = option(128, "prompt length for the FLOPs (the paper measures at 128)")
    target_tokens: int = option(128, "target length for the FLOPs (the paper measures at 128)")

    def __post_init__(self) -> None:
        for name in ("prompt_tokens", "target_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} is {getattr(self, name)}; give a token count "
                                 f">= 0")


@dataclass
class ModelMemoryConfig:
    """`florenz model memory`: one FSDP2 training step's memory per rank, from a dry run on fake tensors."""

    size: str = option("", "size name from `florenz model list`; empty: the paper's four sizes")
    world_size: int = option(8, "FSDP2 ranks (GPUs) the model is sharded over")
    memory_gb: float = option(80.0, "memory of one GPU in GB (1e9 bytes)")
    micro_batch: int = option(0, "samples per forward pass on one rank; 0: the largest that fits and divides "
                                 "the per-rank batch")
    batch_size: int = option(1024, "global batch in samples per optimizer step (paper: 1024)")
    activation_checkpointing: bool = option(False, "recompute each layer's activations in the backward pass "
                                                   "(florenz train --activation-checkpointing)")
    prompt_tokens: int = option(128, "prompt length (the paper trains with up to 128)")
    target_tokens: int = option(128, "target length (the paper trains with up to 128)")

    def __post_init__(self) -> None:
        for name in ("world_size", "batch_size", "prompt_tokens", "target_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} is {getattr(self, name)}; give a count >= 1")
        if self.memory_gb <= 0 or self.micro_batch < 0:
            raise ValueError(f"--memory-gb ({self.memory_gb}) must be positive and --micro-batch "
                             f"({self.micro_batch}) 0 or more")
        if self.batch_size % self.world_size:
            raise ValueError(f"--batch-size {self.batch_size} is not divisible by --world-size "
                             f"{self.world_size}; change one")
        if self.micro_batch and (self.batch_size // self.world_size) % self.micro_batch:
            raise ValueError(f"--micro-batch {self.micro_batch} does not divide the "
                             f"{self.batch_size // self.world_size} samples per rank and step")


@dataclass
class PrepareConfig:
    """`florenz prepare`: initial checkpoints of the paper's sizes from local Florence-2 / Gemma-2 weights."""

    florence: tuple[str, ...] = option(
        help="local Florence-2 checkpoint directories (base and/or large; transformers-native or original "
             "layout, with tokenizer.json), comma-separated")
    gemma: tuple[str, ...] = option(
        help="local Gemma-2 checkpoint directories (2b and/or 9b, with tokenizer.json), comma-separated")
    out: str = option("runs/pretrained", "output root: one checkpoint directory per prepared size")
    dtype: Literal["float32", "bfloat16"] = option("float32", "dtype of the written weights")
    overwrite: bool = option(False, "replace checkpoint directories that already exist")


@dataclass
class ExportConfig:
    """`florenz export`: a BART-kind run or checkpoint as a transformers Florence-2 directory."""

    run: str = option(help="run or checkpoint directory (config.json + model.safetensors)", positional=True)
    out: str = option(help="output directory for config.json + model.safetensors (transformers' "
                           "Florence2ForConditionalGeneration)")
    image_token_id: int = option(
        3, "prompt id that transformers replaces by the image tokens; pick one your prompts never contain "
           "(default: the world tokenizer's <unk>, which its byte-level BPE never emits)")
    drop_softcap: bool = option(
        False, "export a decoder that soft-caps its logits without the cap (Florence-2 has none): greedy "
               "decoding picks the same tokens, probabilities differ")
    overwrite: bool = option(False, "replace an earlier export in --out")
