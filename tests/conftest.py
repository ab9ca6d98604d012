"""Fixtures shared by every test folder: MNIST digits and the served model."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test digits (uint8 [N, 28, 28]) and their labels."""
    from settings import load_settings
    from training.data import load_mnist

    data = load_mnist(load_settings())
    return data.x_test, data.y_test


@pytest.fixture(scope="session")
def digit_png(mnist_test: tuple[np.ndarray, np.ndarray]) -> dict[int, bytes]:
    """A PNG of the first MNIST test image of each digit, as MNIST stores it."""
    images, labels = mnist_test
    pngs = {}
    for digit in range(10):
        buffer = io.BytesIO()
        Image.fromarray(images[int(np.flatnonzero(labels == digit)[0])]).save(buffer, "PNG")
        pngs[digit] = buffer.getvalue()
    return pngs
