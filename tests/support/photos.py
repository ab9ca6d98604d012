"""Photo-like renderings of MNIST digits: what real uploads look like.

Dark ink on tinted paper, any size, off-centre, slightly rotated, JPEG-compressed, sometimes
stored sideways with an EXIF orientation tag.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

# EXIF orientation -> the transpose that stores an upright picture so a viewer shows it upright.
_STORED_AS = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Photo:
    """An encoded photo-like image of a known digit."""

    data: bytes
    label: int
    orientation: int
    size: tuple[int, int]


def photo_like(digit: np.ndarray, label: int, rng: np.random.Generator) -> Photo:
    """Render a 28x28 MNIST digit (light on dark) as a JPEG photo of ink on paper."""
    side = int(rng.integers(40, 401))
    ink = Image.fromarray(255 - digit).resize((side, side), Image.Resampling.BICUBIC)
    ink = ink.rotate(float(rng.uniform(-10, 10)), Image.Resampling.BICUBIC, fillcolor=255)
    canvas_w = int(side * rng.uniform(1.2, 2.2))
    canvas_h = int(side * rng.uniform(1.2, 2.2))
    paper = Image.new("L", (canvas_w, canvas_h), 255)
    paper.paste(
        ink, (int(rng.integers(0, canvas_w - side + 1)), int(rng.integers(0, canvas_h - side + 1)))
    )
    gray = np.asarray(paper, dtype=np.float32) / 255.0
    gray = np.clip(gray + rng.normal(0, 0.02, gray.shape), 0, 1)
    paper_rgb = rng.uniform([0.85, 0.82, 0.75], [1.0, 1.0, 1.0])
    ink_rgb = rng.uniform([0.0, 0.0, 0.1], [0.25, 0.25, 0.45])
    rgb = ink_rgb + gray[..., None] * (paper_rgb - ink_rgb)
    image = Image.fromarray(np.uint8(np.clip(rgb, 0, 1) * 255), "RGB")
    orientation = int(rng.choice([1, 1, 1, 3, 6, 8]))
    exif = Image.Exif()
    if orientation != 1:
        image = image.transpose(_STORED_AS[orientation])
        exif[EXIF_ORIENTATION] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(60, 96)), exif=exif.tobytes())
    return Photo(buffer.getvalue(), label, orientation, image.size)


def naive_pixels(data: bytes) -> np.ndarray:
    """The naive student pipeline: grayscale, resize the whole picture to 28x28, no more."""
    image = Image.open(io.BytesIO(data)).convert("L").resize((28, 28), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
