"""The Florenz model: DaViT features -> image adapter -> BART encoder over [image ; prompt] -> decoder.

The decoder is Florence-2's BART decoder or Gemma-2 with gated cross-attention, picked by
`config.decoder.kind` (reference §1.1). Submodule names follow transformers' Florence-2
(`vision_tower`, `image_projection`, `image_proj_norm`, `image_position_embed`, encoder, decoder).

Shapes: `B` batch, `N` image tokens, `L` prompt tokens, `S = N + L` encoder length, `T` decoder length,
`Cv` vision width, `h`×`w` vision grid, `D` encoder width, `V` vocabulary.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from florenz.config import ConfigError, from_dict, to_dict
from florenz.errors import FlorenzError
from florenz.model.bart import normal_init_
from florenz.model.cache import KVCache
from florenz.model.checkpoint import (
    DEFAULT_MAX_SHARD_BYTES,
    load_state_dict_strict,
    load_weights,
    read_config,
    save_checkpoint,
)
from florenz.model.config import ModelConfig
from florenz.model.davit import DaViT
from florenz.model.decoder_bart import BartDecoder
from florenz.model.decoder_gemma2 import Gemma2Decoder
from florenz.model.encoder import BartEncoder

DECODERS = {"bart": BartDecoder, "gemma2": Gemma2Decoder}
MODEL_TYPE = "florenz"


def transformer_layers(module: nn.Module) -> list[nn.Module]:
    """The layers of every `layers` list (encoder, decoder): the units FSDP2 shards and activation
    checkpointing recomputes (florenz.train.distributed), and the memory dry run counts (model.memory)."""
    return [layer for name, child in module.named_modules()
            if name.endswith("layers") and isinstance(child, nn.ModuleList) for layer in child]


class ImagePositionEmbedding2D(nn.Module):
    """Learned 2-D positions: a column embedding (first half of the channels) and a row embedding (second)."""

    def __init__(self, width: int, max_grid_side: int) -> None:
        super().__init__()
        self.row_embeddings = nn.Embedding(max_grid_side, width // 2)
        self.column_embeddings = nn.Embedding(max_grid_side, width - width // 2)

    def forward(self, height: int, width: int) -> torch.Tensor:
        """Position of every grid cell, row-major: (h·w, Cv)."""
        limit = self.row_embeddings.num_embeddings
        if height > limit or width > limit:
            raise FlorenzError(f"the image gives a {height}x{width} feature grid but the position table has "
                               f"{limit} rows/columns; use smaller images or raise vision.max_grid_side")
        columns = self.column_embeddings.weight[:width]  # (w, Cv - Cv/2)
        rows = self.row_embeddings.weight[:height]  # (h, Cv/2)
        grid = torch.cat([columns.expand(height, -1, -1), rows[:, None].expand(-1, width, -1)], dim=-1)
        return grid.reshape(height * width, -1)


class FlorenzModel(nn.Module):
    """Image + prompt -> encoder states -> decoder logits; one code path for every size and decoder kind."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        vision_width, width = config.vision.embed_dims[-1], config.encoder.d_model
        self.vision_tower = DaViT(config.vision)
        self.image_position_embed = ImagePositionEmbedding2D(vision_width, config.vision.max_grid_side)
        # frame 0 of Florence-2's sinusoidal frame table: sin(0)=0 on even, cos(0)=1 on odd channels
        frame_embedding = torch.zeros(vision_width)
        frame_embedding[1::2] = 1.0
        self.register_buffer("image_frame_embedding", frame_embedding, persistent=False)
        self.image_projection = nn.Linear(vision_width, width, bias=False)  # Florence-2's x @ W
        self.image_proj_norm = nn.LayerNorm(width)
        normal_init_(self.image_position_embed)
        normal_init_(self.image_projection)
        self.encoder = BartEncoder(config.encoder, config.attention)
        self.decoder = DECODERS[config.decoder.kind](config.decoder, width, config.attention)

    @property
    def vision_frozen(self) -> bool:
        """True when no vision tower parameter requires grad; the tower then always runs in eval mode."""
        return not any(parameter.requires_grad for parameter in self.vision_tower.parameters())

    def train(self, mode: bool = True) -> FlorenzModel:
        """Like nn.Module.train, but a frozen vision tower stays in eval mode (no drop-path, §9.2.12)."""
        super().train(mode)
        if self.vision_frozen:
            self.vision_tower.eval()
        return self

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pixels (B, 3, H, W) -> image tokens (B, N, D): the grid mean first, then the grid, row-major."""
        grid, (h, w) = self.vision_tower(pixel_values)  # (B, h·w, Cv)
        grid = grid + self.image_position_embed(h, w) + self.image_frame_embedding  # (B, h·w, Cv)
        tokens = torch.cat([grid.mean(dim=1, keepdim=True), grid], dim=1)  # (B, N, Cv)
        return self.image_proj_norm(self.image_projection(tokens))  # (B, N, D)

    def encode(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
               attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels (B, 3, H, W), prompt ids and mask (B, L) -> encoder output (B, S, D) and its mask (B, S)."""
        image = self.encode_image(pixel_values)  # (B, N, D)
        prompt = self.encoder.embed_tokens(input_ids)  # (B, L, D)
        mask = torch.cat([attention_mask.new_ones(image.shape[:2]), attention_mask], dim=1)  # (B, S)
        return self.encoder(torch.cat([image, prompt.to(image.dtype)], dim=1), mask), mask

    def decode(self, decoder_input_ids: torch.Tensor, encoder_hidden: torch.Tensor | None,
               encoder_mask: torch.Tensor | None, cache: KVCache | None = None,
               logit_positions: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder ids (B, T) over the encoder output (B, S, D) -> float32 logits (B, T, V), or with
        logit_positions, a boolean (B, T), only those positions' (K, V)."""
        return self.decoder(decoder_input_ids, encoder_hidden, encoder_mask, cache, logit_positions)

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                decoder_input_ids: torch.Tensor, logit_positions: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, T, V) for decoder_input_ids (B, T) given images and prompts; with
        logit_positions, a boolean (B, T) (e.g. labels != ignore index), only those positions' (K, V)."""
        encoder_hidden, encoder_mask = self.encode(pixel_values, input_ids, attention_mask)
        return self.decode(decoder_input_ids, encoder_hidden, encoder_mask, logit_positions=logit_positions)

    def save_pretrained(self, directory: str | Path, max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES) -> None:
        """Write config.json and model.safetensors (sharded above max_shard_bytes) into directory."""
        config = {"model_type": MODEL_TYPE, "architectures": [type(self).__name__], **to_dict(self.config)}
        save_checkpoint(self, config, directory, max_shard_bytes)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> FlorenzModel:
        """Build the model from directory/config.json and load its weights strictly."""
        config_dict = read_config(directory, MODEL_TYPE, cls.__name__)
        try:
            config = from_dict(ModelConfig, config_dict)
        except ConfigError as error:
            raise FlorenzError(f"{Path(directory) / 'config.json'}: {error}") from None
        model = cls(config)
        load_state_dict_strict(model, load_weights(directory), str(directory))
        return model
