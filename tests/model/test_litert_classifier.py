"""The service's LiteRT classifier: any batch size, any number of threads, the same answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from serving.classifier import Classifier


def test_a_batch_gives_what_its_images_give_one_by_one(
    classifier: Classifier, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    images = mnist_test[0][:40]
    batched = classifier.predict(images)
    single = np.concatenate([classifier.predict(images[i : i + 1]) for i in range(len(images))])
    assert batched.shape == (40, 10)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-5)


def test_concurrent_threads_each_get_their_own_right_answers(
    classifier: Classifier, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    images = mnist_test[0][:64]
    expected = classifier.predict(images).argmax(axis=1)
    sizes = [1, 3, 8, 16, 1, 5, 64, 2] * 4  # threads resize their interpreter as they go

    def run(size: int) -> bool:
        chunks = [images[i : i + size] for i in range(0, len(images), size)]
        got = np.concatenate([classifier.predict(chunk).argmax(axis=1) for chunk in chunks])
        return bool(np.array_equal(got, expected))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(run, sizes))


def test_the_temperature_softens_without_changing_the_digit(
    classifier: Classifier, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    import bentoml

    images = mnist_test[0][:20]
    untempered = Classifier(bentoml.models.get(classifier.tag).path, classifier.tag)
    hot, cold = classifier.predict(images), untempered.predict(images)
    assert np.array_equal(hot.argmax(axis=1), cold.argmax(axis=1))
    if classifier.temperature > 1:
        assert (hot.max(axis=1) <= cold.max(axis=1) + 1e-9).all()


def test_a_model_directory_without_the_litert_file_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Classifier(str(tmp_path), "empty")
