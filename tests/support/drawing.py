"""Synthetic handwritten-looking digits drawn with strokes, for tests without data files."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

# Polylines on a unit square (x right, y down) that read as the digit.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    1: [[(0.45, 0.2), (0.55, 0.1), (0.55, 0.9)]],
    7: [[(0.2, 0.12), (0.8, 0.12), (0.4, 0.9)]],
    4: [[(0.6, 0.9), (0.6, 0.1), (0.15, 0.65), (0.85, 0.65)]],
}


def draw_digit(
    digit: int,
    size: int = 200,
    width: float = 0.08,
    ink: int = 0,
    paper: int = 255,
    box: tuple[float, float, float, float] = (0.2, 0.2, 0.8, 0.8),
) -> Image.Image:
    """Draw ``digit`` with strokes ``width`` (share of size) inside ``box`` of a square canvas."""
    image = Image.new("L", (size, size), paper)
    pen = ImageDraw.Draw(image)
    x0, y0, x1, y1 = (v * size for v in box)
    for line in STROKES[digit]:
        points = [(x0 + px * (x1 - x0), y0 + py * (y1 - y0)) for px, py in line]
        pen.line(points, fill=ink, width=max(1, round(width * size)), joint="curve")
    return image


def ink_bbox(pixels: np.ndarray, level: int = 0) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of pixels above ``level``, inclusive."""
    rows = np.where((pixels > level).any(axis=1))[0]
    cols = np.where((pixels > level).any(axis=0))[0]
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of mass of a grayscale array."""
    weights = pixels.astype(np.float64)
    ys, xs = np.indices(pixels.shape)
    return float((ys * weights).sum() / weights.sum()), float((xs * weights).sum() / weights.sum())
