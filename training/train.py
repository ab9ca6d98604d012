"""Train the digit classifier, evaluate it, store it in BentoML and write a report.

Usage::

    python -m training.train [--quick] [--epochs N] [--seed S] [--report-dir reports/training]

The default run trains on all 60,000 training images (plus 2.5% non-digit images with uniform
targets) and stores a model with metadata ``mode: full``. ``--quick`` trains one epoch on a
6,000-image subset for smoke tests; it is stored with ``mode: quick``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from imaging.normalize import PREPROCESSING_VERSION
from settings import Settings, load_settings
from training.data import NUM_CLASSES, MnistData, load_mnist
from training.evaluate import Evaluation, evaluate, to_model_input
from training.model import build_classifier, build_training_model, compile_for_training
from training.rejects import REJECT_SHARE, reject_images, uniform_targets
from training.report import write_report
from training.store import MIN_FULL_ACCURACY, save_model

log = logging.getLogger("training")

DEFAULT_EPOCHS = 9
QUICK_EPOCHS = 1
QUICK_TRAIN_IMAGES = 6_000
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


def training_arrays(
    data: MnistData, config: TrainConfig, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Model input and probability targets: digits (one-hot) plus non-digits (uniform).

    Args:
        data: The verified data set.
        config: In quick mode only a random subset of the training images is used.
        rng: Seeded generator for the subset and the non-digit images.

    Returns:
        ``(x, y)``: x holds ``image`` float32 [N, 28, 28, 1] in [0, 1] and ``augment_flag`` [N, 1]
        (1 for digits, 0 for non-digits); y is float32 [N, 10].
    """
    x_digits, y_digits = data.x_train, data.y_train
    if config.quick:
        chosen = rng.choice(len(y_digits), size=QUICK_TRAIN_IMAGES, replace=False)
        x_digits, y_digits = x_digits[chosen], y_digits[chosen]
    rejects = round(REJECT_SHARE * len(y_digits))
    images = np.concatenate([to_model_input(x_digits), reject_images(rejects, rng)])
    augment = np.concatenate([np.ones(len(y_digits)), np.zeros(rejects)]).astype(np.float32)
    y = np.concatenate(
        [keras.utils.to_categorical(y_digits, NUM_CLASSES), uniform_targets(rejects)]
    )
    return {"image": images, "augment_flag": augment[:, None]}, y.astype(np.float32)


def fit(
    config: TrainConfig, data: MnistData, x: dict[str, np.ndarray], y: np.ndarray
) -> tuple[keras.Model, dict[str, list[float]], float]:
    """Train a fresh classifier; the test set is only monitored, never used for selection.

    Returns:
        The trained inference model, the Keras history and the training wall time in seconds.
    """
    classifier = build_classifier()
    trainer = build_training_model(classifier, seed=config.seed)
    count = len(y)
    steps = config.epochs * int(np.ceil(count / config.batch_size))
    compile_for_training(trainer, total_steps=steps)
    y_test = keras.utils.to_categorical(data.y_test, NUM_CLASSES)
    x_test = {
        "image": to_model_input(data.x_test),
        "augment_flag": np.zeros((len(data.y_test), 1), np.float32),
    }
    log.info(
        "training %s (%d parameters) on %d images for %d epoch(s), batch %d, load average %s",
        classifier.name,
        classifier.count_params(),
        count,
        config.epochs,
        config.batch_size,
        _load_average(),
    )
    started = time.monotonic()
    history = trainer.fit(
        x,
        y,
        batch_size=config.batch_size,
        epochs=config.epochs,
        shuffle=True,
        validation_data=(x_test, y_test),
        validation_batch_size=1000,
        verbose=1,
    )
    seconds = time.monotonic() - started
    log.info("training took %.0f s (load average now %s)", seconds, _load_average())
    return classifier, {k: list(v) for k, v in history.history.items()}, seconds


def build_metadata(
    config: TrainConfig,
    data: MnistData,
    result: Evaluation,
    params: int,
    seconds: float,
    train_images: int,
) -> dict[str, Any]:
    """The metadata stored with the model (and copied into report.json)."""
    return {
        "mode": config.mode,
        "test_accuracy": round(result.test_accuracy, 5),
        "per_digit_accuracy": result.per_digit_accuracy,
        "blank_max_confidence": result.blank_max_confidence,
        "probe_max_confidence": result.probe_max_confidence,
        "data_sha256": data.sha256,
        "data_source": data.source,
        "preprocessing_version": PREPROCESSING_VERSION,
        "input": "float32 [N, 28, 28, 1], pixel/255, light ink on dark (MNIST polarity)",
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "numpy_version": np.__version__,
        "training_seconds": round(seconds, 1),
        "epochs": config.epochs,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "train_images": train_images,
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
    x, y = training_arrays(data, config, np.random.default_rng(config.seed))
    classifier, history, seconds = fit(config, data, x, y)
    log.info("evaluating on %d test images and non-digit probes", len(data.y_test))
    result = evaluate(classifier, data.x_test, data.y_test)
    metadata = build_metadata(config, data, result, classifier.count_params(), seconds, len(y))
    _log_evaluation(config, result)
    labels = {"mode": config.mode, "framework": "keras", "dataset": "mnist"}
    tag = save_model(settings.model_name, classifier, metadata, labels)
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
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


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
    """Entry point of ``python -m training.train``; prints the stored tag on stdout."""
    config = parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level)
    result = train(config, settings)
    print(result.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
