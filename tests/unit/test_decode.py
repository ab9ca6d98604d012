"""Safe decoding: what is accepted, and the status every kind of bad upload gets."""

import numpy as np
import pytest
from PIL import Image

from imaging.decode import ImageRejected, decode_image, decoded_pixels
from imaging.pipeline import preprocess_bytes, work_array
from tests.support import hostile
from tests.support.drawing import draw_digit
from tests.support.photos import EXIF_ORIENTATION

LIMIT = 40_000_000


def _digit_image(mode: str = "RGB") -> Image.Image:
    return Image.new(mode, (40, 30), "white" if mode != "L" else 255)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_allowed_formats_decode(fmt: str) -> None:
    decoded = decode_image(hostile.encode(_digit_image(), fmt), LIMIT)
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == (40, 30)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"hello, I am text", 400, "not a decodable image"),
        (hostile.truncated_png(), 400, "truncated"),
        (hostile.animated_gif(), 400, "multi-frame"),
        (hostile.png_bomb(), 413, "too large"),
        (hostile.tiff_16bit(), 415, "TIFF"),
        (hostile.cmyk_jpeg(), 415, "CMYK"),
        (hostile.SVG, 415, "SVG"),
    ],
    ids=["empty", "text", "truncated", "animated", "bomb", "tiff16", "cmyk", "svg"],
)
def test_bad_uploads_are_refused_with_their_status(data: bytes, status: int, words: str) -> None:
    with pytest.raises(ImageRejected) as refused:
        decode_image(data, LIMIT)
    assert refused.value.status == status
    assert words in refused.value.message


def test_pixel_limit_is_a_setting() -> None:
    data = hostile.encode(_digit_image(), "PNG")
    with pytest.raises(ImageRejected) as refused:
        decode_image(data, max_pixels=40 * 30 - 1)
    assert refused.value.status == 413


def test_declared_svg_type_is_refused_even_with_other_bytes() -> None:
    with pytest.raises(ImageRejected) as refused:
        decode_image(b"<html></html>", LIMIT, declared_type="image/svg+xml")
    assert refused.value.status == 415


def test_exif_orientation_is_applied() -> None:
    stored = Image.new("RGB", (40, 30), "white")  # stored sideways, shown 30 wide x 40 high
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    decoded = decode_image(hostile.encode(stored, "JPEG", exif=exif.tobytes()), LIMIT)
    assert (decoded.width, decoded.height) == (30, 40)


def test_a_sixteen_bit_png_decodes_to_its_levels_scaled_to_eight_bits() -> None:
    # 16-bit levels from 0 to 65535 in steps of about 4, on a 128x128 grey PNG: a size the
    # pipeline works at as it is, so the gray levels it takes are the decoded pixels, unresized.
    levels = np.linspace(0, 65535, 128 * 128).round().astype(np.uint16).reshape(128, 128)
    decoded = decode_image(hostile.encode(Image.fromarray(levels), "PNG"), LIMIT)
    assert (decoded.format, decoded.width, decoded.height) == ("PNG", 128, 128)
    assert decoded.image.mode in ("I;16", "I")  # kept at 16 bits: every level as stored
    np.testing.assert_array_equal(np.asarray(decoded.image), levels)

    gray = work_array(decoded.image)
    assert gray.dtype == np.uint8
    exact = levels.astype(np.float64) * 255 / 65535
    worst = float(np.abs(gray - exact).max())
    assert worst < 1, f"a gray level is {worst:.1f} steps off its v * 255 / 65535"
    assert (gray[0, 0], gray[-1, -1]) == (0, 255)


@pytest.mark.parametrize("exif", hostile.CORRUPT_EXIF.values(), ids=hostile.CORRUPT_EXIF.keys())
def test_corrupt_exif_is_ignored_and_the_image_used_as_stored(exif: bytes) -> None:
    decoded = decode_image(hostile.jpeg_with_exif(exif, size=(40, 30)), LIMIT)
    assert (decoded.format, decoded.width, decoded.height) == ("JPEG", 40, 30)


def test_corrupt_exif_still_reaches_the_digit_pipeline() -> None:
    data = hostile.encode(
        draw_digit(7).convert("RGB"), "JPEG", exif=hostile.CORRUPT_EXIF["short-tag-as-text"]
    )
    assert preprocess_bytes(data, LIMIT).pixels.shape == (28, 28)


def test_an_image_too_large_to_decode_is_413_before_any_pixel_is_decoded() -> None:
    big = hostile.encode(Image.new("L", (1000, 800), 255), "PNG")
    with pytest.raises(ImageRejected) as refused:
        decode_image(big, LIMIT, max_decoded_pixels=500_000)
    assert refused.value.status == 413
    assert "too large to decode" in refused.value.message


def test_a_large_jpeg_is_judged_by_its_reduced_decode() -> None:
    photo = hostile.encode(Image.new("RGB", (4032, 3024), "white"), "JPEG")
    assert decoded_pixels(photo, 448) == 504 * 378
    decoded = decode_image(photo, LIMIT, draft_side=448, max_decoded_pixels=1_000_000)
    assert (decoded.width, decoded.height) == (504, 378)


def test_decoded_pixels_reads_only_the_header_and_is_zero_for_garbage() -> None:
    assert decoded_pixels(hostile.encode(Image.new("L", (300, 200)), "PNG"), 448) == 60_000
    assert decoded_pixels(b"not an image", 448) == 0


def test_a_colour_jpeg_can_be_decoded_to_luma_alone() -> None:
    rng = np.random.default_rng(3)
    colours = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    photo = hostile.encode(Image.fromarray(colours).resize((800, 600)), "JPEG")
    full = decode_image(photo, LIMIT)
    gray = decode_image(photo, LIMIT, luma=True)
    assert (full.image.mode, gray.image.mode) == ("RGB", "L")
    difference = np.abs(
        np.asarray(full.image.convert("L"), np.int16) - np.asarray(gray.image, np.int16)
    )
    assert gray.image.size == full.image.size
    assert float(np.percentile(difference, 99)) <= 2


def test_luma_and_reduced_size_decoding_combine() -> None:
    photo = hostile.encode(Image.new("RGB", (4032, 3024), (200, 120, 40)), "JPEG")
    decoded = decode_image(photo, LIMIT, draft_side=448, luma=True)
    assert (decoded.image.mode, decoded.width, decoded.height) == ("L", 504, 378)
    assert abs(int(np.asarray(decoded.image)[100, 100]) - 135) <= 2  # 0.299R + 0.587G + 0.114B
