"""Rendering a scene graph to an RGB image (Pillow), and PNG encoding.

Shapes are drawn at twice the requested side and box-filtered down, which anti-aliases edges for about
the cost of one extra resize. Colours and sizes are chosen so that the distinctions the languages make are
plain to see: light vs dark blue (Russian голубой / синий), square vs rectangle (German Quadrat /
Rechteck, ...), big vs small.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw

from florenz.world.scene import SHADES, Scene, SceneObject

# RGB of every (colour, shade) a scene can hold; blue has no plain shade (scene.BLUE_SHADES).
_SHADE_RGB = {  # colour -> (light, plain, dark)
    "red": ((245, 140, 140), (220, 30, 30), (130, 10, 10)),
    "green": ((150, 225, 140), (40, 170, 50), (15, 90, 25)),
    "blue": ((120, 195, 250), None, (20, 35, 150)),
    "yellow": ((255, 240, 150), (245, 210, 0), (170, 140, 0)),
    "purple": ((205, 160, 235), (140, 50, 190), (85, 20, 120)),
    "orange": ((255, 195, 130), (250, 140, 20), (175, 85, 0)),
    "grey": ((200, 200, 200), (135, 135, 135), (75, 75, 75)),
}
COLOUR_RGB = {(colour, shade): rgb for colour, shades in _SHADE_RGB.items()
              for shade, rgb in zip(SHADES, shades) if rgb is not None}
BACKGROUND_RGB = {"white": (255, 255, 255), "beige": (235, 220, 185), "black": (0, 0, 0)}

# Half the extent of a shape, as a fraction of the image side: big objects cover ~3.4x the area of small
# ones, and a big object stays inside its cell of the scene's 3x3 grid.
RADIUS = {"small": 0.065, "big": 0.12}
RECTANGLE_ASPECT = 0.55  # height / width: clearly not a square
DIAMOND_ASPECT = 0.65  # width / height: a rhombus, never mistaken for a tilted square
_SUPERSAMPLING = 2


def _heart_outline(points: int = 48) -> np.ndarray:
    """The classic parametric heart, scaled into [-1, 1]^2 with y pointing down. (points, 2)"""
    t = np.linspace(0, 2 * math.pi, points, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    outline = np.stack([x, y], axis=1)
    outline -= (outline.max(axis=0) + outline.min(axis=0)) / 2
    return outline / np.abs(outline).max()


def _star_outline(points: int = 5, inner: float = 0.45) -> np.ndarray:
    """A point-up star with `points` tips; inner radius relative to the outer. (2 * points, 2)"""
    angles = -math.pi / 2 + np.arange(2 * points) * math.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


# Unit outlines in [-1, 1]^2 (y down); polygon shapes are these scaled by the object's radius.
_OUTLINES = {
    "triangle": np.array([[0.0, -1.0], [1.0, 0.75], [-1.0, 0.75]]),
    "star": _star_outline(),
    "heart": _heart_outline(),
    "diamond": np.array([[0.0, -1.0], [DIAMOND_ASPECT, 0.0], [0.0, 1.0], [-DIAMOND_ASPECT, 0.0]]),
}


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, side: int) -> None:
    cx, cy, r = obj.x * side, obj.y * side, RADIUS[obj.size] * side
    fill = COLOUR_RGB[(obj.colour, obj.shade)]
    if obj.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif obj.shape == "square":
        half = 0.85 * r  # about the circle's area, so a square does not look bigger than a circle
        draw.rectangle([cx - half, cy - half, cx + half, cy + half], fill=fill)
    elif obj.shape == "rectangle":
        draw.rectangle([cx - r, cy - RECTANGLE_ASPECT * r, cx + r, cy + RECTANGLE_ASPECT * r], fill=fill)
    else:
        outline = _OUTLINES[obj.shape] * r + (cx, cy)
        draw.polygon([tuple(point) for point in outline.tolist()], fill=fill)


def render_scene(scene: Scene, size: int = 96) -> np.ndarray:
    """The scene as an (H, W, 3) uint8 RGB array with H = W = `size`; deterministic."""
    side = size * _SUPERSAMPLING
    canvas = Image.new("RGB", (side, side), BACKGROUND_RGB[scene.background])
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        _draw_object(draw, obj, side)
    return np.asarray(canvas.reduce(_SUPERSAMPLING))  # box filter: anti-aliased edges


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes; the fastest zlib level, as shards favour build speed over size."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
