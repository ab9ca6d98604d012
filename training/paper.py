"""Handwritten digits photographed or scanned on real paper, as the bytes of an image file.

``render`` turns an MNIST digit (uint8 [28, 28], light ink on a dark background) into what the
service receives from the field: a phone photo of a ruled notebook page, a scan of squared
paper, a 12-megapixel JPEG of a sheet on a desk, a PNG from a web page's drawing canvas, or a
page with no digit at all. The conditions in :data:`CONDITIONS` name those looks; training
augmentation uses :data:`TRAINING_CONDITIONS`, evaluation sets use :data:`CONDITIONS`.

How a page is made: paper colour, optional printed ruling (drawn with anti-aliased lines),
the digit upscaled from its 28x28 pixels to a pen stroke (warped, then thresholded with a soft
edge) and laid on as ink coverage with a multiplicative ink model, then lighting (gradient,
vignetting, a cast shadow), optical blur, sensor noise and JPEG compression. Sensor noise comes
from a fixed, lazily built noise bank (cropped at random offsets), which keeps a render at a few
milliseconds. Every other random choice comes from the caller's generator, so the same seed
gives the same bytes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

CONDITIONS: tuple[str, ...] = (
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
DIGIT_CONDITIONS: tuple[str, ...] = tuple(c for c in CONDITIONS if c != "no_digit")
# "phone_small" looks like "phone_12mp" decoded at 1/8 size (504x378): cheap enough for training.
TRAINING_CONDITIONS: tuple[str, ...] = (
    *(c for c in DIGIT_CONDITIONS if c not in ("phone_12mp", "clean")),
    "phone_small",
)

PHONE_SIZE = (4032, 3024)  # width, height of a 12 MP photo in landscape
CANVAS_SIZE = 320

_F32 = np.float32
_MIN_DIGIT = 24.0  # smallest digit height in pixels (MNIST ink is about 20 px tall)
_MARGIN = 3  # pixels kept free between the ink and the page edge

_NOISE_LEVELS = np.array([1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
_BANK = 512  # the noise bank is [_BANK, _BANK, 3] per level
_BLOCK = 384  # noise is added in blocks of at most this size, each from a random bank offset

_RULE_BLUE = ((150, 190), (180, 210), (220, 245))
_MARGIN_RED = ((215, 250), (70, 150), (90, 160))
_GRID_COLOURS = (
    ((160, 195), (160, 195), (160, 195)),  # grey
    ((140, 185), (175, 210), (215, 245)),  # light blue
    ((150, 190), (200, 230), (160, 195)),  # light green
)
_PENS = (
    (0.10, 0.25, 0.80),  # blue
    (0.80, 0.10, 0.15),  # red
    (0.10, 0.50, 0.25),  # green
    (0.45, 0.15, 0.65),  # purple
    (0.75, 0.40, 0.10),  # orange-brown
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
# Fast PNG: flat pages compress well without libpng's per-row filter search.
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendered image file.

    Attributes:
        data: The encoded image file (JPEG or PNG bytes).
        content_type: ``"image/jpeg"`` or ``"image/png"``.
        condition: The condition it was rendered under (one of :data:`CONDITIONS` or
            ``"phone_small"``).
    """

    data: bytes
    content_type: str
    condition: str


@dataclass(frozen=True, slots=True)
class _Output:
    pixels: np.ndarray  # uint8 [h, w, 3] RGB
    png: bool = False
    quality: int = 90
    rgba: bool = False


@dataclass(frozen=True, slots=True)
class _Rules:
    """Parallel printed lines: line k runs through (centre_x, first + k * spacing) with slope."""

    first: float
    spacing: float
    slope: float
    centre_x: float

    def y_at(self, k: int, x: float) -> float:
        return self.first + k * self.spacing + (x - self.centre_x) * self.slope


def render(digit: np.ndarray | None, condition: str, rng: np.random.Generator) -> Rendered:
    """Render a digit as an encoded photo, scan or canvas image under one condition.

    Args:
        digit: An MNIST digit, uint8 [28, 28] with light ink on a dark background (float
            arrays in [0, 1] work too). ``None`` for ``"no_digit"``, and only then.
        condition: One of :data:`CONDITIONS`, or ``"phone_small"``.
        rng: Source of every random choice; the same state gives the same bytes.

    Returns:
        The image file with its content type.

    Raises:
        ValueError: For an unknown condition, a missing digit, a digit given for
            ``"no_digit"`` or a digit that is not a 2-D array.
    """
    out = _build(digit, condition, rng)
    if out.png:
        code = cv2.COLOR_RGB2BGRA if out.rgba else cv2.COLOR_RGB2BGR
        ok, buffer = cv2.imencode(".png", cv2.cvtColor(out.pixels, code), _PNG_PARAMS)
        content_type = "image/png"
    else:
        params = [cv2.IMWRITE_JPEG_QUALITY, out.quality]
        ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(out.pixels, cv2.COLOR_RGB2BGR), params)
        content_type = "image/jpeg"
    if not ok:  # pragma: no cover - OpenCV only fails on impossible inputs
        raise RuntimeError(f"could not encode a {condition} image")
    return Rendered(buffer.tobytes(), content_type, condition)


def render_page(digit: np.ndarray | None, condition: str, rng: np.random.Generator) -> Image.Image:
    """The RGB image that :func:`render` encodes (same random choices), before compression.

    Args:
        digit: As for :func:`render`.
        condition: As for :func:`render`.
        rng: As for :func:`render`.

    Returns:
        An RGB Pillow image (4032x3024 or 3024x4032 for ``"phone_12mp"``).

    Raises:
        ValueError: As for :func:`render`.
    """
    return Image.fromarray(_build(digit, condition, rng).pixels, "RGB")


def _build(digit: np.ndarray | None, condition: str, rng: np.random.Generator) -> _Output:
    builder = _BUILDERS.get(condition)
    if builder is None:
        known = ", ".join((*CONDITIONS, "phone_small"))
        raise ValueError(f"unknown condition {condition!r}; expected one of: {known}")
    if condition == "no_digit":
        if digit is not None:
            raise ValueError("condition 'no_digit' renders a page without a digit: pass None")
        return builder(None, rng)
    if digit is None:
        raise ValueError(f"condition {condition!r} needs a digit, got None")
    return builder(_unit(digit), rng)


# --- the digit ------------------------------------------------------------------------------


def _unit(digit: np.ndarray) -> np.ndarray:
    """The digit as float32 ink coverage in [0, 1]."""
    array = np.asarray(digit)
    if array.ndim != 2 or min(array.shape) < 4:
        raise ValueError(f"a digit is a 2-D image such as uint8 [28, 28], got {array.shape}")
    unit = array.astype(_F32)
    if np.issubdtype(array.dtype, np.integer):
        unit /= 255.0
    return np.clip(unit, 0.0, 1.0)


def _glyph(
    unit: np.ndarray,
    height: float,
    rng: np.random.Generator,
    *,
    rotation: float = 8.0,
    extra_angle: float = 0.0,
    # Thresholds above about half the peak break the faint strokes many MNIST digits have: a
    # person's drawing of the digit would not be broken there.
    threshold: tuple[float, float] = (0.25, 0.55),
    edge: tuple[float, float] = (0.8, 2.2),
    smooth: float = 0.55,
    limit: tuple[float, float] | None = None,
) -> np.ndarray:
    """The digit as an ink-coverage patch whose ink is ``height`` pixels tall.

    The ink box of the 28x28 image is warped (scale, slant, aspect, rotation) straight to the
    target size with bicubic interpolation, smoothed by ``smooth`` source pixels, then
    thresholded with an anti-aliased edge ``edge`` pixels wide: a pen stroke rather than a
    blurry upscale. ``limit`` (height, width) caps the patch size. The returned patch keeps
    ``_MARGIN - 1`` empty pixels around the ink.
    """
    rows = np.flatnonzero(unit.max(axis=1) > 0.15)
    cols = np.flatnonzero(unit.max(axis=0) > 0.15)
    if rows.size == 0:  # an empty image: use the whole frame
        rows, cols = np.arange(unit.shape[0]), np.arange(unit.shape[1])
    x0, x1 = float(cols[0]) - 0.5, float(cols[-1]) + 0.5
    y0, y1 = float(rows[0]) - 0.5, float(rows[-1]) + 0.5
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    angle = math.radians(rng.uniform(-rotation, rotation) + extra_angle)
    rotate = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shape = rotate @ np.array([[rng.uniform(0.85, 1.15), rng.uniform(-0.2, 0.2)], [0.0, 1.0]])
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) - centre
    moved = corners @ shape.T
    lo, hi = moved.min(axis=0), moved.max(axis=0)
    scale = height / (y1 - y0)
    if limit is not None:
        room = np.array([limit[1], limit[0]]) - 2 * _MARGIN - 2
        scale = min(scale, float(np.min(room / np.maximum(hi - lo, 1e-6))))
    matrix = shape * scale
    pad = 1.5 * scale + 3
    size = np.ceil((hi - lo) * scale + 2 * pad).astype(int)
    offset = pad - lo * scale + rng.uniform(0.0, 1.0, 2)
    affine = np.hstack([matrix, (offset - matrix @ centre)[:, None]]).astype(np.float64)
    if smooth > 0.2:  # smooth in source pixels (cheap), then a little after the upscale
        unit = cv2.GaussianBlur(unit, (0, 0), smooth, borderType=cv2.BORDER_CONSTANT)
    patch = cv2.warpAffine(
        unit, affine, (int(size[0]) + 1, int(size[1]) + 1), flags=cv2.INTER_CUBIC
    )
    if scale > 2.5:
        patch = cv2.GaussianBlur(patch, (0, 0), min(0.2 * scale, 2.0))
    peak = float(patch.max())
    if peak <= 1e-3:
        return np.zeros((2 * _MARGIN, 2 * _MARGIN), _F32)
    level = rng.uniform(*threshold) * peak
    width = max(rng.uniform(*edge) * _edge_slope(patch, level, peak, scale), 1e-3)
    lo = max(level - width / 2, 0.05 * peak)  # no coverage where the digit has no ink
    hi = max(level + width / 2, lo + 1e-3)
    alpha = np.clip((patch - _F32(lo)) * _F32(1.0 / (hi - lo)), 0.0, 1.0)
    return _crop(alpha)


def _edge_slope(patch: np.ndarray, level: float, peak: float, scale: float) -> float:
    """How fast coverage changes per pixel across the stroke edge at ``level`` (median)."""
    band = np.abs(patch - _F32(level)) < _F32(0.08 * peak)
    if np.count_nonzero(band) < 8:
        return 0.5 * peak / scale  # a bicubic-upscaled MNIST edge: 0.5 per source pixel
    gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)[band]
    gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)[band]
    return float(np.median(np.sqrt(gx * gx + gy * gy)))


def _crop(alpha: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(alpha.max(axis=1) > 0.02)
    cols = np.flatnonzero(alpha.max(axis=0) > 0.02)
    if rows.size == 0:
        return np.zeros((2 * _MARGIN, 2 * _MARGIN), _F32)
    keep = _MARGIN - 1
    padded = np.pad(alpha, keep)
    return np.ascontiguousarray(
        padded[rows[0] : rows[-1] + 1 + 2 * keep, cols[0] : cols[-1] + 1 + 2 * keep]
    )


def _fit(glyph: np.ndarray, h: int, w: int) -> np.ndarray:
    """The glyph cut down (centrally) to at most h x w pixels."""
    gh, gw = glyph.shape
    top, left = max(0, (gh - h) // 2), max(0, (gw - w) // 2)
    return glyph[top : top + min(gh, h), left : left + min(gw, w)]


def _pressure(alpha: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Ink that thins out here and there (uneven pen pressure), by up to ``amount``."""
    if amount <= 0.0:
        return alpha
    h, w = alpha.shape
    small = rng.random((max(2, h // 12), max(2, w // 12)), dtype=_F32)
    field = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return alpha * np.clip(1.0 - amount * field, 0.0, 1.0)


def _graphite(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pencil: grainy, lighter coverage and sometimes a few short breaks in the strokes."""
    if rng.random() < 0.5:
        alpha = _breaks(alpha, rng, int(rng.integers(1, 3)))
    # Graphite thins the stroke but rarely leaves holes in it: grain dims, it does not erase.
    grain = np.asarray(
        cv2.GaussianBlur(rng.standard_normal(alpha.shape, dtype=_F32), (0, 0), 1.0), _F32
    )
    grain *= rng.uniform(0.08, 0.2) / max(float(grain.std()), 1e-6)
    alpha = alpha * np.clip(0.85 + grain, 0.45, 1.0)
    return alpha * _F32(rng.uniform(0.5, 0.9))


def _breaks(alpha: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """Cut ``count`` short gaps across the strokes (a digit in broken strokes is still one).

    Each cut is a thin ellipse centred on the stroke's mid-line, its long axis along the
    local gradient (across the stroke, from the structure tensor), 0.3-0.7 strokes long.
    """
    solid = (alpha > 0.5).astype(np.uint8)
    distance = cv2.distanceTransform(solid, cv2.DIST_L2, 3)
    inside = distance[solid > 0]
    if inside.size == 0:
        return alpha
    half = max(1.0, float(np.percentile(inside, 90)))  # half the stroke width
    ys, xs = np.nonzero(distance >= 0.75 * half)
    if ys.size == 0:
        return alpha
    gx = cv2.Sobel(alpha, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(alpha, cv2.CV_32F, 0, 1, ksize=3)
    reach = math.ceil(1.5 * half) + 1
    mask = np.ones(alpha.shape, _F32)
    for _ in range(count):
        pick = int(rng.integers(ys.size))
        y, x = int(ys[pick]), int(xs[pick])
        wx = gx[max(0, y - reach) : y + reach + 1, max(0, x - reach) : x + reach + 1]
        wy = gy[max(0, y - reach) : y + reach + 1, max(0, x - reach) : x + reach + 1]
        jxx, jyy, jxy = float((wx * wx).sum()), float((wy * wy).sum()), float((wx * wy).sum())
        across = 0.5 * math.degrees(math.atan2(2 * jxy, jxx - jyy))
        axes = (round((1.8 * half + 2) * 16), round((rng.uniform(0.3, 0.7) * half + 0.7) * 16))
        cv2.ellipse(mask, (x * 16 + 8, y * 16 + 8), axes, across, 0, 360, 0.0, -1, cv2.LINE_AA, 4)
    return alpha * mask


# --- paper ----------------------------------------------------------------------------------


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _colour(rng: np.random.Generator, ranges: tuple[tuple[int, int], ...]) -> np.ndarray:
    return np.array([rng.uniform(lo, hi) for lo, hi in ranges], _F32) / 255.0


def _paper_colour(rng: np.random.Generator, tinted: bool) -> np.ndarray:
    if not tinted:
        return np.full(3, rng.uniform(0.96, 1.0), _F32)
    kind = rng.choice(4, p=[0.35, 0.3, 0.15, 0.2])
    base = (
        (0.97, 0.965, 0.94),  # off-white
        (1.0, 0.96, 0.86),  # cream
        (0.9, 0.9, 0.9),  # grey
        (0.93, 0.91, 0.85),  # recycled
    )[kind]
    return np.clip(np.array(base, _F32) + rng.uniform(-0.03, 0.02, 3).astype(_F32), 0.0, 1.0)


def _camera_tint(rng: np.random.Generator) -> np.ndarray:
    """White balance and exposure of a photo: multiplies the whole page."""
    warm = rng.uniform(-0.06, 0.06)
    tint = np.array([1.0 + warm, 1.0 + rng.uniform(-0.02, 0.02), 1.0 - warm], _F32)
    return tint * _F32(rng.uniform(0.72, 1.02))


def _ink(rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "black":
        return np.full(3, rng.uniform(0.0, 0.12), _F32)
    if kind == "coloured":
        pen = np.array(_PENS[int(rng.integers(len(_PENS)))], _F32)
        return np.clip(pen + rng.uniform(-0.06, 0.06, 3).astype(_F32), 0.0, 1.0)
    if kind == "pencil":
        grey = rng.uniform(70, 150) / 255.0
        return np.array([grey, grey, grey * rng.uniform(1.0, 1.06)], _F32)
    pick = rng.random()
    if pick < 0.4:  # near-black
        return np.full(3, rng.uniform(0.04, 0.2), _F32) + rng.uniform(0, 0.03, 3).astype(_F32)
    if pick < 0.65:  # dark blue
        return _colour(rng, ((18, 40), (25, 50), (70, 115)))
    return _colour(rng, ((15, 40), (35, 65), (130, 180)))  # blue ballpoint


@dataclass(slots=True)
class _Sheet:
    """A page being built: paper colour, at most one full-page printed layer, ink patches.

    ``cover`` is the printed ruling's coverage (uint8 scaled by ``cover_scale``, or float32),
    in ``cover_colour``. Inks are (alpha, colour, top, left), laid on in order.
    """

    h: int
    w: int
    paper: np.ndarray
    cover: np.ndarray | None = None
    cover_scale: float = 1.0
    cover_colour: np.ndarray | None = None
    inks: list[tuple[np.ndarray, np.ndarray, int, int]] = field(default_factory=list)


def _develop(sheet: _Sheet, light: np.ndarray | None) -> np.ndarray:
    """The sheet under ``light`` (a float32 brightness map, or None: even) as uint8 RGB.

    Ink and print multiply the light reflected by the paper, so each channel is
    ``255 * paper * light * (1 - cover * (1 - colour))``, computed by OpenCV in one pass per
    channel; ink patches are multiplied into the result afterwards (the same product).
    """
    h, w = sheet.h, sheet.w
    if light is None and sheet.cover is None:
        pixels = np.empty((h, w, 3), np.uint8)
        pixels[:] = np.clip(np.rint(255.0 * sheet.paper), 0, 255).astype(np.uint8)
    else:
        if light is None:
            light = np.ones((h, w), _F32)
        shaded = None
        if sheet.cover is not None:
            shaded = cv2.multiply(light, sheet.cover, scale=sheet.cover_scale, dtype=cv2.CV_32F)
        channels = []
        for k in range(3):
            level = 255.0 * float(sheet.paper[k])
            if shaded is None or sheet.cover_colour is None:
                channels.append(cv2.convertScaleAbs(light, alpha=level))
            else:
                dip = -level * (1.0 - float(sheet.cover_colour[k]))
                channels.append(cv2.addWeighted(light, level, shaded, dip, 0.0, dtype=cv2.CV_8U))
        pixels = np.asarray(cv2.merge(channels), np.uint8)
    for alpha, colour, top, left in sheet.inks:
        _stamp(pixels, alpha, colour, top, left)
    return pixels


def _stamp(pixels: np.ndarray, alpha: np.ndarray, colour: np.ndarray, top: int, left: int) -> None:
    """Multiply ink of ``colour`` (its look on white paper) with coverage ``alpha`` in place."""
    region = pixels[top : top + alpha.shape[0], left : left + alpha.shape[1]]
    alpha = alpha[: region.shape[0], : region.shape[1]]
    factor = 1.0 - alpha[..., None] * (1.0 - colour)
    region[...] = cv2.multiply(region, factor, dtype=cv2.CV_8U)


def _line_canvas(
    shape: tuple[int, int],
    rules: _Rules,
    thickness: int,
    vertical: bool = False,
    major: int = 0,
    minor_value: int = 255,
    count: int = 0,
) -> np.ndarray:
    """Anti-aliased straight lines as uint8 coverage; every ``major``-th one bolder.

    ``count`` > 0 draws just lines 0 .. count - 1 instead of all that cross the canvas.
    """
    h, w = shape
    canvas = np.zeros((h, w), np.uint8)
    along, across = (h, w) if vertical else (w, h)
    reach = abs(rules.slope) * along + rules.spacing
    first = math.floor((-reach - rules.first) / rules.spacing)
    last = math.ceil((across + reach - rules.first) / rules.spacing)
    if count:
        first, last = 0, count - 1
    majors: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for k in range(first, last + 1):
        a, b = rules.y_at(k, 0.0), rules.y_at(k, float(along))
        ends = ((a, 0.0), (b, float(along))) if vertical else ((0.0, a), (float(along), b))
        p, q = ((round(x * 16), round(y * 16)) for x, y in ends)
        if major and k % major == 0:
            majors.append((p, q))
        else:
            cv2.line(canvas, p, q, minor_value, thickness, cv2.LINE_AA, 4)
    for p, q in majors:
        cv2.line(canvas, p, q, 255, thickness + 1, cv2.LINE_AA, 4)
    return canvas


def _ruled(
    sheet: _Sheet, digit_height: float, rng: np.random.Generator, slope: float
) -> tuple[_Rules, float | None]:
    """Notebook rules and, on half the pages, a margin line; returns the rules and margin x."""
    h, w = sheet.h, sheet.w
    spacing = rng.uniform(0.6, 1.3) * digit_height
    rules = _Rules(rng.uniform(0, spacing), spacing, slope, w / 2)
    thickness = int(rng.integers(1, max(2, min(4, int(spacing / 9)) + 1)))
    sheet.cover = _line_canvas((h, w), rules, thickness)
    sheet.cover_scale = rng.uniform(0.4, 1.0) / 255.0
    sheet.cover_colour = _colour(rng, _RULE_BLUE)
    if rng.random() >= 0.5:
        return rules, None
    margin = rng.uniform(0.05, 0.25) * w
    lines = [margin] if rng.random() < 0.8 else [margin, margin + rng.uniform(3, 8)]
    colour, strength = _colour(rng, _MARGIN_RED), rng.uniform(0.5, 1.0)
    width = int(rng.integers(1, 4))
    drift = abs(slope) * h / 2 + width + 2
    start = max(0, math.floor(min(lines) - drift))
    stop = min(w, math.ceil(max(lines) + drift))
    if stop > start:
        strip = np.zeros((h, stop - start), np.uint8)
        for x in lines:
            line = _Rules(x - start, 1.0, -slope, h / 2)
            np.maximum(strip, _line_canvas(strip.shape, line, width, True, count=1), out=strip)
        sheet.inks.append((strip.astype(_F32) * _F32(strength / 255.0), colour, 0, start))
    return rules, max(lines) + width


def _squared(sheet: _Sheet, digit_height: float, rng: np.random.Generator, slope: float) -> None:
    """Graph paper: a grid of thin lines, sometimes every fifth one bolder."""
    h, w = sheet.h, sheet.w
    spacing = rng.uniform(0.35, 0.9) * digit_height
    thickness = int(rng.integers(1, 2 + (spacing > 14) + (spacing > 30)))
    major = 5 if rng.random() < 0.35 else 0
    minor = int(rng.uniform(150, 230)) if major else 255
    rows = _Rules(rng.uniform(0, spacing), spacing, slope, w / 2)
    cols = _Rules(rng.uniform(0, spacing), spacing, -slope, h / 2)
    canvas = _line_canvas((h, w), rows, thickness, major=major, minor_value=minor)
    other = _line_canvas((h, w), cols, thickness, True, major=major, minor_value=minor)
    sheet.cover = np.maximum(canvas, other, out=canvas)
    sheet.cover_scale = rng.uniform(0.45, 1.0) / 255.0
    sheet.cover_colour = _colour(rng, _GRID_COLOURS[int(rng.integers(len(_GRID_COLOURS)))])


def _dotted(sheet: _Sheet, digit_height: float, rng: np.random.Generator) -> None:
    """A dot grid; each dot is a product of two 1-D bumps, so the lattice costs one product."""
    spacing = max(6.0, rng.uniform(0.3, 0.8) * digit_height)
    radius = min(rng.uniform(1.2, 3.0), spacing / 4)
    sigma = radius / 1.9  # a Gaussian dot boosted x3 reaches half coverage at ``radius``

    def profile(n: int) -> np.ndarray:
        d = (np.arange(n, dtype=_F32) - _F32(rng.uniform(0, spacing))) % _F32(spacing)
        d = np.minimum(d, _F32(spacing) - d)
        return np.exp(-(d * d) / _F32(2 * sigma * sigma))

    cover = profile(sheet.h)[:, None] * (3.0 * profile(sheet.w))[None, :]
    sheet.cover = np.minimum(cover, 1.0, out=cover)
    sheet.cover_scale = rng.uniform(0.7, 1.0)
    colour = _colour(rng, _GRID_COLOURS[int(rng.integers(2))])
    sheet.cover_colour = colour * _F32(rng.uniform(0.6, 0.9))


def _text(sheet: _Sheet, rng: np.random.Generator) -> None:
    """A few lines of small printed text (letters only) in dark grey."""
    h, w = sheet.h, sheet.w
    size = max(8, round(rng.uniform(0.03, 0.065) * min(h, w)))
    font = _font(size)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    left = rng.uniform(0.04, 0.2) * w
    y = rng.uniform(0.05, 0.5) * h
    for _ in range(int(rng.integers(2, 8))):
        if y > h - 1.5 * size:
            break
        words: list[str] = []
        room = w - left - rng.uniform(0.03, 0.3) * w
        while True:
            word = "".join(rng.choice(list(_LETTERS), size=int(rng.integers(1, 10))))
            if rng.random() < 0.15:
                word = word.capitalize()
            if font.getlength(" ".join([*words, word])) > room:
                break
            words.append(word)
        draw.text((left, y), " ".join(words), fill=255, font=font)
        y += size * rng.uniform(1.3, 1.9)
    box = mask.getbbox()
    if box is not None:
        alpha = np.asarray(mask.crop(box), dtype=_F32) / 255.0
        sheet.inks.append((alpha, np.full(3, rng.uniform(0.15, 0.35), _F32), box[1], box[0]))


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


# --- lighting and camera --------------------------------------------------------------------


def _light(
    h: int,
    w: int,
    rng: np.random.Generator,
    *,
    texture: tuple[float, float] = (0.002, 0.01),
    gradient: tuple[float, float] = (1.0, 1.25),
    vignette: tuple[float, float] = (0.0, 0.12),
) -> np.ndarray:
    """Smooth illumination (float32 [h, w], 1 = full light): corner-to-corner gradient,
    vignetting and faint blotchiness of paper and light. Computed at 1/8 size and resized.
    """
    sh, sw = max(2, -(-h // 8)), max(2, -(-w // 8))
    x = np.linspace(-1, 1, sw, dtype=_F32)[None, :]
    y = np.linspace(-1, 1, sh, dtype=_F32)[:, None]
    # Gradient: brightness falls by ``ratio`` from one corner to the opposite one.
    ratio = rng.uniform(*gradient)
    angle = math.pi / 4 + math.pi / 2 * int(rng.integers(4)) + rng.uniform(-0.35, 0.35)
    c, s = math.cos(angle), math.sin(angle)
    k = _F32(math.log(ratio) / (2 * (abs(c) + abs(s))))
    small = np.exp(k * (x * _F32(c) - abs(c))) * np.exp(k * (y * _F32(s) - abs(s)))
    strength = rng.uniform(*vignette)
    if strength > 0:
        cx, cy = rng.uniform(-0.3, 0.3, 2)
        dx, dy = x - _F32(cx), y - _F32(cy)
        small *= np.maximum(
            (1.0 - _F32(strength / 2) * dx * dx) - _F32(strength / 2) * dy * dy, 0.2
        )
    grid = rng.standard_normal((max(2, h // 40), max(2, w // 40)), dtype=_F32)
    blotches = cv2.resize(grid, (sw, sh), interpolation=cv2.INTER_CUBIC)
    small *= 1.0 + _F32(rng.uniform(*texture)) * blotches
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _shadow(
    h: int, w: int, rng: np.random.Generator, near: tuple[float, float] | None = None
) -> np.ndarray:
    """A cast shadow over the page on one side of a random (slightly curved) line.

    The factor is 0.35-0.7 in the shadow and 1 outside, with a soft edge of 2-30 px (blurry
    edges are computed at reduced size). ``near`` (x, y) makes the edge pass close by there
    in 40% of the shadows.
    """
    angle = rng.uniform(0, 2 * math.pi)
    c, s = _F32(math.cos(angle)), _F32(math.sin(angle))
    if near is not None and rng.random() < 0.4:
        px, py = near[0] + rng.uniform(-0.1, 0.1) * w, near[1] + rng.uniform(-0.1, 0.1) * h
    else:
        px, py = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    soft = rng.uniform(2.0, 30.0) * 2.5
    bend = rng.uniform(-1.0, 1.0) / max(h, w) if rng.random() < 0.4 else 0.0
    depth = _F32(1 - rng.uniform(0.35, 0.7))
    step = int(min(8, max(1, soft // 5)))
    sh, sw = -(-h // step), -(-w // step)
    x = np.arange(sw, dtype=_F32)[None, :] * _F32(w / sw) + _F32((w / sw - 1) / 2 - px)
    y = np.arange(sh, dtype=_F32)[:, None] * _F32(h / sh) + _F32((h / sh - 1) / 2 - py)
    distance = x * c + y * s
    if bend:
        along = y * c - x * s
        distance += along * along * _F32(bend)
    t = np.clip(distance * _F32(1 / soft) + 0.5, 0.0, 1.0)
    factor = 1.0 - depth * (t * t * (3.0 - 2.0 * t))
    if step > 1:
        factor = cv2.resize(factor, (w, h), interpolation=cv2.INTER_LINEAR)
    return factor


@functools.cache
def _noise_bank(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed sensor noise at one strength as (positive part, negative part), uint8."""
    gen = np.random.default_rng(7_919 + level)
    lum = gen.standard_normal((_BANK, _BANK, 1), dtype=_F32)
    noise = 0.9 * lum + 0.45 * gen.standard_normal((_BANK, _BANK, 3), dtype=_F32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.55)
    noise *= _NOISE_LEVELS[level] / noise.std()
    noise = np.rint(noise)
    return np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8)


def _add_noise(pixels: np.ndarray, sigma: float, rng: np.random.Generator) -> None:
    """Add sensor noise of about ``sigma`` grey levels in place."""
    if sigma < 0.5:
        return
    plus, minus = _noise_bank(int(np.abs(_NOISE_LEVELS - sigma).argmin()))
    h, w = pixels.shape[:2]
    for y in range(0, h, _BLOCK):
        for x in range(0, w, _BLOCK):
            block = pixels[y : y + _BLOCK, x : x + _BLOCK]
            bh, bw = block.shape[:2]
            oy, ox = (int(v) for v in rng.integers(0, _BANK - _BLOCK + 1, size=2))
            cv2.add(block, plus[oy : oy + bh, ox : ox + bw], dst=block)
            cv2.subtract(block, minus[oy : oy + bh, ox : ox + bw], dst=block)


def _camera(
    pixels: np.ndarray,
    rng: np.random.Generator,
    *,
    blur: tuple[float, float] = (0.0, 1.2),
    noise: tuple[float, float] = (1.0, 4.0),
) -> np.ndarray:
    """What a camera adds to the scene: optical blur, then sensor noise."""
    sigma = rng.uniform(*blur)
    if sigma >= 0.3:
        pixels = cv2.GaussianBlur(pixels, (0, 0), sigma)
    _add_noise(pixels, rng.uniform(*noise), rng)
    return pixels


# --- pages ----------------------------------------------------------------------------------


def _page_size(
    rng: np.random.Generator,
    short: float,
    glyph: np.ndarray | None,
    aspect: tuple[float, float] = (1.0, 1.5),
) -> tuple[int, int]:
    long = short * rng.uniform(*aspect)
    h, w = (long, short) if rng.random() < 0.5 else (short, long)
    if glyph is not None:
        h = max(h, glyph.shape[0] + 2 * _MARGIN)
        w = max(w, glyph.shape[1] + 2 * _MARGIN)
    return round(h), round(w)


def _place(
    rng: np.random.Generator,
    page: tuple[int, int],
    glyph: np.ndarray,
    box: tuple[int, int, int, int] | None = None,
) -> tuple[int, int]:
    """A random top-left for the glyph fully inside ``box`` (top, left, bottom, right)."""
    top, left, bottom, right = box if box is not None else (0, 0, *page)
    gh, gw = glyph.shape
    y = rng.uniform(top + 1, max(top + 1, bottom - gh - 1))
    x = rng.uniform(left + 1, max(left + 1, right - gw - 1))
    return _clamp(page, glyph, y, x)


def _clamp(page: tuple[int, int], glyph: np.ndarray, y: float, x: float) -> tuple[int, int]:
    return (
        int(min(max(round(y), 0), page[0] - glyph.shape[0])),
        int(min(max(round(x), 0), page[1] - glyph.shape[1])),
    )


def _on_baseline(
    rng: np.random.Generator,
    page: tuple[int, int],
    glyph: np.ndarray,
    rules: _Rules,
    left: int,
    box: tuple[int, int, int, int] | None = None,
) -> tuple[int, int] | None:
    """A top-left that sits the glyph's bottom near a rule (crossing it as handwriting does)."""
    top, _, bottom, _ = box if box is not None else (0, 0, *page)
    gh, gw = glyph.shape
    ink = gh - 2 * (_MARGIN - 1)
    x = left + gw / 2
    sink = rng.uniform(-0.03, 0.15) * ink
    candidates = []
    k = math.floor((top - rules.y_at(0, x)) / rules.spacing)
    while rules.y_at(k, x) < bottom + rules.spacing:
        y = rules.y_at(k, x) + sink - gh + (_MARGIN - 1)
        if top + 1 <= y <= bottom - gh - 1:
            candidates.append(y)
        k += 1
    if not candidates:
        return None
    return _clamp(page, glyph, candidates[int(rng.integers(len(candidates)))], left)


def _paper_page(
    unit: np.ndarray | None,
    rng: np.random.Generator,
    *,
    short: tuple[float, float] = (120, 600),
    aspect: tuple[float, float] = (1.0, 1.5),
    fraction: tuple[float, float] = (0.15, 0.6),
    ruling: str = "plain",
    ink: str = "dark",
    tinted: bool = True,
    shadow: bool = False,
    gradient: tuple[float, float] = (1.0, 1.25),
    vignette: tuple[float, float] = (0.0, 0.12),
    text: bool = False,
) -> np.ndarray:
    """A photographed page (uint8 RGB) with the digit, ruling and lighting asked for."""
    side = _loguniform(rng, *short)
    height = max(_MIN_DIGIT, rng.uniform(*fraction) * side)
    glyph = None
    if unit is not None:
        if ink == "pencil":
            glyph = _glyph(unit, height, rng, threshold=(0.25, 0.5), edge=(1.2, 3.0))
            glyph = _graphite(glyph, rng)
        else:
            glyph = _pressure(_glyph(unit, height, rng), rng, rng.uniform(0.0, 0.15))
    h, w = _page_size(rng, side, glyph, aspect)
    sheet = _Sheet(h, w, _paper_colour(rng, tinted) * _camera_tint(rng))
    slope = math.tan(math.radians(rng.uniform(-0.6, 0.6)))
    rules, margin = None, None
    if ruling == "ruled":
        rules, margin = _ruled(sheet, height, rng, slope)
    elif ruling == "squared":
        _squared(sheet, height, rng, slope)
    elif ruling == "dotted":
        _dotted(sheet, height, rng)
    if text:
        _text(sheet, rng)
    near = None
    if glyph is not None:
        box = None
        if margin is not None and rng.random() < 0.85 and w - margin > glyph.shape[1] + 8:
            box = (0, int(margin) + 2, h, w)
        top, left = _place(rng, (h, w), glyph, box)
        if rules is not None:
            top, left = _on_baseline(rng, (h, w), glyph, rules, left) or (top, left)
        sheet.inks.append((glyph, _ink(rng, ink), top, left))
        near = (left + glyph.shape[1] / 2, top + glyph.shape[0] / 2)
    light = _light(h, w, rng, gradient=gradient, vignette=vignette)
    if shadow:
        light *= _shadow(h, w, rng, near)
    return _camera(_develop(sheet, light), rng)


def _jpeg(
    pixels: np.ndarray, rng: np.random.Generator, quality: tuple[int, int] = (55, 95)
) -> _Output:
    return _Output(pixels, quality=int(rng.integers(quality[0], quality[1] + 1)))


def _clean(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    height = rng.uniform(40, 120)
    glyph = _glyph(unit, height, rng, edge=(0.8, 1.6))
    h, w = _page_size(rng, height / rng.uniform(0.25, 0.6), glyph, aspect=(1.0, 1.4))
    sheet = _Sheet(h, w, np.ones(3, _F32))
    top, left = _place(rng, (h, w), glyph)
    sheet.inks.append((glyph, _ink(rng, "black"), top, left))
    return _Output(_develop(sheet, None), png=True)


def _photo(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    pixels = _paper_page(unit, rng, short=(80, 500), vignette=(0.05, 0.25))
    return _jpeg(pixels, rng)


def _ruled_page(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    pixels = _paper_page(
        unit, rng, short=(200, 600), aspect=(1.0, 1.35), fraction=(0.15, 0.5), ruling="ruled"
    )
    return _jpeg(pixels, rng)


def _squared_page(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    return _jpeg(_paper_page(unit, rng, fraction=(0.15, 0.5), ruling="squared"), rng)


def _dotted_page(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    return _jpeg(_paper_page(unit, rng, fraction=(0.15, 0.5), ruling="dotted"), rng)


def _shadow_page(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    ruling = "ruled" if rng.random() < 0.5 else "plain"
    return _jpeg(_paper_page(unit, rng, ruling=ruling, shadow=True), rng)


def _uneven_page(unit: np.ndarray | None, rng: np.random.Generator) -> _Output:
    ruling = "ruled" if rng.random() < 0.5 else "plain"
    pick = rng.random()
    gradient = (1.5, 3.0) if pick < 0.75 else (1.0, 1.2)
    vignette = (0.3, 0.6) if pick > 0.5 else (0.0, 0.1)
    pixels = _paper_page(unit, rng, ruling=ruling, gradient=gradient, vignette=vignette)
    return _jpeg(pixels, rng)


def _pencil(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    ruling = "ruled" if rng.random() < 0.3 else "plain"
    pixels = _paper_page(unit, rng, ruling=ruling, ink="pencil", tinted=rng.random() < 0.5)
    return _jpeg(pixels, rng)


def _coloured_pen(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    ruling = ("plain", "ruled", "squared")[int(rng.integers(3))]
    return _jpeg(_paper_page(unit, rng, ruling=ruling, ink="coloured"), rng)


def _canvas(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    size = CANVAS_SIZE
    glyph = _glyph(
        unit,
        rng.uniform(0.6, 0.9) * size,
        rng,
        rotation=4.0,
        threshold=(0.2, 0.45),
        edge=(0.9, 1.3),
        smooth=0.7,
        limit=(size, size),
    )
    glyph = _fit(glyph, size, size)
    gh, gw = glyph.shape
    y = (size - gh) / 2 + rng.uniform(-0.08, 0.08) * size
    x = (size - gw) / 2 + rng.uniform(-0.08, 0.08) * size
    top, left = _clamp((size, size), glyph, y, x)
    sheet = _Sheet(size, size, np.ones(3, _F32), inks=[(glyph, np.zeros(3, _F32), top, left)])
    return _Output(_develop(sheet, None), png=True, rgba=rng.random() < 0.5)


def _no_digit(unit: None, rng: np.random.Generator) -> _Output:
    kind = int(rng.integers(6))
    if kind < 3:
        pixels = _paper_page(None, rng, ruling=("ruled", "squared", "dotted")[kind])
    elif kind == 3:
        pixels = _paper_page(None, rng, shadow=True)
    elif kind == 4:
        pixels = _paper_page(None, rng, text=True)
    else:
        return _uneven_page(None, rng)
    return _jpeg(pixels, rng)


# --- phone photos ---------------------------------------------------------------------------


def _desk(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A table top as (brightness field [h, w], colour): wood with grain, or grey/dark."""
    pick = rng.random()
    blotches = rng.standard_normal((max(2, h // 80), max(2, w // 80)), dtype=_F32)
    field = np.asarray(cv2.resize(blotches, (w, h), interpolation=cv2.INTER_CUBIC), _F32)
    field *= _F32(rng.uniform(0.02, 0.06))
    if pick < 0.5:
        colour = _colour(rng, ((115, 170), (75, 110), (45, 70)))
        along_x = rng.random() < 0.5
        grid = (max(2, h // 3), max(2, w // 60)) if along_x else (max(2, h // 60), max(2, w // 3))
        # INTER_CUBIC lands in resize's `dst` slot here, so this resize is bilinear. Kept as it
        # is: passing it as `interpolation` changes every desk render, and with them the
        # published evaluation and the shipped model's training data (fix with a retrain).
        grain = cv2.resize(rng.standard_normal(grid, dtype=_F32), (w, h), cv2.INTER_CUBIC)  # type: ignore[call-overload]
        field += _F32(rng.uniform(0.03, 0.08)) * grain
    else:
        grey = rng.uniform(60, 140) if pick < 0.8 else rng.uniform(30, 60)
        colour = np.full(3, grey / 255.0, _F32) * _colour(rng, ((235, 255),) * 3)
    field += 1.0
    return field, colour


def _on_desk(
    pixels: np.ndarray,
    light: np.ndarray,
    inset: list[float],
    angle: float,
    tint: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """The photographed sheet, turned by ``angle`` degrees, lying on a desk that shows around it.

    ``inset`` (left, top, right, bottom) is how far each paper edge lies inside the frame.
    """
    h, w = pixels.shape[:2]
    left, top, right, bottom = inset
    cx, cy = (left + w - right) / 2, (top + h - bottom) / 2
    half_w, half_h = _F32((w - right - left) / 2), _F32((h - bottom - top) / 2)
    c, s = _F32(math.cos(math.radians(angle))), _F32(math.sin(math.radians(angle)))
    x = np.arange(w, dtype=_F32)[None, :] - _F32(cx)
    y = np.arange(h, dtype=_F32)[:, None] - _F32(cy)
    u = np.abs(x * c + y * s) - half_w
    v = np.abs(y * c - x * s) - half_h
    mask = np.clip(0.5 - u, 0.0, 1.0)
    mask *= np.clip(0.5 - v, 0.0, 1.0)
    field, colour = _desk(h, w, rng)
    # A soft contact shadow of the sheet on the desk.
    gap = np.maximum(np.maximum(u, v), 0.0)
    field *= 1.0 - _F32(rng.uniform(0.1, 0.35)) * np.exp(gap * _F32(-1 / rng.uniform(3, 12)))
    field *= light
    colour = colour * tint * 255.0
    desk = cv2.merge([cv2.convertScaleAbs(field, alpha=float(colour[k])) for k in range(3)])
    return cv2.blendLinear(pixels, desk, mask, 1.0 - mask)


def _phone(unit: np.ndarray, rng: np.random.Generator, *, full: bool) -> _Output:
    """A sheet photographed from above: 12 MP (built at 1/4 size, upscaled) or 1/8 size."""
    fw, fh = PHONE_SIZE if rng.random() < 0.5 else PHONE_SIZE[::-1]
    div = 4 if full else 8
    w, h = fw // div, fh // div
    angle = rng.uniform(-3.0, 3.0)
    slope = math.tan(math.radians(angle))
    # Insets of the paper edges (left, top, right, bottom); negative = outside the frame.
    shown = rng.choice(4, size=int(rng.choice(3, p=[0.35, 0.4, 0.25])), replace=False)
    inset = [-0.25 * (w, h)[i % 2] for i in range(4)]
    for side in shown:
        inset[side] = rng.uniform(0.02, 0.15) * (w, h)[side % 2]
    tint = _camera_tint(rng)
    sheet = _Sheet(h, w, _paper_colour(rng, rng.random() < 0.5) * tint)
    height = rng.uniform(300, 1200) / div
    rules = _ruled(sheet, height, rng, slope)[0] if rng.random() < 0.5 else None
    tilt = abs(slope) * max(h, w) / 2 + 2  # room for the tilted paper edges
    box = (
        int(max(inset[1], 0) + tilt),
        int(max(inset[0], 0) + tilt),
        int(h - max(inset[3], 0) - tilt),
        int(w - max(inset[2], 0) - tilt),
    )
    limit = (box[2] - box[0], box[3] - box[1])
    glyph = _glyph(unit, height, rng, extra_angle=angle, limit=limit)
    glyph = _fit(_pressure(glyph, rng, rng.uniform(0.0, 0.15)), h, w)
    top, left = _place(rng, (h, w), glyph, box)
    if rules is not None:
        top, left = _on_baseline(rng, (h, w), glyph, rules, left, box) or (top, left)
    sheet.inks.append((glyph, _ink(rng, "dark"), top, left))
    light = _light(h, w, rng, gradient=(1.05, 1.5), vignette=(0.0, 0.2))
    if rng.random() < 0.2:
        light *= _shadow(h, w, rng)
    pixels = _develop(sheet, light)
    if shown.size:
        pixels = _on_desk(pixels, light, inset, angle, tint, rng)
    if not full:
        return _jpeg(_camera(pixels, rng, blur=(0.0, 0.5), noise=(0.0, 1.5)), rng, (82, 95))
    pixels = _camera(pixels, rng, blur=(0.0, 0.6), noise=(0.0, 0.0))
    pixels = cv2.resize(pixels, (fw, fh), interpolation=cv2.INTER_LINEAR)
    _add_noise(pixels, rng.uniform(3.0, 4.0), rng)
    # Phones favour the high end of the range: mostly 86-92, which makes 1.5-3 MB files.
    return _Output(pixels, quality=round(80 + 12 * math.sqrt(rng.random())))


def _phone_12mp(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    return _phone(unit, rng, full=True)


def _phone_small(unit: np.ndarray, rng: np.random.Generator) -> _Output:
    return _phone(unit, rng, full=False)


_BUILDERS: dict[str, Callable[..., _Output]] = {
    "clean": _clean,
    "photo": _photo,
    "ruled": _ruled_page,
    "squared": _squared_page,
    "dotted": _dotted_page,
    "shadow": _shadow_page,
    "uneven_light": _uneven_page,
    "pencil": _pencil,
    "coloured_pen": _coloured_pen,
    "phone_12mp": _phone_12mp,
    "canvas": _canvas,
    "no_digit": _no_digit,
    "phone_small": _phone_small,
}
