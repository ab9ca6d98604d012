"""training.paper: digits rendered as photos and scans of real paper, as image files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageDraw

from training import paper

ALL = (*paper.CONDITIONS, "phone_small")
PNG_CONDITIONS = ("clean", "canvas")


@pytest.fixture(scope="module")
def seven() -> np.ndarray:
    """A synthetic MNIST-like "7": light strokes on black, uint8 [28, 28]."""
    image = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(image).line([(7, 6), (21, 6), (12, 23)], fill=255, width=3)
    return np.asarray(image)


def _digit(condition: str, seven: np.ndarray) -> np.ndarray | None:
    return None if condition == "no_digit" else seven


def _render(condition: str, seven: np.ndarray, seed: int) -> paper.Rendered:
    return paper.render(_digit(condition, seven), condition, np.random.default_rng(seed))


def _page(condition: str, seven: np.ndarray, seed: int) -> np.ndarray:
    page = paper.render_page(_digit(condition, seven), condition, np.random.default_rng(seed))
    assert page.mode == "RGB"
    return np.asarray(page)


def _rule_bands(pixels: np.ndarray) -> int:
    """How many separate bands of rows are darker (in red) than the rows around them."""
    rows = np.median(pixels[..., 0].astype(np.float32), axis=1)  # the digit is not the median
    around = np.median(sliding_window_view(np.pad(rows, 10, mode="edge"), 21), axis=1)
    dark = (around - rows) > 3.0
    return int(np.count_nonzero(dark[1:] & ~dark[:-1]) + dark[0])


def test_condition_lists() -> None:
    assert paper.CONDITIONS == (
        "clean",
        "photo",
        "ruled",
        "squared",
        "dotted",
        "shadow",
        "uneven_light",
        "pencil",
        "coloured_pen",
        "phone_12mp",
        "canvas",
        "no_digit",
    )
    assert set(paper.DIGIT_CONDITIONS) == set(paper.CONDITIONS) - {"no_digit"}
    assert set(paper.TRAINING_CONDITIONS) == (
        set(paper.DIGIT_CONDITIONS) - {"phone_12mp", "clean"} | {"phone_small"}
    )


@pytest.mark.parametrize("condition", ALL)
def test_renders_a_decodable_image_of_a_plausible_size(condition: str, seven) -> None:
    rendered = _render(condition, seven, seed=1)
    assert rendered.condition == condition
    image = Image.open(io.BytesIO(rendered.data))
    image.load()
    if condition in PNG_CONDITIONS:
        assert (image.format, rendered.content_type) == ("PNG", "image/png")
    else:
        assert (image.format, rendered.content_type) == ("JPEG", "image/jpeg")
        assert image.mode == "RGB"
    if condition == "phone_12mp":
        assert image.size in {(4032, 3024), (3024, 4032)}
        assert 1_000_000 < len(rendered.data) < 8_000_000
    elif condition == "phone_small":
        assert image.size in {(504, 378), (378, 504)}
    elif condition == "canvas":
        assert image.size == (320, 320)
    else:
        assert min(image.size) >= 40
        assert max(image.size) <= 1400


def test_canvas_pngs_are_opaque(seven) -> None:
    modes = set()
    for seed in range(8):
        image = Image.open(io.BytesIO(_render("canvas", seven, seed).data))
        modes.add(image.mode)
        if image.mode == "RGBA":
            assert image.getchannel("A").getextrema() == (255, 255)
    assert modes <= {"RGB", "RGBA"}


@pytest.mark.parametrize("condition", ALL)
def test_same_seed_same_bytes_other_seed_other_bytes(condition: str, seven) -> None:
    first = _render(condition, seven, seed=5)
    assert _render(condition, seven, seed=5) == first
    assert _render(condition, seven, seed=6).data != first.data


@pytest.mark.parametrize("condition", [c for c in ALL if c != "phone_12mp"])
def test_render_page_is_the_image_before_encoding(condition: str, seven) -> None:
    page = _page(condition, seven, seed=3).astype(np.int16)
    decoded = np.asarray(Image.open(io.BytesIO(_render(condition, seven, seed=3).data)))
    decoded = decoded[..., :3].astype(np.int16)
    assert decoded.shape == page.shape
    if condition in PNG_CONDITIONS:
        assert np.array_equal(decoded, page)
    else:
        assert np.abs(decoded - page).mean() < 6.0


@pytest.mark.parametrize("condition", [*paper.DIGIT_CONDITIONS, "phone_small"])
def test_the_digit_ink_is_darker_than_the_paper(condition: str, seven) -> None:
    for seed in range(2 if condition == "phone_12mp" else 4):
        grey = _page(condition, seven, seed).mean(axis=2)
        assert np.median(grey) - np.percentile(grey, 0.1) > 20.0, seed
        if condition in PNG_CONDITIONS:  # black ink on white
            assert grey.min() < 60
            assert np.median(grey) > 240


def test_ruled_pages_have_rules_and_plain_photos_do_not(seven) -> None:
    ruled = [_rule_bands(_page("ruled", seven, seed)) for seed in range(10)]
    plain = [_rule_bands(_page("photo", seven, seed)) for seed in range(10)]
    assert sum(bands >= 2 for bands in ruled) >= 9, ruled
    assert sum(bands >= 2 for bands in plain) <= 3, plain


def test_no_digit_renders_pages_without_a_digit() -> None:
    for seed in range(12):
        rendered = paper.render(None, "no_digit", np.random.default_rng(seed))
        assert rendered.content_type == "image/jpeg"
        Image.open(io.BytesIO(rendered.data)).load()


def test_float_digits_in_unit_range_are_accepted(seven) -> None:
    as_float = seven.astype(np.float32) / 255.0
    grey = np.asarray(paper.render_page(as_float, "clean", np.random.default_rng(0)).convert("L"))
    assert grey.min() < 60


def test_unknown_condition_is_rejected(seven) -> None:
    with pytest.raises(ValueError, match="unknown condition"):
        paper.render(seven, "watercolour", np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown condition"):
        paper.render_page(None, "", np.random.default_rng(0))


@pytest.mark.parametrize("condition", [*paper.DIGIT_CONDITIONS, "phone_small"])
def test_digit_conditions_need_a_digit(condition: str) -> None:
    with pytest.raises(ValueError, match="needs a digit"):
        paper.render(None, condition, np.random.default_rng(0))


def test_no_digit_refuses_a_digit(seven) -> None:
    with pytest.raises(ValueError, match="without a digit"):
        paper.render(seven, "no_digit", np.random.default_rng(0))


def test_a_digit_must_be_a_2d_image(seven) -> None:
    with pytest.raises(ValueError, match="2-D"):
        paper.render(np.stack([seven] * 3, axis=-1), "photo", np.random.default_rng(0))
