"""MNIST's own normalisation, applied to real-world uploads.

MNIST digits are light ink on a dark background, size-normalised so the longer side of the ink's
bounding box is 20 px (aspect ratio kept, anti-aliased), and pasted into a 28x28 field so that
the ink's centre of mass sits at the centre. Uploads are nothing like that: photos and scans of
dark ink on light paper, any size, off-centre, tinted, with alpha. :func:`normalize` maps one to
the other; each step is a small pure function so it can be tested on its own.

This is preprocessing version ``mnist-norm-1`` (:data:`VERSION`), kept for side-by-side
comparison; the service applies version 2 (:mod:`imaging.pipeline`), which reuses the last steps
here. Its output must never change under the same version string.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from imaging.contract import FIELD

VERSION = "mnist-norm-1"

#: MNIST's box: the longer side of the ink, inside the FIELD x FIELD field.
BOX = 20
#: Longest side the float pipeline works at; larger photos are shrunk first (speed).
WORK_SIDE = 256
#: Smallest spread between paper and ink (on a 0-1 scale) that still counts as a drawing.
MIN_CONTRAST = 0.12
#: Stretched ink below this is paper texture, JPEG ringing or sensor noise.
NOISE_FLOOR = 0.2
#: Fewest ink pixels (at work resolution) that make a digit rather than a speck.
MIN_INK_PIXELS = 12
#: Share of the ink mass trimmed from each side when cropping (ignores stray specks).
TRIM = 0.002
#: MNIST strokes cover roughly this share of the 20x20 box; thinner pen strokes are thickened.
TARGET_FILL = 0.18


class BlankImage(ValueError):  # noqa: N818 - a condition, not a failure of ours
    """The image holds no recognisable ink: nothing to classify."""


@dataclass(frozen=True, slots=True)
class Normalized:
    """The 28x28 uint8 image the model sees, plus what preprocessing found."""

    pixels: np.ndarray
    inverted: bool


def normalize(image: Image.Image) -> Normalized:
    """Turn a decoded upload into an MNIST-style 28x28 digit.

    Raises:
        BlankImage: there is no ink to speak of (blank page, flat colour, faint noise).
    """
    gray = to_gray(flatten_alpha(shrink(image)))
    ink, inverted = to_ink(gray)
    ink = remove_background(ink)
    crop = crop_to_ink(ink)
    crop = thicken_strokes(crop)
    digit = fit_box(crop)
    return Normalized(center_by_mass(digit), inverted)


def shrink(image: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    """Shrink so the longer side is at most ``side`` (photos are far larger than needed)."""
    if max(image.size) <= side:
        return image
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    return image.resize(size, Image.Resampling.BOX)


def flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite transparent pixels onto white paper; images without alpha pass through."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return _sixteen_to_eight(image)
    if not _has_alpha(image):
        return image
    rgba = image.convert("RGBA")
    paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(paper, rgba).convert("RGB")


def to_gray(image: Image.Image) -> np.ndarray:
    """Luma in [0, 1] as float32 (0 black, 1 white)."""
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def to_ink(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Make ink bright on a dark background, as in MNIST.

    Ink is a minority of the pixels, so the median is the background; if it lies nearer the
    lightest pixel than the darkest (paper), the image is inverted. Returns the ink image and
    whether it was inverted.
    """
    background = float(np.median(gray))
    inverted = background - float(gray.min()) > float(gray.max()) - background
    return (1.0 - gray if inverted else gray), inverted


def remove_background(ink: np.ndarray) -> np.ndarray:
    """Subtract the background level, stretch the ink to [0, 1] and zero the faint noise.

    Raises:
        BlankImage: the ink barely stands out from the background, or there is almost none.
    """
    background = float(np.median(ink))
    peak = float(np.percentile(ink, 99.9))
    if peak - background < MIN_CONTRAST:
        raise BlankImage("no digit found: the image is blank or has too little contrast")
    stretched = np.clip((ink - background) / (peak - background), 0.0, 1.0)
    stretched[stretched < NOISE_FLOOR] = 0.0
    if np.count_nonzero(stretched > 0.5) < MIN_INK_PIXELS:
        raise BlankImage("no digit found: too little ink in the image")
    return stretched


def crop_to_ink(ink: np.ndarray, trim: float = TRIM) -> np.ndarray:
    """Crop to the box holding all but ``trim`` of the ink mass on each side."""
    rows = _mass_span(ink.sum(axis=1), trim)
    cols = _mass_span(ink.sum(axis=0), trim)
    return ink[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1]


def thicken_strokes(crop: np.ndarray, target_fill: float = TARGET_FILL) -> np.ndarray:
    """Dilate thin pen strokes until they cover about as much of their box as MNIST strokes.

    MNIST strokes cover a fifth to two fifths of the digit's bounding box; a fine pen on a big
    photo covers far less and, shrunk to 20 px, would fade to faint lines. Dilation runs at 4x
    the final box size so one step adds a quarter of a final pixel. Strokes that are thick
    enough are returned untouched.
    """
    if _fill(crop) >= target_fill:
        return crop
    image = Image.fromarray(np.uint8(_resize(crop, 4 * BOX) * 255))
    for _ in range(8):
        image = image.filter(ImageFilter.MaxFilter(3))
        if _fill(np.asarray(image, dtype=np.float32) / 255.0) >= target_fill:
            break
    return np.asarray(image, dtype=np.float32) / 255.0


def fit_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio."""
    return _resize(crop, box)


def center_by_mass(digit: np.ndarray, field: int = FIELD) -> np.ndarray:
    """Paste into a ``field`` x ``field`` canvas with the ink's centre of mass at its centre."""
    h, w = digit.shape
    total = float(digit.sum())
    ys, xs = np.indices(digit.shape)
    cy = float((ys * digit).sum() / total) if total else h / 2
    cx = float((xs * digit).sum() / total) if total else w / 2
    top = int(np.clip(round(field / 2 - cy), 0, field - h))
    left = int(np.clip(round(field / 2 - cx), 0, field - w))
    canvas = np.zeros((field, field), dtype=np.uint8)
    canvas[top : top + h, left : left + w] = np.uint8(np.clip(digit, 0, 1) * 255 + 0.5)
    return canvas


def _resize(array: np.ndarray, longest: int) -> np.ndarray:
    h, w = array.shape
    scale = longest / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(array.astype(np.float32), mode="F").resize(size, resample)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _fill(ink: np.ndarray) -> float:
    return float(np.mean(ink > 0.5))


def _mass_span(profile: np.ndarray, trim: float) -> tuple[int, int]:
    cumulative = np.cumsum(profile)
    total = cumulative[-1]
    start = int(np.searchsorted(cumulative, total * trim, side="right"))
    end = int(np.searchsorted(cumulative, total * (1 - trim), side="left"))
    return min(start, end), max(start, end)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )


def _sixteen_to_eight(image: Image.Image) -> Image.Image:
    array = np.asarray(image, dtype=np.float64)
    peak = 65535.0 if array.max() > 255 else 255.0
    return Image.fromarray(np.uint8(np.clip(array / peak, 0, 1) * 255))
