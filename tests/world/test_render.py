import io

import numpy as np
import pytest
from PIL import Image

from florenz.world.render import BACKGROUND_RGB, RADIUS, encode_png, render_scene
from florenz.world.scene import (
    AMBIGUOUS_NOUNS,
    BACKGROUNDS,
    CELL_JITTER,
    SHAPES,
    Scene,
    SceneObject,
    sample_scene,
)

WHITE = np.array([255, 255, 255])


def one_object(shape="circle", colour="red", shade="plain", size="big", background="white", x=0.5, y=0.5):
    obj = SceneObject(shape, colour, shade, size, x, y)
    return Scene(objects=(obj,), relations=(), background=background)


def object_mask(image: np.ndarray, background=WHITE) -> np.ndarray:
    """Pixels that differ clearly from the background. (H, W)"""
    return np.abs(image.astype(int) - background).sum(axis=-1) > 30


def test_render_is_deterministic_and_png_round_trips_exactly():
    scenes = [sample_scene(np.random.default_rng(seed)) for seed in range(5)]
    for scene in scenes:
        first, second = render_scene(scene, 96), render_scene(scene, 96)
        assert first.shape == (96, 96, 3) and first.dtype == np.uint8
        np.testing.assert_array_equal(first, second)
        png = encode_png(first)
        assert png == encode_png(second)
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), first)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_render_honours_any_size(size):
    assert render_scene(one_object(), size).shape == (size, size, 3)


def luma(rgb):
    """Perceived brightness, ITU-R BT.601 weights."""
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def test_light_and_dark_blue_are_far_apart_and_both_blue():
    light = render_scene(one_object(colour="blue", shade="light"), 96)[48, 48].astype(int)
    dark = render_scene(one_object(colour="blue", shade="dark"), 96)[48, 48].astype(int)
    assert luma(light) > 150 and luma(dark) < 70  # light vs dark at a glance
    assert np.abs(light - dark).sum() > 250
    for rgb in (light, dark):
        assert rgb[2] > rgb[0] and rgb[2] > rgb[1]  # blue dominates both


def test_big_object_covers_at_least_twice_the_pixels_of_a_small_one():
    for shape in SHAPES:
        big = object_mask(render_scene(one_object(shape=shape, size="big"), 96)).sum()
        small = object_mask(render_scene(one_object(shape=shape, size="small"), 96)).sum()
        assert big > 2.5 * small > 0, shape


def bounding_box(mask):
    rows, columns = np.nonzero(mask)
    return rows.max() - rows.min() + 1, columns.max() - columns.min() + 1


def test_shape_geometry_matches_closed_forms():
    """Fill ratio of the bounding box: circle pi/4, square and rectangle 1, triangle and diamond 1/2."""
    expected_fill = {"circle": np.pi / 4, "square": 1.0, "rectangle": 1.0, "triangle": 0.5, "diamond": 0.5}
    for shape, fill in expected_fill.items():
        mask = object_mask(render_scene(one_object(shape=shape), 192))
        height, width = bounding_box(mask)
        assert mask.sum() / (height * width) == pytest.approx(fill, abs=0.06), shape
    square_h, square_w = bounding_box(object_mask(render_scene(one_object(shape="square"), 192)))
    rect_h, rect_w = bounding_box(object_mask(render_scene(one_object(shape="rectangle"), 192)))
    assert square_w / square_h == pytest.approx(1.0, abs=0.05)
    assert rect_w / rect_h > 1.6  # clearly not a square: decides "box" -> Rechteck vs Quadrat


def test_backgrounds_fill_the_empty_image_and_differ():
    corners = {bg: tuple(render_scene(one_object(background=bg), 64)[0, 0]) for bg in BACKGROUNDS}
    assert corners["white"] == (255, 255, 255) and corners["black"] == (0, 0, 0)
    assert len(set(corners.values())) == len(BACKGROUNDS)


def test_object_is_drawn_where_the_scene_puts_it():
    image = render_scene(one_object(x=0.2, y=0.8, size="small"), 100)
    rows, columns = np.nonzero(object_mask(image))
    assert columns.mean() == pytest.approx(20, abs=1.5) and rows.mean() == pytest.approx(80, abs=1.5)


def iou(first: np.ndarray, second: np.ndarray) -> float:
    return (first & second).sum() / (first | second).sum()


# Measured: at 32 px the senses' masks overlap at most 0.44 (big, bow) and 0.67 (small, nut); at 96 px at
# most 0.47 (small nut: the acorn lies inside the hexagon). The same silhouette would give 1.0.
@pytest.mark.parametrize(("side", "size", "most"), [(32, "big", 0.5), (32, "small", 0.75), (96, "big", 0.5),
                                                    (96, "small", 0.5)])
def test_the_two_senses_of_each_ambiguous_noun_look_clearly_different(side, size, most):
    for noun, (first, second) in AMBIGUOUS_NOUNS.items():
        masks = [object_mask(render_scene(one_object(shape=shape, size=size), side))
                 for shape in (first, second)]
        assert masks[0].sum() > 0 and masks[1].sum() > 0, noun
        assert iou(*masks) < most, (noun, side, size, iou(*masks))


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_stays_inside_its_radius_and_its_cell(shape):
    """A big object jittered as far as scenes allow stays inside the centre cell [32, 64) of a 96 px image,
    and inside the square of half side RADIUS around its centre."""
    for dx, dy in ((CELL_JITTER, CELL_JITTER), (-CELL_JITTER, -CELL_JITTER), (CELL_JITTER, -CELL_JITTER)):
        x, y = 0.5 + dx, 0.5 + dy
        rows, columns = np.nonzero(object_mask(render_scene(one_object(shape=shape, x=x, y=y), 96)))
        assert rows.min() >= 32 and rows.max() < 64 and columns.min() >= 32 and columns.max() < 64, shape
        reach = RADIUS["big"] * 96 + 1  # one pixel of anti-aliasing
        assert np.abs(columns + 0.5 - x * 96).max() <= reach and np.abs(rows + 0.5 - y * 96).max() <= reach


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_holes_show_the_background(background):
    """The hardware nut's hole, the door key's ring and the ribbon bow's loops are cut out, on any
    background."""
    expected = np.array(BACKGROUND_RGB[background])
    holes = {"nut_hardware": (0.0, 0.0), "key_door": (-0.58, 0.0), "bow_ribbon": (-0.62, -0.25)}
    for shape, (hx, hy) in holes.items():
        image = render_scene(one_object(shape=shape, colour="purple", background=background), 96).astype(int)
        row, column = int(48 + hy * RADIUS["big"] * 96), int(48 + hx * RADIUS["big"] * 96)
        assert np.abs(image[row, column] - expected).sum() < 30, (shape, background)
        assert object_mask(image, expected).sum() > 0
