"""The digit service as BentoML's documentation teaches it: the benchmark's second peer.

What a reader of BentoML's guides writes for this model, in the guides' two variants:

- :class:`DocsPredict` (``POST /predict``, field ``image``): a ``PIL.Image.Image`` parameter, the
  Keras model taken from the model store (``bentoml.models.BentoModel``) and loaded in
  ``__init__``, ``model.predict`` on each request.
- :class:`DocsBatching` (``POST /predict``, field ``images``): the same with adaptive batching
  (``batchable=True``): images of concurrent requests are stacked and ``model.predict`` runs
  once per batch. Over its latency budget BentoML answers 503; the budget is set high enough
  that it sheds nothing under the benchmark's load (200 ms shed 98% of requests at 32 users).

Both preprocess as the guides' image examples do (grayscale, resize to 28x28, scale to 0-1),
record nothing, and answer the digit as a JSON number. Same stored model as the service (its
Keras file, which the service converts to LiteRT). They exist to be measured, not deployed.

Environment (read at import, so that ``bentoml serve`` and its workers agree):

- ``DOCS_PEER_MODEL``: the model tag (default ``mnist_cnn:latest``);
- ``DOCS_PEER_WORKERS``: worker processes (default 1, BentoML's);
- ``DOCS_PEER_MAX_LATENCY_MS``, ``DOCS_PEER_MAX_BATCH``: the batching budget and batch size.

Usage: bentoml serve benchmarks.baselines.bentoml_docs:DocsPredict --port 3001
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import numpy as np
from PIL import Image

from imaging.contract import KERAS_FILE

MODEL_TAG = os.environ.get("DOCS_PEER_MODEL", "mnist_cnn:latest")
WORKERS = int(os.environ.get("DOCS_PEER_WORKERS", "1"))
MAX_LATENCY_MS = int(os.environ.get("DOCS_PEER_MAX_LATENCY_MS", "5000"))
MAX_BATCH = int(os.environ.get("DOCS_PEER_MAX_BATCH", "64"))


def load_keras(model: bentoml.models.BentoModel) -> Any:
    """The stored Keras model (TensorFlow imported here, in the worker, not by the supervisor)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras.saving.load_model(model.path_of(KERAS_FILE), compile=False)


def to_array(images: list[Image.Image]) -> np.ndarray:
    """The guides' preprocessing: grayscale, 28x28, scaled to 0-1, stacked as [N, 28, 28, 1]."""
    pixels = [np.asarray(image.convert("L").resize((28, 28)), dtype=np.float32) for image in images]
    return np.stack(pixels)[..., None] / 255.0


@bentoml.service(workers=WORKERS)
class DocsPredict:
    """One ``model.predict`` per request."""

    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.model = load_keras(self.model_ref)

    @bentoml.api
    def predict(self, image: Image.Image) -> int:
        """The digit on ``image``."""
        return int(self.model.predict(to_array([image]), verbose=0).argmax(axis=1)[0])


@bentoml.service(workers=WORKERS)
class DocsBatching:
    """Adaptive batching: one ``model.predict`` per batch of concurrent requests."""

    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.model = load_keras(self.model_ref)

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, images: list[Image.Image]) -> list[int]:
        """The digit on each of ``images``."""
        digits = self.model.predict(to_array(images), verbose=0).argmax(axis=1)
        return [int(digit) for digit in digits]
