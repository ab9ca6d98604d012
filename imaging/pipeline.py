"""The preprocessing pipelines by version, and ``mnist-norm-2``: digits on real paper.

``mnist-norm-1`` (:func:`imaging.normalize.normalize`) reads digits on blank paper. Version 2 first
takes the paper out of the picture, then finds the digit, then applies MNIST's own normalisation
(the last steps of version 1):

1. work size: shrink big photos (JPEGs already arrive decoded at reduced size), enlarge tiny
   images so that stroke-scale operations have pixels to work with;
2. polarity: light ink on a dark ground is turned into dark ink on light paper;
3. lighting (:func:`imaging.paper.ink_darkness`): darkness relative to the local paper, so that
   shadows, gradients and vignetting vanish;
4. printed lines (:func:`imaging.paper.remove_printed_lines`): ruled, margin and grid lines;
5. the digit (:func:`imaging.strokes.digit_region`): the dominant central group of strokes;
6. MNIST normalisation: stretch, thicken thin strokes, 20 px box, centre of mass at the centre.

The version string is recorded with every prediction and in the model's metadata; bump it
whenever the output for some input changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from imaging.decode import decode_image
from imaging.normalize import VERSION as NORMALIZE_VERSION
from imaging.normalize import (
    Normalized,
    center_by_mass,
    fit_box,
    flatten_alpha,
    normalize,
    thicken_strokes,
)
from imaging.paper import ink_darkness, off_page, paper_level, remove_printed_lines, to_luma
from imaging.strokes import digit_region

#: Version 1, as recorded (imaging/normalize.py).
V1 = NORMALIZE_VERSION
#: Version 2, revision 3. Revision 1: tilt also judged from margins and grid columns, printed
#: lines cleared where they run alone, a sheet's rim, margins fading out and vignetted corners
#: dropped. Revision 2: a digit written close to the desk is no longer taken for the desk.
#: Revision 3 (speed): JPEGs decoded as luma, luma taken before resizing, the paper estimated on
#: 8-bit levels (near-identical output, a tenth less time on a phone photo).
V2 = "mnist-norm-2.3"
#: The version the service applies (and the served model was trained on).
PREPROCESSING_VERSION = V2

#: Longest side the version-2 pipeline works at (a 12 MP photo decodes at 504x378 and is worked
#: at that size: at 384 px, tried for speed, the smallest digits in phone photos read worse).
WORK_SIDE = 512
#: Shortest side it works at: tiny images are enlarged to this.
MIN_SIDE = 112
#: A JPEG is decoded at reduced size as long as its longer side stays at least this long
#: (a 4032x3024 photo decodes at 1/8 scale, 504x378).
DRAFT_SIDE = 448
#: Darkness that counts as ink when judging polarity, and the most of the image it may cover.
INK_LEVEL = 0.25
MAX_INK_SHARE = 0.5
#: A ground darker than this is no paper (MNIST's black, a blackboard, dark grey card), and the
#: most of an image that strokes cover.
DARK_GROUND = 0.27
MAX_STROKE_SHARE = 0.3
#: Share of the crop's ink that sets full intensity (robust to a few very dark pixels).
STRETCH_PERCENTILE = 98.0


def work_array(image: Image.Image) -> np.ndarray:
    """The upload as a uint8 gray (luma) array at working size.

    Colour is taken out before resizing: only luma is used, and resizing one channel costs a
    third of resizing three.
    """
    flat = flatten_alpha(image)
    if flat.mode not in ("L", "RGB"):
        flat = flat.convert("RGB")
    array = np.asarray(flat)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2GRAY)
    h, w = array.shape[:2]
    scale = min(WORK_SIDE / max(h, w), 1.0)
    if min(h, w) * scale < MIN_SIDE:
        scale = min(MIN_SIDE / min(h, w), 4 * WORK_SIDE / max(h, w))
    if scale == 1.0:
        return array
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(array, size, interpolation=interpolation)


def dark_on_light(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Make the paper the light side; returns the image and whether it was inverted.

    Dark ink on light paper is the rule. Taken the wrong way round, the ground itself becomes
    "ink" over most of the image (light strokes on black read as black ink everywhere), so the
    image is inverted only when that happens to the plain reading and not to the inverted one.
    Unlike "the median is the paper", this holds when a shadow covers most of the page.
    """
    small = cv2.resize(gray, (max(1, gray.shape[1] // 2), max(1, gray.shape[0] // 2)))
    plain = _ink_share(small)
    dark_ground = float(np.median(small)) < DARK_GROUND
    if plain <= MAX_INK_SHARE and not dark_ground:  # the usual page: no need to try inverted
        return gray, False
    flipped = _ink_share(1.0 - small)
    # Wrong way round, the ground is all "ink"; or (light strokes on a dark grey ground,
    # darker than any paper) the inverted reading finds more ink, in amounts strokes make.
    stroke_like = plain < flipped <= MAX_STROKE_SHARE
    inverted = flipped <= MAX_INK_SHARE and (plain > MAX_INK_SHARE or (dark_ground and stroke_like))
    return (1.0 - gray if inverted else gray), inverted


def _ink_share(gray: np.ndarray) -> float:
    return float(np.mean(ink_darkness(gray) > INK_LEVEL))


def stretch(crop: np.ndarray) -> np.ndarray:
    """Scale the digit's ink so its strong strokes reach full intensity."""
    inked = crop[crop > 0]
    peak = float(np.percentile(inked, STRETCH_PERCENTILE)) if inked.size else 1.0
    return np.clip(crop / max(peak, 1e-3), 0.0, 1.0)


def normalize_v2(image: Image.Image) -> Normalized:
    """Turn a decoded upload of a digit on real paper into an MNIST-style 28x28 digit.

    Raises:
        BlankImage: no digit found (blank page, only printed lines, specks, a shadow).
        AmbiguousImage: several digit-sized marks (a subclass of BlankImage).
    """
    gray, inverted = dark_on_light(to_luma(work_array(image)))
    paper = paper_level(gray)
    ink = remove_printed_lines(ink_darkness(gray, paper))
    crop = stretch(digit_region(ink, off_page(paper)))
    digit = fit_box(thicken_strokes(crop))
    return Normalized(center_by_mass(digit), inverted)


PIPELINES: dict[str, Callable[[Image.Image], Normalized]] = {V1: normalize, V2: normalize_v2}


@dataclass(frozen=True, slots=True)
class Decoding:
    """How a pipeline version decodes uploads (see :func:`imaging.decode.decode_image`)."""

    draft_side: int | None = None
    luma: bool = False


#: Version 2 takes JPEGs at reduced size and as luma alone (it uses no colour); version 1 decodes
#: them in full.
DECODINGS: dict[str, Decoding] = {V1: Decoding(), V2: Decoding(DRAFT_SIDE, luma=True)}


def preprocess(image: Image.Image, version: str = PREPROCESSING_VERSION) -> Normalized:
    """Apply the pipeline ``version`` (``mnist-norm-1`` or ``mnist-norm-2``)."""
    return PIPELINES[_known(version)](image)


def preprocess_bytes(
    data: bytes,
    max_pixels: int,
    declared_type: str | None = None,
    version: str = PREPROCESSING_VERSION,
    max_decoded_pixels: int | None = None,
) -> Normalized:
    """Decode untrusted upload bytes the way ``version`` does, then preprocess them.

    The one place that pairs decoding with a pipeline: the service, training renders, the
    evaluation and the benchmarks all see exactly what the model sees in service.

    Raises:
        imaging.decode.ImageRejected: not an acceptable image (400, 413, 415).
        BlankImage: no digit found (422 in the service).
    """
    how = DECODINGS[_known(version)]
    decoded = decode_image(
        data, max_pixels, declared_type, how.draft_side, max_decoded_pixels, how.luma
    )
    return preprocess(decoded.image, version)


def _known(version: str) -> str:
    if version not in PIPELINES:
        raise ValueError(f"unknown preprocessing version {version!r}")
    return version
