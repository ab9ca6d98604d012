"""The digit classifier: a Keras model from the BentoML store behind one batched call."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from settings import Settings

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
#: `sure` threshold for a model stored without a calibrated one.
DEFAULT_SURE_THRESHOLD = 0.6


class Classifier:
    """Loads the model once and answers batches of normalised 28x28 images.

    TensorFlow is imported here, not at module import, so the BentoML supervisor process that
    only imports ``service.py`` never pays for it. Inference is a traced ``tf.function`` over a
    dynamic batch dimension: one call per request (or per batch), no ``model.predict``
    overhead. Calls are thread-safe.
    """

    def __init__(
        self, model_dir: str | Path, tag: str, tf_threads: int = 2, temperature: float = 1.0
    ) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import tensorflow as tf

        _limit_threads(tf, tf_threads)
        self.tag = tag
        self.temperature = temperature
        self._model = keras.saving.load_model(Path(model_dir) / MODEL_FILE, compile=False)
        spec = tf.TensorSpec([None, 28, 28, 1], tf.float32)
        self._infer: Any = tf.function(
            lambda x: self._model(x, training=False), input_signature=[spec]
        )
        self.predict(np.zeros((1, 28, 28), dtype=np.uint8))  # trace once before serving
        log.info("model %s loaded from %s (tf threads=%d)", tag, model_dir, tf_threads)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities [N, 10] for uint8 images [N, 28, 28] (MNIST polarity).

        The model's softmax is tempered by the temperature fitted on the validation split
        (``softmax(log p / T)``), so that confidence means what it says.
        """
        x = images.astype(np.float32)[..., None] / 255.0
        return apply_temperature(np.asarray(self._infer(x), dtype=np.float64), self.temperature)


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row (T > 1 softens, T < 1 sharpens; 1 changes nothing)."""
    if temperature == 1.0:
        return probabilities
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    scaled = np.exp(logits - logits.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True)


def _limit_threads(tf: Any, threads: int) -> None:
    """Set TensorFlow's thread pools; only possible before TF's first operation."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # a second model in the same process (tests, tools)
        log.debug("TensorFlow already initialised; keeping its thread pools")


def model_temperature(metadata: Mapping[str, Any]) -> float:
    """The softmax temperature calibrated with the model (1.0 for an uncalibrated one)."""
    return float(metadata.get("temperature", 1.0))


def sure_threshold(settings: Settings, metadata: Mapping[str, Any]) -> float:
    """The confidence from which an answer is `sure`.

    ``DIGITS_CONFIDENCE_THRESHOLD`` when set, else the threshold calibrated with the model
    (``confidence_threshold`` in its metadata), else :data:`DEFAULT_SURE_THRESHOLD`.
    """
    if settings.confidence_threshold is not None:
        return float(settings.confidence_threshold)
    return float(metadata.get("confidence_threshold", DEFAULT_SURE_THRESHOLD))
