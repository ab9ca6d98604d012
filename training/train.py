"""Train the digit classifier, evaluate it, store it in BentoML and write a report.

Usage::

    python -m training.train [--quick] [--epochs N] [--seed S] [--report-dir reports/training]

The default run holds out 5,000 of the 60,000 training images as a validation split, renders
training digits onto realistic paper (:mod:`training.realistic`), and trains on clean MNIST plus
those renders plus non-digit images (uniform targets). The validation split (clean and rendered)
chooses the epoch (early stopping, best weights restored) and calibrates confidence
(:mod:`training.calibrate`); the 10,000 test images are scored once, at the end. The model is
stored with metadata ``mode: full``. ``--quick`` trains one epoch on a 6,000-image subset for
smoke tests; it is stored with ``mode: quick``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cli import setup_logging
from imaging.contract import INPUT_LAYOUT, LITERT_FILE, to_model_input
from imaging.pipeline import PREPROCESSING_VERSION
from serving.classifier import apply_temperature
from settings import Settings, load_settings
from training.calibrate import fit_temperature, sure_threshold
from training.data import NUM_CLASSES, MnistData, load_mnist
from training.evaluate import Evaluation, evaluate, predict_probabilities
from training.litert import convert_and_check
from training.model import build_classifier, build_training_model, compile_for_training
from training.realistic import RealisticSet, realistic_examples
from training.rejects import REJECT_SHARE, reject_images, uniform_targets
from training.report import write_report
from training.store import MIN_FULL_ACCURACY, find_model, promote, save_model

log = logging.getLogger("training")

DEFAULT_EPOCHS = 16
QUICK_EPOCHS = 1
QUICK_TRAIN_IMAGES = 6_000
VALIDATION_IMAGES = 5_000
QUICK_VALIDATION_IMAGES = 1_000
#: Realistic renders of training digits (and of validation digits, for validation).
REALISTIC_TRAIN = 30_000
REALISTIC_VALIDATION = 5_000
QUICK_REALISTIC = 1_500
EARLY_STOP_PATIENCE = 3
DEFAULT_SEED = 42
BATCH_SIZE = 128
DEFAULT_REPORT_DIR = Path("reports/training")


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        quick: Smoke-test run: a subset, one epoch, stored with ``mode: quick``.
        epochs: Passes over the training set.
        seed: Seeds Python, NumPy, TensorFlow and the augmentation layers.
        report_dir: Where the report goes.
        batch_size: Images per training step.
    """

    quick: bool = False
    epochs: int = DEFAULT_EPOCHS
    seed: int = DEFAULT_SEED
    report_dir: Path = DEFAULT_REPORT_DIR
    batch_size: int = BATCH_SIZE

    @property
    def mode(self) -> str:
        """``"quick"`` or ``"full"``, as recorded in the model metadata."""
        return "quick" if self.quick else "full"


@dataclass(frozen=True)
class TrainResult:
    """What a run produced: the stored tag, its metadata and the report files."""

    tag: str
    metadata: dict[str, Any]
    report_files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Split:
    """The training images divided into a training part and a held-out validation part."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def split_validation(data: MnistData, config: TrainConfig, rng: np.random.Generator) -> Split:
    """Hold out a random validation split of the training images (the test set stays unseen).

    In quick mode both parts are small random subsets.
    """
    order = rng.permutation(len(data.y_train))
    n_val = QUICK_VALIDATION_IMAGES if config.quick else VALIDATION_IMAGES
    val, train = order[:n_val], order[n_val:]
    if config.quick:
        train = train[:QUICK_TRAIN_IMAGES]
    return Split(data.x_train[train], data.y_train[train], data.x_train[val], data.y_train[val])


def realistic_sets(split: Split, config: TrainConfig) -> tuple[RealisticSet, RealisticSet]:
    """Realistic renders of training digits (for training) and validation digits (for selection)."""
    n_train = QUICK_REALISTIC if config.quick else REALISTIC_TRAIN
    train = realistic_examples(split.x_train, split.y_train, n_train, config.seed, "train")
    return train, realistic_validation(split, config)


def realistic_validation(split: Split, config: TrainConfig) -> RealisticSet:
    """Realistic renders of the validation digits (selection, calibration, the LiteRT check)."""
    n_val = QUICK_REALISTIC // 3 if config.quick else REALISTIC_VALIDATION
    return realistic_examples(split.x_val, split.y_val, n_val, config.seed + 1, "validation")


def targets(labels: np.ndarray) -> np.ndarray:
    """One-hot targets for digits, uniform ones for label -1 (no digit), float32 [N, 10]."""
    y = np.zeros((len(labels), NUM_CLASSES), np.float32)
    digits = labels >= 0
    y[digits] = keras.utils.to_categorical(labels[digits], NUM_CLASSES)
    y[~digits] = uniform_targets(int((~digits).sum()))
    return y


def training_arrays(
    split: Split, realistic: RealisticSet, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Model input and probability targets: clean digits, realistic renders, non-digits.

    Returns:
        ``(x, y)``: x holds ``image`` float32 [N, 28, 28, 1] in [0, 1] and ``augment_flag`` [N, 1]
        (1 for clean digits, 0 for everything else: renders already vary, and rotating
        full-field noise adds black borders real uploads do not have); y is float32 [N, 10].
    """
    rejects = round(REJECT_SHARE * len(split.y_train))
    images = np.concatenate(
        [
            to_model_input(split.x_train),
            to_model_input(realistic.images),
            reject_images(rejects, rng),
        ]
    )
    flags = np.concatenate(
        [np.ones(len(split.y_train)), np.zeros(len(realistic) + rejects)]
    ).astype(np.float32)
    y = np.concatenate(
        [targets(split.y_train), targets(realistic.labels), uniform_targets(rejects)]
    )
    return {"image": images, "augment_flag": flags[:, None]}, y.astype(np.float32)


def validation_arrays(split: Split, realistic: RealisticSet) -> tuple[np.ndarray, np.ndarray]:
    """Validation images (clean + realistic, as model input) and their labels (-1: no digit)."""
    images = np.concatenate([split.x_val, realistic.images])
    return to_model_input(images), np.concatenate([split.y_val, realistic.labels])


def fit(
    config: TrainConfig, x: dict[str, np.ndarray], y: np.ndarray, val: tuple[np.ndarray, np.ndarray]
) -> tuple[keras.Model, dict[str, list[float]], float]:
    """Train a fresh classifier, choosing the epoch on the validation split.

    Early stopping watches the validation loss and restores the best epoch's weights; the test
    set plays no part.

    Returns:
        The trained inference model, the Keras history and the training wall time in seconds.
    """
    classifier = build_classifier()
    trainer = build_training_model(classifier, seed=config.seed)
    count = len(y)
    steps = config.epochs * int(np.ceil(count / config.batch_size))
    compile_for_training(trainer, total_steps=steps)
    x_val, labels_val = val
    val_data = (
        {"image": x_val, "augment_flag": np.zeros((len(x_val), 1), np.float32)},
        targets(labels_val),
    )
    log.info(
        "training %s (%d parameters) on %d images for up to %d epoch(s), batch %d, "
        "validating on %d, load average %s",
        classifier.name,
        classifier.count_params(),
        count,
        config.epochs,
        config.batch_size,
        len(x_val),
        _load_average(),
    )
    # The first half of the cosine schedule runs at a high learning rate, where the validation
    # loss jumps about: stopping there ended a run at epoch 9 of 16 with its best validation
    # loss 0.053, against 0.043 for a run through all 16 epochs.
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=EARLY_STOP_PATIENCE,
        restore_best_weights=True,
        start_from_epoch=config.epochs // 2,
    )
    started = time.monotonic()
    history = trainer.fit(
        x,
        y,
        batch_size=config.batch_size,
        epochs=config.epochs,
        shuffle=True,
        validation_data=val_data,
        validation_batch_size=1000,
        callbacks=[stop],
        verbose=2,
    )
    seconds = time.monotonic() - started
    log.info("training took %.0f s (load average now %s)", seconds, _load_average())
    return classifier, {k: list(v) for k, v in history.history.items()}, seconds


@dataclass(frozen=True)
class Calibration:
    """Temperature and `sure` threshold fitted on the validation split, with what they gave."""

    temperature: float
    threshold: float
    needed: dict[str, float]
    validation_accuracy: dict[str, float]


def calibrate(classifier: keras.Model, split: Split, realistic: RealisticSet) -> Calibration:
    """Fit the temperature and the `sure` threshold on the validation split."""
    x_val, labels = validation_arrays(split, realistic)
    conditions = np.concatenate([np.full(len(split.y_val), "mnist"), realistic.conditions])
    raw = predict_probabilities(classifier, x_val)
    digits = labels >= 0
    temperature = fit_temperature(raw[digits], labels[digits])
    calibrated = apply_temperature(raw, temperature)
    threshold, needed = sure_threshold(calibrated, labels, conditions)
    right = calibrated.argmax(axis=1) == labels
    accuracy = {
        str(c): round(float(right[(conditions == c) & digits].mean()), 5)
        for c in sorted(set(conditions[digits].tolist()))
    }
    return Calibration(round(temperature, 4), threshold, needed, accuracy)


def build_metadata(
    config: TrainConfig,
    data: MnistData,
    result: Evaluation,
    calibration: Calibration,
    counts: dict[str, int],
    params: int,
    seconds: float,
    epochs_run: int,
) -> dict[str, Any]:
    """The metadata stored with the model (and copied into report.json)."""
    return {
        "mode": config.mode,
        "test_accuracy": round(result.test_accuracy, 5),
        "test_set_use": "scored once after training; never used for selection or calibration",
        "validation_accuracy": calibration.validation_accuracy,
        "temperature": calibration.temperature,
        "confidence_threshold": calibration.threshold,
        "threshold_needed_per_condition": calibration.needed,
        "per_digit_accuracy": result.per_digit_accuracy,
        "blank_max_confidence": result.blank_max_confidence,
        "probe_max_confidence": result.probe_max_confidence,
        "data_sha256": data.sha256,
        "data_source": data.source,
        "preprocessing_version": PREPROCESSING_VERSION,
        "input": INPUT_LAYOUT,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "numpy_version": np.__version__,
        "training_seconds": round(seconds, 1),
        "epochs": epochs_run,
        "max_epochs": config.epochs,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "train_images": counts["train"],
        "realistic_train_images": counts["realistic_train"],
        "validation_images": counts["validation"],
        "params": params,
    }


def train(config: TrainConfig, settings: Settings) -> TrainResult:
    """Run the whole pipeline: data, training, evaluation, store, report.

    Args:
        config: The run's options.
        settings: Supplies the model name and where MNIST comes from.

    Returns:
        The stored tag, its metadata and the report files.
    """
    data = load_mnist(settings)
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    split = split_validation(data, config, rng)
    realistic_train, realistic_val = realistic_sets(split, config)
    x, y = training_arrays(split, realistic_train, rng)
    val = validation_arrays(split, realistic_val)
    classifier, history, seconds = fit(config, x, y, val)
    calibration = calibrate(classifier, split, realistic_val)
    log.info("calibrated on the validation split: temperature %.3f, sure from %.3f",
             calibration.temperature, calibration.threshold)  # fmt: skip
    log.info("scoring the %d test images once, and the non-digit probes", len(data.y_test))
    result = evaluate(classifier, data.x_test, data.y_test)
    counts = {
        "train": len(y),
        "realistic_train": len(realistic_train),
        "validation": len(val[1]),
    }
    epochs_run = len(history.get("loss", []))
    metadata = build_metadata(
        config, data, result, calibration, counts, classifier.count_params(), seconds, epochs_run
    )
    _log_evaluation(config, result)
    labels = {"mode": config.mode, "framework": "keras", "runtime": "litert", "dataset": "mnist"}
    checks = {"mnist_test": data.x_test, "realistic_validation": realistic_val.images}
    with tempfile.TemporaryDirectory() as scratch:
        metadata["litert_agreement"] = convert_and_check(classifier, Path(scratch), checks)
        litert = Path(scratch) / LITERT_FILE
        tag = save_model(settings.model_name, classifier, metadata, labels, files=[litert])
    log.info("stored %s in the BentoML model store", tag)
    files = write_report(
        config.report_dir,
        metadata,
        result.confusion,
        history,
        extra={"tag": tag, "load_average": _load_average()},
    )
    log.info("report written to %s", config.report_dir)
    return TrainResult(tag=tag, metadata=metadata, report_files=files)


def _log_evaluation(config: TrainConfig, result: Evaluation) -> None:
    log.info("test accuracy %.2f%%", 100 * result.test_accuracy)
    log.info(
        "per digit: %s",
        " ".join(f"{d}={100 * a:.1f}%" for d, a in result.per_digit_accuracy.items()),
    )
    log.info("highest confidence on a non-digit probe: %.3f", result.blank_max_confidence)
    if not config.quick and result.test_accuracy < MIN_FULL_ACCURACY:
        log.warning("accuracy is below the %.1f%% target", 100 * MIN_FULL_ACCURACY)


def _load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def configure_logging(level: str) -> None:
    """Timestamped log lines on stderr for the ``training`` loggers."""
    setup_logging(level)


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Command line -> :class:`TrainConfig`."""
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 6,000 images, 1 epoch")
    parser.add_argument("--epochs", type=int, help=f"default {DEFAULT_EPOCHS} (quick: 1)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR)
    args = parser.parse_args(argv)
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else DEFAULT_EPOCHS)
    if epochs < 1:
        parser.error("--epochs must be at least 1")
    return TrainConfig(quick=args.quick, epochs=epochs, seed=args.seed, report_dir=args.report_dir)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m training.train``; prints the stored tag on stdout.

    A full run that is servable (accuracy target, LiteRT file) is promoted: ``make train`` is
    the operator asking for a new model. A quick run never is.
    """
    config = parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level)
    result = train(config, settings)
    stored = find_model(settings.model_name, result.tag.partition(":")[2])
    if stored is not None and stored.is_servable:
        promote(result.tag)
        log.info("promoted %s: the service serves it from its next start", result.tag)
    else:
        log.info("%s is stored but not promoted (not a servable full model)", result.tag)
    print(result.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
