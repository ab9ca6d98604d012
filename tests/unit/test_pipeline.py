"""The preprocessing versions and mnist-norm-2 end to end, on synthetic pages."""

import contextlib
import io

import numpy as np
import pytest
from PIL import Image

from imaging.contract import FIELD
from imaging.decode import decode_image
from imaging.normalize import BOX, BlankImage
from imaging.pipeline import (
    DRAFT_SIDE,
    MIN_SIDE,
    PIPELINES,
    PREPROCESSING_VERSION,
    V1,
    V2,
    WORK_SIDE,
    dark_on_light,
    normalize_v2,
    preprocess,
    stretch,
    work_array,
)
from tests.support.drawing import centre_of_mass, draw_digit, ink_bbox


def _on_ruled_paper(digit: Image.Image, spacing: int = 60) -> Image.Image:
    page = np.asarray(digit.convert("RGB")).copy()
    page[spacing // 2 :: spacing, :] = (160, 190, 235)
    return Image.fromarray(page)


def _shadowed(image: Image.Image, factor: float = 0.5) -> Image.Image:
    page = np.asarray(image.convert("RGB")).astype(np.float32)
    page[:, page.shape[1] // 2 :] *= factor
    return Image.fromarray(np.uint8(page))


def _similar(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_the_service_applies_version_2_and_keeps_version_1() -> None:
    assert PREPROCESSING_VERSION == V2 == "mnist-norm-2.3"
    assert set(PIPELINES) == {V1, V2}
    image = draw_digit(7)
    assert preprocess(image, V1).pixels.shape == preprocess(image).pixels.shape


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown preprocessing version"):
        preprocess(draw_digit(7), "mnist-norm-9")


@pytest.mark.parametrize(("size", "longest"), [((4000, 3000), WORK_SIDE), ((300, 200), 300)])
def test_work_size_caps_large_images(size: tuple[int, int], longest: int) -> None:
    assert max(work_array(Image.new("RGB", size, "white")).shape[:2]) == longest


def test_tiny_images_are_enlarged() -> None:
    assert min(work_array(Image.new("L", (28, 28))).shape) == MIN_SIDE


def test_light_strokes_on_black_are_inverted() -> None:
    gray = np.asarray(draw_digit(7, ink=255, paper=0), np.float32) / 255
    flipped, inverted = dark_on_light(gray)
    assert inverted
    assert float(np.median(flipped)) > 0.9


def test_a_page_mostly_in_shadow_is_not_inverted() -> None:
    page = np.full((200, 300), 0.9, np.float32)
    page[:, 80:] *= 0.45  # the median is now the shadow
    page[80:120, 200:206] = 0.1
    _, inverted = dark_on_light(page)
    assert not inverted


def test_stretch_brings_strong_strokes_to_full_intensity() -> None:
    crop = np.array([[0.0, 0.2, 0.4], [0.4, 0.4, 0.0]], np.float32)
    assert float(stretch(crop).max()) == 1.0


def test_the_output_is_an_mnist_style_field() -> None:
    pixels = normalize_v2(draw_digit(4)).pixels
    assert pixels.shape == (FIELD, FIELD)
    top, left, bottom, right = ink_bbox(pixels, level=30)
    assert max(bottom - top, right - left) + 1 in (BOX - 1, BOX, BOX + 1)
    cy, cx = centre_of_mass(pixels)
    assert abs(cy - FIELD / 2) < 1.0
    assert abs(cx - FIELD / 2) < 1.0


@pytest.mark.parametrize("digit", [1, 4, 7])
def test_ruled_lines_do_not_change_the_digit(digit: int) -> None:
    plain = normalize_v2(draw_digit(digit, size=300)).pixels
    ruled = normalize_v2(_on_ruled_paper(draw_digit(digit, size=300))).pixels
    assert _similar(plain, ruled) > 0.9


@pytest.mark.parametrize("digit", [1, 4, 7])
def test_a_shadow_does_not_change_the_digit(digit: int) -> None:
    plain = normalize_v2(draw_digit(digit, size=300)).pixels
    shadowed = normalize_v2(_shadowed(draw_digit(digit, size=300))).pixels
    assert _similar(plain, shadowed) > 0.9


def test_a_page_of_rules_only_has_no_digit() -> None:
    with pytest.raises(BlankImage):
        normalize_v2(_on_ruled_paper(Image.new("L", (300, 300), 240)))


def test_a_shadow_alone_is_no_digit() -> None:
    with pytest.raises(BlankImage):
        normalize_v2(_shadowed(Image.new("L", (300, 300), 240)))


def _jpeg(image: Image.Image, exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=(exif or Image.Exif()).tobytes())
    return buffer.getvalue()


def test_large_jpegs_are_decoded_at_reduced_size() -> None:
    photo = Image.new("RGB", (4032, 3024), (235, 230, 220))
    decoded = decode_image(_jpeg(photo), 40_000_000, draft_side=DRAFT_SIDE)
    assert (decoded.width, decoded.height) == (504, 378)


def test_reduced_size_decoding_still_honours_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees to show upright
    decoded = decode_image(_jpeg(Image.new("RGB", (4032, 3024)), exif), 40_000_000, None, 448)
    assert (decoded.width, decoded.height) == (378, 504)


def test_small_jpegs_and_pngs_decode_at_full_size() -> None:
    small = decode_image(_jpeg(Image.new("RGB", (640, 480))), 40_000_000, draft_side=DRAFT_SIDE)
    assert (small.width, small.height) == (640, 480)


@pytest.mark.parametrize("size", [(1, 500), (500, 2), (5, 2000), (96, 65535), (1, 1), (2, 3)])
@pytest.mark.parametrize("version", [V1, V2])
def test_strips_a_pixel_or_two_thin_give_a_digit_or_blank_never_a_crash(
    size: tuple[int, int], version: str
) -> None:
    strip = Image.new("L", size, 255)
    strip.paste(0, (size[0] // 4, size[1] // 4, 3 * size[0] // 4 + 1, 3 * size[1] // 4 + 1))
    with contextlib.suppress(BlankImage):
        assert preprocess(strip, version).pixels.shape == (FIELD, FIELD)
