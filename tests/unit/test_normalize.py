"""MNIST normalisation: each invariant the model relies on, on synthetic digits."""

import numpy as np
import pytest
from PIL import Image

from imaging.contract import FIELD
from imaging.normalize import (
    BOX,
    TARGET_FILL,
    BlankImage,
    center_by_mass,
    crop_to_ink,
    normalize,
    thicken_strokes,
    to_ink,
)
from tests.support.drawing import centre_of_mass, draw_digit, ink_bbox


def _similar(a: np.ndarray, b: np.ndarray, tolerance: float = 12.0) -> bool:
    return float(np.abs(a.astype(int) - b.astype(int)).mean()) < tolerance


def test_output_is_a_28x28_uint8_field() -> None:
    pixels = normalize(draw_digit(7)).pixels
    assert pixels.shape == (FIELD, FIELD)
    assert pixels.dtype == np.uint8


def test_longer_side_of_the_ink_is_20_pixels() -> None:
    top, left, bottom, right = ink_bbox(normalize(draw_digit(7)).pixels, level=30)
    assert max(bottom - top, right - left) + 1 in (BOX - 1, BOX, BOX + 1)


def test_aspect_ratio_is_kept() -> None:
    top, left, bottom, right = ink_bbox(normalize(draw_digit(1)).pixels, level=30)
    assert (right - left) < (bottom - top) / 2


def test_centre_of_mass_is_the_centre() -> None:
    cy, cx = centre_of_mass(normalize(draw_digit(4)).pixels)
    assert abs(cy - FIELD / 2) < 1.0
    assert abs(cx - FIELD / 2) < 1.0


def test_dark_ink_on_paper_is_inverted_to_mnist_polarity() -> None:
    paper = normalize(draw_digit(7, ink=0, paper=255))
    screen = normalize(draw_digit(7, ink=255, paper=0))
    assert paper.inverted
    assert not screen.inverted
    assert _similar(paper.pixels, screen.pixels, tolerance=2)


def test_position_on_the_canvas_does_not_matter() -> None:
    left = normalize(draw_digit(7, box=(0.05, 0.1, 0.45, 0.5)))
    right = normalize(draw_digit(7, box=(0.5, 0.45, 0.9, 0.85)))
    assert _similar(left.pixels, right.pixels)


def test_size_of_the_picture_does_not_matter() -> None:
    small = normalize(draw_digit(4, size=60))
    large = normalize(draw_digit(4, size=1200))
    assert _similar(small.pixels, large.pixels, tolerance=15)


def test_transparent_background_is_paper() -> None:
    drawn = draw_digit(7)
    rgba = Image.new("RGBA", drawn.size, (0, 0, 0, 0))
    rgba.putalpha(Image.eval(drawn, lambda v: 255 - v))  # ink opaque, paper transparent
    assert _similar(normalize(rgba).pixels, normalize(drawn).pixels, tolerance=3)


def test_colour_tint_does_not_matter() -> None:
    drawn = np.asarray(draw_digit(7), dtype=np.float32) / 255
    paper, ink = np.array([1.0, 0.9, 0.7]), np.array([0.1, 0.1, 0.5])
    tinted = Image.fromarray(np.uint8((ink + drawn[..., None] * (paper - ink)) * 255), "RGB")
    assert _similar(normalize(tinted).pixels, normalize(draw_digit(7)).pixels, tolerance=6)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (100, 100), 255),
        Image.new("RGB", (50, 80), (120, 130, 140)),
        Image.fromarray(np.uint8(200 + np.random.default_rng(0).normal(0, 3, (64, 64)))),
        Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
    ],
    ids=["white", "flat-grey", "faint-noise", "transparent"],
)
def test_blank_images_hold_no_digit(image: Image.Image) -> None:
    with pytest.raises(BlankImage):
        normalize(image)


def test_a_stray_speck_does_not_move_the_crop() -> None:
    ink = np.zeros((200, 200), dtype=np.float32)
    ink[50:150, 90:110] = 1.0
    ink[5, 5] = 1.0
    crop = crop_to_ink(ink)
    assert crop.shape == (100, 20)


def test_thin_pen_strokes_are_thickened_to_mnist_weight() -> None:
    thin = np.asarray(draw_digit(7, size=800, width=0.004), dtype=np.float32) / 255
    ink, _ = to_ink(thin)
    crop = crop_to_ink(np.where(ink > 0.5, 1.0, 0.0).astype(np.float32))
    assert np.mean(crop > 0.5) < TARGET_FILL / 2
    assert np.mean(thicken_strokes(crop) > 0.5) >= TARGET_FILL


def test_thick_strokes_are_left_alone() -> None:
    crop = np.ones((20, 12), dtype=np.float32)
    assert thicken_strokes(crop) is crop


def test_centring_keeps_the_digit_inside_the_field() -> None:
    digit = np.zeros((20, 20), dtype=np.float32)
    digit[:, :3] = 1.0  # all mass on one edge: the shift must be clipped
    field = center_by_mass(digit)
    assert field.sum() == pytest.approx(digit.sum() * 255, rel=0.01)
