"""The convnet: an inference model (what is stored and served) and a training wrapper.

The inference model takes float32 [N, 28, 28, 1] in [0, 1] (pixel / 255, light ink on a dark
background) and returns softmax probabilities over the ten digits. Augmentation lives only in
the training wrapper, which shares its layers with the inference model, so the stored model is
plain and loads with ``keras.saving.load_model(path, compile=False)``.
"""

from __future__ import annotations

import keras
from keras import layers

from imaging.contract import INPUT_SHAPE
from training.data import NUM_CLASSES


def _conv_block(x: keras.KerasTensor, filters: int, kernel: int, name: str) -> keras.KerasTensor:
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    # momentum 0.9 (not 0.99): the moving statistics settle within the short quick run too
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build_classifier(dropout: float = 0.4) -> keras.Model:
    """The inference model: three conv blocks with batch norm, two poolings, a softmax head.

    About 104k parameters and 5.4M multiply-adds per image: cheap enough to train to >= 99.4%
    in a few minutes on two CPU cores, because only the first (single-channel) convolution runs
    at full 28x28 resolution.

    Args:
        dropout: Dropout rate before the classifier head (active in training only).

    Returns:
        An uncompiled functional model ``digits_cnn``.
    """
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = _conv_block(inputs, 32, 5, "block1")
    x = layers.MaxPooling2D(name="pool1")(x)
    x = _conv_block(x, 48, 3, "block2")
    x = layers.MaxPooling2D(name="pool2")(x)
    x = _conv_block(x, 96, 3, "block3")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="digit")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def build_augmenter(seed: int) -> keras.Sequential:
    """Light geometric augmentation: small rotations, shifts and zooms, filled with background."""
    return keras.Sequential(
        [
            layers.RandomRotation(0.03, fill_mode="constant", seed=seed),  # +-11 degrees
            layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed + 1),
            layers.RandomZoom(0.08, fill_mode="constant", seed=seed + 2),
        ],
        name="augmenter",
    )


def build_training_model(classifier: keras.Model, seed: int) -> keras.Model:
    """Wrap the classifier with augmentation; training it trains the classifier's weights.

    Inputs are ``{"image": [N, 28, 28, 1], "augment_flag": [N, 1]}``: samples with flag 0 (the
    non-digit images) reach the classifier untouched, because rotating or zooming full-field
    noise adds black borders that real noisy uploads do not have.
    """
    image = keras.Input(INPUT_SHAPE, name="image")
    augment = keras.Input((1,), name="augment_flag")
    gate = keras.ops.reshape(augment, (-1, 1, 1, 1))
    mixed = gate * build_augmenter(seed)(image) + (1.0 - gate) * image
    return keras.Model(
        {"image": image, "augment_flag": augment}, classifier(mixed), name="training"
    )


def compile_for_training(model: keras.Model, total_steps: int, peak_lr: float = 2e-3) -> None:
    """Adam with a short linear warm-up then cosine decay to zero over the whole run.

    Targets are probability vectors (one-hot digits, uniform for non-digits), hence categorical
    cross-entropy.
    """
    warmup = max(1, total_steps // 20)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_lr / 10,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=peak_lr,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss="categorical_crossentropy",
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
