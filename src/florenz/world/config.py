"""Configuration of `florenz world build`."""

from __future__ import annotations

from dataclasses import dataclass

from florenz.config import option


@dataclass
class WorldConfig:
    out: str = option("runs/world", "output directory of the world")
    samples: int = option(20000, "number of training images (each carries several annotations)")
    seed: int = option(0, "seed of everything random in the world")
    image_size: int = option(96, "side of the rendered images in pixels")
    overwrite: bool = option(False, "replace a non-empty output directory")
