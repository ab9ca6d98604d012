"""The digit classifier: the model's LiteRT (TensorFlow Lite) file behind one batched call."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from imaging.contract import IMAGE_SHAPE, INPUT_SHAPE, LITERT_FILE, to_model_input
from settings import Settings

log = logging.getLogger(__name__)

#: `sure` threshold for a model stored without a calibrated one.
DEFAULT_SURE_THRESHOLD = 0.6


class Classifier:
    """Loads the model once and answers batches of normalised 28x28 images.

    Inference runs in the TensorFlow Lite interpreter of ``ai-edge-litert``, which imports no
    TensorFlow: the service needs neither TensorFlow nor Keras. An interpreter is not
    thread-safe, so each calling thread gets its own over the same model bytes, resized only
    when the batch size changes. Calls are thread-safe.
    """

    def __init__(
        self, model_dir: str | Path, tag: str, threads: int = 1, temperature: float = 1.0
    ) -> None:
        self.tag = tag
        self.temperature = temperature
        self.threads = threads
        self._model = (Path(model_dir) / LITERT_FILE).read_bytes()
        self._local = threading.local()
        self.predict(np.zeros((1, *IMAGE_SHAPE), dtype=np.uint8))  # fail here, not on a request
        log.info("model %s loaded from %s (LiteRT, %d thread(s))", tag, model_dir, threads)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities [N, 10] for uint8 images [N, 28, 28] (MNIST polarity).

        The model's softmax is tempered by the temperature fitted on the validation split
        (``softmax(log p / T)``), so that confidence means what it says.
        """
        x = np.ascontiguousarray(to_model_input(images))
        interpreter, (source, result) = self._interpreter(len(x))
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        probabilities = interpreter.get_tensor(result).astype(np.float64)
        return apply_temperature(probabilities, self.temperature)

    def _interpreter(self, batch: int) -> tuple[Any, tuple[int, int]]:
        """This thread's interpreter, sized for ``batch`` images, with its tensor indices."""
        local = self._local
        if getattr(local, "interpreter", None) is None:
            from ai_edge_litert.interpreter import Interpreter

            local.interpreter = Interpreter(model_content=self._model, num_threads=self.threads)
            local.indices = (
                local.interpreter.get_input_details()[0]["index"],
                local.interpreter.get_output_details()[0]["index"],
            )
            local.batch = 0
        if local.batch != batch:
            local.interpreter.resize_tensor_input(local.indices[0], [batch, *INPUT_SHAPE])
            local.interpreter.allocate_tensors()
            local.batch = batch
        return local.interpreter, local.indices


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row (T > 1 softens, T < 1 sharpens; 1 changes nothing)."""
    if temperature == 1.0:
        return probabilities
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    scaled = np.exp(logits - logits.max(axis=1, keepdims=True))
    calibrated: np.ndarray = scaled / scaled.sum(axis=1, keepdims=True)
    return calibrated


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
