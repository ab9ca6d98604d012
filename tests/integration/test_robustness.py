"""Real-world robustness: MNIST test digits re-rendered as photos, recognised through HTTP.

Each photo is dark ink on tinted paper, 40-400 px, placed anywhere on a larger canvas, rotated
up to 10 degrees, JPEG quality 60-95, one in two stored sideways with an EXIF orientation tag.
The same photos go through the naive student pipeline (grayscale + resize to 28x28) for
comparison; both accuracies go to reports/robustness.json.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.photos import Photo, naive_pixels, photo_like

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLES = 500
TARGET = 0.98
REPORT = Path("reports/robustness.json")


@pytest.fixture(scope="module")
def photos(mnist_test: tuple[np.ndarray, np.ndarray]) -> list[Photo]:
    images, labels = mnist_test
    rng = np.random.default_rng(2026)
    chosen = rng.choice(len(images), SAMPLES, replace=False)
    return [photo_like(images[i], int(labels[i]), rng) for i in chosen]


def _served_digit(url: str, photo: Photo) -> int:
    with httpx.Client(base_url=url, timeout=60) as http:
        response = http.post("/predict", files={"image": ("photo.jpg", photo.data, "image/jpeg")})
    assert response.status_code == 200, response.text
    return int(response.json()["digit"])


def _naive_accuracy(photos: list[Photo]) -> float:
    import bentoml

    from serving.classifier import Classifier
    from settings import load_settings

    settings = load_settings()
    model = bentoml.models.get(f"{settings.model_name}:{settings.model_version}")
    classifier = Classifier(model.path, str(model.tag), tf_threads=1)
    batch = np.stack([naive_pixels(p.data) for p in photos])
    predicted = classifier.predict(batch).argmax(axis=1)
    return float(np.mean(predicted == np.array([p.label for p in photos])))


def test_photo_like_digits_are_recognised(served: object, photos: list[Photo]) -> None:
    with ThreadPoolExecutor(4) as pool:
        digits = list(pool.map(lambda p: _served_digit(served.url, p), photos))  # type: ignore[attr-defined]
    labels = [p.label for p in photos]
    accuracy = float(np.mean(np.array(digits) == np.array(labels)))
    naive = _naive_accuracy(photos)
    rotated = [i for i, p in enumerate(photos) if p.orientation != 1]
    rotated_accuracy = float(np.mean([digits[i] == labels[i] for i in rotated]))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "samples": SAMPLES,
        "service_accuracy": accuracy,
        "naive_resize_accuracy": naive,
        "exif_rotated_samples": len(rotated),
        "exif_rotated_accuracy": rotated_accuracy,
        "target": TARGET,
    }
    REPORT.write_text(json.dumps(report, indent=2))
    print(f"\nrobustness: service {accuracy:.2%}, naive resize {naive:.2%} on {SAMPLES} photos")
    assert accuracy >= TARGET
    assert naive < accuracy
