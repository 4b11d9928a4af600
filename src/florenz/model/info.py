"""`florenz model list` and `florenz model info NAME`: the size ladder as tables on stdout.

Everything shown is computed from the configs (no model is built): P and Pt under the paper's freezing
policy, layers and widths, decoder kind, image tokens at the size's image side and the forward FLOPs of
one sample at the paper's measurement lengths (128 prompt and 128 target tokens).
"""

from __future__ import annotations

import json

from florenz.config import to_dict
from florenz.model.accounting import (
    forward_flops,
    forward_flops_breakdown,
    parameter_breakdown,
    parameter_counts,
)
from florenz.model.config import Gemma2DecoderConfig, ModelConfig, ModelInfoConfig, ModelListConfig
from florenz.model.sizes import SIZES, get_size


def format_count(value: float) -> str:
    """428022016 -> '428.0M', 11221849642 -> '11.22B'."""
    if value >= 1e9:
        return f"{value / 1e9:.2f}B"
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    return f"{value / 1e3:.1f}k"


def _decoder_layers_and_width(config: ModelConfig) -> tuple[int, int]:
    decoder = config.decoder
    if isinstance(decoder, Gemma2DecoderConfig):
        return decoder.num_hidden_layers, decoder.hidden_size
    return decoder.layers, decoder.d_model


def _summary_row(config: ModelConfig) -> dict[str, str]:
    total, trainable = parameter_counts(config)
    layers, width = _decoder_layers_and_width(config)
    return {
        "name": config.name, "decoder": config.decoder.kind, "P": format_count(total),
        "Pt": format_count(trainable), "Pt/P": f"{trainable / total:.3f}",
        "vision widths": "/".join(map(str, config.vision.embed_dims)),
        "encoder": f"{config.encoder.layers}x{config.encoder.d_model}", "decoder layers": f"{layers}x{width}",
        "vocab enc/dec": f"{config.encoder.vocab_size}/{config.decoder.vocab_size}",
        "image": f"{config.image_size}px",
        "image tokens": str(config.vision.num_image_tokens(config.image_size)),
        "F": f"{forward_flops(config) / 1e9:.2f} GFLOP",
    }


def format_table(rows: list[dict[str, str]]) -> str:
    """Left-aligned columns with a header line."""
    columns = list(rows[0])
    widths = {column: max(len(column), *(len(row[column]) for row in rows)) for column in columns}
    lines = ["  ".join(column.ljust(widths[column]) for column in columns)]
    lines += ["  ".join(row[column].ljust(widths[column]) for column in columns) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def list_models(config: ModelListConfig) -> int:
    """Print every size of the ladder, one row each."""
    print(format_table([_summary_row(size) for size in SIZES.values()]))
    print("\nP: all parameters; Pt: trained under the paper's freezing policy; F: forward FLOPs (2 x MACs) "
          "of one sample with 128 prompt and 128 target tokens")
    return 0


def model_info(config: ModelInfoConfig) -> int:
    """Print one size: summary, parameters and FLOPs per part, and its full config as JSON."""
    size = get_size(config.name)
    print(format_table([_summary_row(size)]))
    parts = parameter_breakdown(size)
    flops = forward_flops_breakdown(size, size.image_size, config.prompt_tokens, config.target_tokens)
    print("\nparameters: " + ", ".join(f"{part} {format_count(count)}" for part, count in parts.items()))
    print(f"forward FLOPs at {config.prompt_tokens} prompt / {config.target_tokens} target tokens: "
          + ", ".join(f"{part} {value / 1e9:.3f}G" for part, value in flops.items()))
    print("\nconfig:\n" + json.dumps(to_dict(size), indent=2))
    return 0
