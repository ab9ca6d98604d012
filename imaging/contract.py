"""The model's input contract: what preprocessing hands the model, and how training stores it.

One home for what training, evaluation and serving must agree on:

- the field: a digit is a uint8 ``FIELD`` x ``FIELD`` image in MNIST polarity (light ink on a
  dark background), :data:`IMAGE_SHAPE`; preprocessing (:mod:`imaging.pipeline`) makes one from
  an upload, MNIST's own images already are one;
- the model's input: float32 ``[N, FIELD, FIELD, 1]`` (channels last, :data:`INPUT_SHAPE` per
  image), pixel / 255 in [0, 1], made by :func:`to_model_input` and nothing else;
- the files inside the BentoML model: :data:`KERAS_FILE` (the trained network, which training
  and evaluation load) and :data:`LITERT_FILE` (its LiteRT conversion, which the service runs).

It lives in ``imaging`` because that is the package everything else already depends on and which
depends on nothing of the project: serving and training import it, and the field size belongs to
its preprocessing. It imports only numpy, so the service image (no TensorFlow, no Keras) can use
it.
"""

from __future__ import annotations

import numpy as np

#: Side of the square field a digit is normalised into: MNIST's 28 pixels.
FIELD = 28
#: One preprocessed image: uint8, light ink on a dark background (MNIST polarity).
IMAGE_SHAPE = (FIELD, FIELD)
#: One image as the model takes it (a batch is ``[N, *INPUT_SHAPE]``), float32 in [0, 1].
INPUT_SHAPE = (FIELD, FIELD, 1)
INPUT_DTYPE = np.float32
#: The input layout in words, as recorded in the model's metadata (``input``).
INPUT_LAYOUT = f"float32 [N, {FIELD}, {FIELD}, 1], pixel/255, light ink on dark (MNIST polarity)"

#: The trained Keras model inside the BentoML model (training and evaluation load it).
KERAS_FILE = "model.keras"
#: Its LiteRT conversion beside it under the same tag: what the service runs.
LITERT_FILE = "model.tflite"


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] (MNIST polarity) -> float32 [N, 28, 28, 1] in [0, 1]: pixel / 255."""
    return images.astype(INPUT_DTYPE)[..., None] / 255.0
