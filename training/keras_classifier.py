"""The Keras model itself behind the serving classifier's interface (training and evaluation).

The service serves the LiteRT file (:class:`serving.classifier.Classifier`); this runs the
``model.keras`` beside it, for what needs TensorFlow anyway: checking that the two agree, and
scoring the version-1 baseline model, which has no LiteRT file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from imaging.contract import INPUT_SHAPE, KERAS_FILE, to_model_input
from serving.classifier import apply_temperature

log = logging.getLogger(__name__)


class KerasClassifier:
    """``model.keras`` from a model directory, called through a traced ``tf.function``."""

    def __init__(
        self, model_dir: str | Path, tag: str, threads: int = 2, temperature: float = 1.0
    ) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import tensorflow as tf

        _limit_threads(tf, threads)
        self.tag = tag
        self.temperature = temperature
        self._model = keras.saving.load_model(Path(model_dir) / KERAS_FILE, compile=False)
        spec = tf.TensorSpec([None, *INPUT_SHAPE], tf.float32)
        self._infer: Any = tf.function(
            lambda x: self._model(x, training=False), input_signature=[spec]
        )

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities [N, 10] for uint8 images [N, 28, 28]."""
        x = to_model_input(images)
        return apply_temperature(np.asarray(self._infer(x), dtype=np.float64), self.temperature)


def _limit_threads(tf: Any, threads: int) -> None:
    """Set TensorFlow's thread pools; only possible before TF's first operation."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # a second model in the same process (tests, tools)
        log.debug("TensorFlow already initialised; keeping its thread pools")
