"""Real MNIST test digits as the files a user uploads (for the deployment tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def mnist_test_digits(count: int) -> list[tuple[np.ndarray, int]]:
    """The first ``count`` MNIST test images (28x28 uint8) with their labels."""
    from settings import load_settings
    from training.data import load_mnist

    data = load_mnist(load_settings())
    return [(data.x_test[i], int(data.y_test[i])) for i in range(count)]


def write_pngs(digits: list[tuple[np.ndarray, int]], directory: Path) -> list[tuple[Path, int]]:
    """Save each digit as a grayscale PNG, as a user would upload it."""
    files = []
    for index, (pixels, label) in enumerate(digits):
        path = directory / f"mnist-test-{index:02d}-label{label}.png"
        Image.fromarray(pixels, "L").save(path)
        files.append((path, label))
    return files
