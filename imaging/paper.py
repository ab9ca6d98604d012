"""What belongs to the paper rather than the handwriting: its lighting and its printed lines.

Two steps of ``mnist-norm-2``, both grayscale morphology (OpenCV):

- :func:`ink_darkness` estimates the paper at a scale larger than any stroke (a morphological
  closing removes the dark ink and keeps shadows, gradients, vignetting and a shadow's sharp
  edge) and divides by it: what remains is how much darker than *its own* paper each pixel is,
  so a digit in the shadow reads like one in the light.
- :func:`remove_printed_lines` subtracts long, thin horizontal and vertical structures (ruled
  lines, margins, squared grids): an opening with a line as long as a good part of the page keeps
  exactly what is line-shaped; a second opening across it keeps what is too thick to be a
  printed line (a digit's bar drawn along a rule). Where a stroke crosses a rule only the rule's
  own darkness is taken away, so strokes are not cut.

OpenCV is the imaging library because its morphology on rectangular kernels and its connected
components run in well under a millisecond on the working image; scipy.ndimage and
scikit-image do the same operations several times slower.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

#: The paper is estimated with a closing this large (share of the image's shorter side).
PAPER_SCALE = 0.25
#: Darkest level still taken for paper (a page in deep shadow is still lighter).
PAPER_FLOOR = 0.25
#: Paper below this share of the page's usual level is off the page (or in deep shadow).
OFF_PAGE = 0.8
#: Shortest printed line, as a share of the image's width (rules) and height (margins, grid
#: columns): a line that long is printed, not written.
RULE_LENGTH = 0.6
COLUMN_LENGTH = 0.75
#: Tilts tried for a photographed page (degrees), the width they are judged at, the share of a
#: row a printed line covers, and how much better than upright a tilt must do to count.
TILT_STEP = 1.0
TILT_ANGLES = np.arange(-6.0, 6.01, TILT_STEP)
TILT_WIDTH = 128
TILT_COVERAGE = 0.6
TILT_GAIN = 1.2
#: Printed lines are found on the image shrunk this much along them.
ALONG_SHRINK = 4
#: Thickest printed line: this share of the shorter side plus two pixels.
LINE_THICKNESS = 0.035
#: A line running alone with at least this darkness is cleared entirely.
LINE_FOUND = 0.03
#: ... where it is at most this many times as dark as the line found there (a printed line's
#: darkness varies along it; a stroke drawn along it is much darker).
LINE_RESIDUE = 2.5


def to_luma(rgb: np.ndarray) -> np.ndarray:
    """Float32 luma in [0, 1] of a uint8 RGB or gray array (0 black, 1 white)."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def paper_level(gray: np.ndarray, scale: float = PAPER_SCALE) -> np.ndarray:
    """The paper's brightness at every pixel, ignoring anything narrower than ``scale``.

    A closing keeps a shadow's sharp edge where it is (a blur or a reduced resolution would
    smear it into a false line of ink); a light blur first keeps sensor noise from lifting the
    estimate.
    """
    side = _odd(scale * min(gray.shape))
    kernel = _rect((side, side))
    pad = min(side // 2 + 1, min(gray.shape) - 1)  # extend_linearly's own cap, for 1-2 px sides
    smooth = extend_linearly(cv2.GaussianBlur(gray, (5, 5), 0), pad)
    # Closing commutes with rounding to 8 bits (both keep order), and OpenCV's 8-bit
    # morphology runs about three times faster than its float morphology.
    levels = np.rint(np.clip(smooth, 0.0, 1.0) * 255.0).astype(np.uint8)
    closed = cv2.morphologyEx(levels, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    height, width = gray.shape
    return closed[pad : pad + height, pad : pad + width].astype(np.float32) / 255.0


def extend_linearly(image: np.ndarray, pad: int) -> np.ndarray:
    """Pad by point reflection (``2 * edge - mirror``) so that gradients continue past the edge.

    A closing next to the frame would otherwise take the brighter paper further in for the
    paper at the edge, and vignetted corners would read as ink.
    """
    pad = min(pad, image.shape[0] - 1, image.shape[1] - 1)
    top = 2 * image[:1] - image[1 : pad + 1][::-1]
    bottom = 2 * image[-1:] - image[-pad - 1 : -1][::-1]
    tall = np.vstack([top, image, bottom])
    left = 2 * tall[:, :1] - tall[:, 1 : pad + 1][:, ::-1]
    right = 2 * tall[:, -1:] - tall[:, -pad - 1 : -1][:, ::-1]
    return np.ascontiguousarray(np.hstack([left, tall, right]))


def ink_darkness(gray: np.ndarray, paper: np.ndarray | None = None) -> np.ndarray:
    """How much darker than the local paper each pixel is, in [0, 1] (0 paper, 1 black ink).

    Args:
        gray: Luma in [0, 1], paper light.
        paper: :func:`paper_level` of ``gray`` when the caller already has it.
    """
    # Paper darker than this is not paper (the wrong polarity, a desk): everything on it is ink.
    level = np.maximum(paper_level(gray) if paper is None else paper, PAPER_FLOOR)
    darkness: np.ndarray = np.clip(1.0 - gray / level, 0.0, 1.0).astype(np.float32)
    return darkness


def off_page(paper: np.ndarray) -> np.ndarray:
    """Where the "paper" is much darker than the page's: a desk, or deep shadow (boolean)."""
    # The paper level is smooth at a quarter of the image: every fourth pixel tells its spread.
    return paper < OFF_PAGE * float(np.percentile(paper[::4, ::4], 75))


def line_response(ink: np.ndarray, horizontal: bool) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``ink`` that is a long, thin straight line in one direction.

    Returns ``(alone, crossed)``: the line's darkness where it runs alone, and where a stroke
    crosses it.

    Long: survives an opening with a line ``RULE_LENGTH`` of the image's width (horizontal) or
    ``COLUMN_LENGTH`` of its height (vertical: a digit's stem is vertical and may be long). Thin:
    does not survive an opening across it with ``LINE_THICKNESS`` (thicker runs are pen
    strokes). Not a
    stroke's edge: a line's thickness away there is paper on both sides (the line alone) or ink
    on both (a stroke crossing it); the flat top of a curved stroke or a long straight stem has
    ink on one side only and is left alone.
    """
    h, w = ink.shape
    thickness = _odd(LINE_THICKNESS * min(h, w) + 2, minimum=3)
    # Lines are long: judged on the image shrunk along them (averaging also bridges JPEG
    # speckle and faint gaps), which keeps their thickness across and costs a fraction.
    factor = ALONG_SHRINK if (w if horizontal else h) >= 40 * ALONG_SHRINK else 1
    size = (max(1, w // factor), h) if horizontal else (w, max(1, h // factor))
    smooth = cv2.resize(ink, size, interpolation=cv2.INTER_AREA) if factor > 1 else ink
    smooth = cv2.blur(smooth, (3, 1) if horizontal else (1, 3))
    extent = smooth.shape[1] if horizontal else smooth.shape[0]
    length = _odd((RULE_LENGTH if horizontal else COLUMN_LENGTH) * extent, minimum=9)
    along = (length, 1) if horizontal else (1, length)
    across = (1, thickness) if horizontal else (thickness, 1)
    lines = cv2.morphologyEx(smooth, cv2.MORPH_OPEN, _rect(along))
    thin = np.clip(lines - cv2.morphologyEx(lines, cv2.MORPH_OPEN, _rect(across)), 0.0, 1.0)
    before, after = _neighbours(smooth, thickness, horizontal)
    # Ink on one side only is the edge of a stroke running along the line: leave it. Ink on
    # neither side is the line alone; ink on both is a stroke crossing it, which keeps its
    # own darkness once the line's is taken away.
    inked = (np.maximum(before, after) >= 0.5 * thin, np.minimum(before, after) >= 0.5 * thin)
    alone = np.where(inked[0], 0.0, thin).astype(np.float32)
    crossed = np.where(inked[1], thin, 0.0).astype(np.float32)
    if factor == 1:
        return alone, crossed
    grow = cv2.INTER_LINEAR
    return cv2.resize(alone, (w, h), interpolation=grow), cv2.resize(
        crossed, (w, h), interpolation=grow
    )


def _neighbours(
    image: np.ndarray, distance: int, horizontal: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``image`` seen ``distance`` pixels to either side across the line (0 beyond the edge)."""
    before = np.zeros_like(image)
    after = np.zeros_like(image)
    if horizontal:
        before[distance:] = image[:-distance]
        after[:-distance] = image[distance:]
    else:
        before[:, distance:] = image[:, :-distance]
        after[:, :-distance] = image[:, distance:]
    return before, after


def page_tilt(ink: np.ndarray) -> float:
    """The angle (degrees) that makes the page's printed lines horizontal: 0 when there are none.

    A photographed page is rarely square to the frame. Rotating the (shrunk) ink image by
    candidate angles, printed lines show as rows inked across most of the width; a digit's
    strokes never cover most of a row, so a page without lines keeps angle 0.
    """
    h, w = ink.shape
    scale = min(1.0, TILT_WIDTH / w)
    small = cv2.resize(ink, (max(1, round(w * scale)), max(1, round(h * scale))))
    inked = (small > max(0.04, 0.15 * float(np.percentile(small, 99.5)))).astype(np.float32)
    centre = (small.shape[1] / 2, small.shape[0] / 2)
    size = (inked.shape[1], inked.shape[0])

    def lined_rows(angle: float) -> float:
        covered = cv2.warpAffine(inked, _turn(centre, angle), size)
        row_width, column_height = _frame_inside(inked.shape[0], inked.shape[1], angle)
        # Rows (ruled lines) and columns (a margin, a grid) both tell the page's tilt: a
        # notebook photographed with faint rules still has a strong margin line.
        return _lined(covered.sum(axis=1), row_width, size[0]) + _lined(
            covered.sum(axis=0), column_height, size[1]
        )

    # Whole degrees first, then the half degrees either side of the best.
    scores = {float(a): lined_rows(float(a)) for a in TILT_ANGLES}
    coarse = max(scores, key=lambda a: scores[a])
    for angle in (coarse - TILT_STEP / 2, coarse + TILT_STEP / 2):
        scores[angle] = lined_rows(angle)
    best = max(scores, key=lambda a: scores[a])
    return best if scores[best] > TILT_GAIN * scores[0.0] + 1e-6 else 0.0


def _lined(covered: np.ndarray, width: np.ndarray, full: int) -> float:
    """How much the rows (or columns) inked across most of their length exceed the threshold."""
    coverage = np.where(width >= 0.8 * full, covered / np.maximum(width, 1.0), 0.0)
    return float(np.clip(coverage - TILT_COVERAGE, 0.0, None).sum())


@functools.lru_cache(maxsize=256)
def _frame_inside(height: int, width: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """How much of each row and column of the frame turned by ``angle`` lies inside the image.

    Depends on the shape alone, so a client sending photos of one size computes it once.
    """
    turn = _turn((width / 2, height / 2), angle)
    inside = cv2.warpAffine(np.ones((height, width), np.float32), turn, (width, height))
    rows, columns = inside.sum(axis=1), inside.sum(axis=0)
    rows.setflags(write=False)
    columns.setflags(write=False)
    return rows, columns


def _turn(centre: tuple[float, float], angle: float) -> np.ndarray:
    return cv2.getRotationMatrix2D(centre, angle, 1.0)


def remove_printed_lines(ink: np.ndarray) -> np.ndarray:
    """``ink`` without ruled, margin and grid lines, square to the page or tilted a little.

    Ink darkens multiplicatively (a stroke over a rule lets through the product of both), so
    the lines are divided out: where a stroke crosses a rule it keeps exactly its own darkness.
    Where a line runs alone it is cleared outright: the opening that finds it measures its
    faintest stretch, and the darker rest (vignetting, JPEG, a line closer to the lens) would
    otherwise survive as short dashes that glue themselves to a digit nearby. A pixel much
    darker than the line is a stroke lying along it and only loses the line's darkness.
    """
    angle = page_tilt(ink)
    if angle == 0.0:
        lines, alone = _lines(ink)
    else:
        h, w = ink.shape
        turn = _turn((w / 2, h / 2), angle)
        back = cv2.invertAffineTransform(turn)
        upright = _lines(cv2.warpAffine(ink, turn, (w, h)))
        lines, alone = (cv2.warpAffine(part, back, (w, h)) for part in upright)
    cleaned = np.clip(1.0 - (1.0 - ink) / np.maximum(1.0 - lines, 0.05), 0.0, 1.0)
    # ... unless the pixel is far darker than the line: a pen stroke lying along the rule.
    residue = (alone > LINE_FOUND) & (ink < LINE_RESIDUE * alone)
    return np.where(residue, 0.0, cleaned).astype(np.float32)


def _lines(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The printed lines' darkness (both directions combined: where grid lines cross, both),
    and the darkness of the lines where they run alone."""
    passed = np.ones_like(ink)
    alone_any = np.zeros_like(ink)
    for horizontal, widen in ((True, (1, 3)), (False, (3, 1))):
        alone, crossed = line_response(ink, horizontal)
        # A line alone is widened by a pixel (anti-aliasing and JPEG smear it over its
        # neighbours); under a crossing stroke only the line itself is taken away.
        alone = cv2.dilate(alone, _rect(widen))
        passed *= 1.0 - np.clip(alone + crossed, 0.0, 1.0)
        alone_any = np.maximum(alone_any, alone)
    return 1.0 - passed, alone_any


def _rect(size: tuple[int, int]) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_RECT, size)


def _odd(value: float, minimum: int = 3) -> int:
    side = max(minimum, round(value))
    return side if side % 2 else side + 1
