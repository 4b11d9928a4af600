"""Rendering a scene graph to an RGB image (Pillow), and PNG encoding.

Shapes are drawn at twice the requested side and box-filtered down, which anti-aliases edges for about
the cost of one extra resize. Colours and sizes are chosen so that the distinctions the languages make are
plain to see: light vs dark blue (Russian голубой / синий), square vs rectangle (German Quadrat /
Rechteck, ...), big vs small, and the two senses of each ambiguous English noun (scene.AMBIGUOUS_NOUNS):
a ribbon bow (two loops, a knot, two tails) vs an archery bow (an arc, its string and an arrow), a bat
(wings, ears) vs a club (a long tapered stick), a door key (ring, shaft, teeth) vs a keyboard key (a
rounded key cap with a letter), a nut (an acorn) vs a hardware nut (a hexagon with a round hole).
Every shape lies inside the square of half side RADIUS around its centre; holes and marks show the
background.
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


class _Pen:
    """Draws in unit coordinates ([-1, 1]^2 around the object's centre, y down) scaled by its radius."""

    def __init__(self, draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: tuple,
                 hole: tuple) -> None:
        self.draw, self.cx, self.cy, self.r, self.fill, self.hole = draw, cx, cy, r, fill, hole

    def _xy(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(self.cx + x * self.r, self.cy + y * self.r) for x, y in points]

    def _width(self, width: float) -> int:
        return max(1, round(width * self.r))

    def polygon(self, points: list[tuple[float, float]], hole: bool = False) -> None:
        self.draw.polygon(self._xy(points), fill=self.hole if hole else self.fill)

    def mirrored(self, points: list[tuple[float, float]], hole: bool = False) -> None:
        """The polygon and its mirror image across the vertical axis."""
        self.polygon(points, hole)
        self.polygon([(-x, y) for x, y in points], hole)

    def ellipse(self, x: float, y: float, rx: float, ry: float, hole: bool = False) -> None:
        self.draw.ellipse(self._xy([(x - rx, y - ry), (x + rx, y + ry)]),
                          fill=self.hole if hole else self.fill)

    def line(self, points: list[tuple[float, float]], width: float, hole: bool = False) -> None:
        self.draw.line(self._xy(points), fill=self.hole if hole else self.fill, width=self._width(width),
                       joint="curve")

    def arc(self, box: tuple[float, float, float, float], start: float, end: float, width: float) -> None:
        """Part of the outline of the ellipse in `box` (x0, y0, x1, y1), from `start` to `end` degrees
        (clockwise from 3 o'clock)."""
        self.draw.arc(self._xy([box[:2], box[2:]]), start, end, fill=self.fill, width=self._width(width))

    def rounded_box(self, box: tuple[float, float, float, float], radius: float, hole: bool = False) -> None:
        self.draw.rounded_rectangle(self._xy([box[:2], box[2:]]), radius * self.r,
                                    fill=self.hole if hole else self.fill)


def _bow_ribbon(pen: _Pen) -> None:
    """Two loops with their openings, a knot and two tails."""
    pen.mirrored([(-0.1, -0.35), (-0.6, -0.7), (-1.0, -0.55), (-1.0, 0.05), (-0.6, 0.2), (-0.1, 0.0)])
    pen.ellipse(-0.62, -0.25, 0.2, 0.14, hole=True)
    pen.ellipse(0.62, -0.25, 0.2, 0.14, hole=True)
    pen.mirrored([(-0.1, -0.05), (0.05, 0.0), (-0.3, 0.95), (-0.6, 0.8)])
    pen.ellipse(0.0, -0.17, 0.22, 0.22)


def _bow_weapon(pen: _Pen) -> None:
    """A bent limb (the left half of an ellipse), its string, and an arrow across it pointing left."""
    pen.arc((-0.75, -0.95, 1.65, 0.95), 90, 270, width=0.24)
    pen.line([(0.45, -0.92), (0.45, 0.92)], width=0.1)
    pen.line([(-0.8, 0.0), (0.95, 0.0)], width=0.12)
    pen.polygon([(-1.0, 0.0), (-0.7, -0.22), (-0.7, 0.22)])


def _bat_animal(pen: _Pen) -> None:
    """Spread wings with a scalloped trailing edge, a small body and two ears."""
    pen.mirrored([(0.0, -0.42), (-0.14, -0.4), (-0.22, -0.75), (-0.3, -0.3), (-0.6, -0.6), (-1.0, -0.6),
                  (-0.88, 0.2), (-0.7, 0.05), (-0.52, 0.4), (-0.36, 0.2), (-0.2, 0.55), (0.0, 0.7)])


def _bat_club(pen: _Pen) -> None:
    """A long stick from a thin handle with a knob (bottom left) to a thick rounded barrel (top right)."""
    axis = np.array([1.0, -1.0]) / math.sqrt(2)
    across = np.array([1.0, 1.0]) / math.sqrt(2)
    handle, barrel = -1.05, 0.85  # along the axis
    profile = [(handle, 0.08), (-0.3, 0.08), (barrel, 0.2)]  # (position along the axis, half width)
    side = [tuple(t * axis + w * across) for t, w in profile]
    other = [tuple(t * axis - w * across) for t, w in reversed(profile)]
    pen.polygon(side + other)
    pen.ellipse(*(barrel * axis), 0.2, 0.2)
    pen.ellipse(*(handle * axis), 0.14, 0.14)


def _key_door(pen: _Pen) -> None:
    """A ring with its hole (left), a shaft, and two teeth below its end."""
    pen.ellipse(-0.58, 0.0, 0.4, 0.4)
    pen.ellipse(-0.58, 0.0, 0.18, 0.18, hole=True)
    pen.polygon([(-0.25, -0.1), (1.0, -0.1), (1.0, 0.1), (-0.25, 0.1)])
    pen.polygon([(0.5, 0.0), (0.65, 0.0), (0.65, 0.4), (0.5, 0.4)])
    pen.polygon([(0.8, 0.0), (1.0, 0.0), (1.0, 0.45), (0.8, 0.45)])


def _key_keyboard(pen: _Pen) -> None:
    """A rounded key cap, the edge of its top face, and a letter A on it."""
    pen.rounded_box((-0.85, -0.85, 0.85, 0.85), radius=0.3)
    pen.line([(-0.58, -0.62), (0.58, -0.62), (0.58, 0.48), (-0.58, 0.48), (-0.58, -0.62)], width=0.07,
             hole=True)
    pen.line([(-0.28, 0.3), (0.0, -0.42), (0.28, 0.3)], width=0.12, hole=True)
    pen.line([(-0.16, 0.02), (0.16, 0.02)], width=0.1, hole=True)


def _nut_food(pen: _Pen) -> None:
    """An acorn: a rounded body with a pointed tip, a wider cap set off by a gap, and a stem."""
    pen.ellipse(0.0, 0.3, 0.52, 0.6)
    pen.polygon([(-0.2, 0.8), (0.2, 0.8), (0.0, 1.0)])
    pen.line([(-0.6, -0.28), (0.6, -0.28)], width=0.1, hole=True)
    pen.draw.chord(pen._xy([(-0.72, -0.78), (0.72, 0.2)]), 180, 360, fill=pen.fill)
    pen.polygon([(-0.07, -0.98), (0.07, -0.98), (0.07, -0.7), (-0.07, -0.7)])


def _nut_hardware(pen: _Pen) -> None:
    """A regular hexagon with a round hole."""
    angles = np.arange(6) * math.pi / 3
    pen.polygon(list(zip(np.cos(angles).tolist(), np.sin(angles).tolist())))
    pen.ellipse(0.0, 0.0, 0.42, 0.42, hole=True)


_PICTURES = {"bow_ribbon": _bow_ribbon, "bow_weapon": _bow_weapon, "bat_animal": _bat_animal,
             "bat_club": _bat_club, "key_door": _key_door, "key_keyboard": _key_keyboard,
             "nut_food": _nut_food, "nut_hardware": _nut_hardware}


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, side: int, background: tuple) -> None:
    cx, cy, r = obj.x * side, obj.y * side, RADIUS[obj.size] * side
    fill = COLOUR_RGB[(obj.colour, obj.shade)]
    if obj.shape in _PICTURES:
        _PICTURES[obj.shape](_Pen(draw, cx, cy, r, fill, background))
    elif obj.shape == "circle":
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
    background = BACKGROUND_RGB[scene.background]
    canvas = Image.new("RGB", (side, side), background)
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        _draw_object(draw, obj, side, background)
    return np.asarray(canvas.reduce(_SUPERSAMPLING))  # box filter: anti-aliased edges


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes; the fastest zlib level, as shards favour build speed over size."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
