"""Make sure the store holds a servable full model; train one if it does not.

Usage::

    python -m training.ensure

Checks the model the service will load (``DIGITS_MODEL_NAME:DIGITS_MODEL_VERSION``, by default
the promoted ``mnist_cnn``, see :mod:`serving.model_choice`). When it is missing, or is a quick
smoke model, or missed the accuracy target, or was trained for another preprocessing version,
the model shipped with the repository (``models/mnist_cnn.bentomodel``) is imported; only
without one does a default full training run store a new version. Either is then promoted.
Called by ``make model``, hence before ``make serve`` and ``make test``.
"""

from __future__ import annotations

import logging
import sys

from cli import setup_logging
from imaging.contract import LITERT_FILE
from imaging.pipeline import PREPROCESSING_VERSION
from serving.model_choice import PROMOTED
from settings import Settings, load_settings
from training.store import (
    ARCHIVE,
    MIN_FULL_ACCURACY,
    StoredModel,
    find_model,
    import_archive,
    list_models,
    promote,
)

log = logging.getLogger("training.ensure")


def describe(model: StoredModel) -> str:
    """One line about a stored model: tag, mode, accuracy, training time."""
    meta = model.metadata
    accuracy = float(meta.get("test_accuracy", 0.0))
    return (
        f"{model.tag} (mode {meta.get('mode', '?')}, test accuracy {accuracy:.2%}, "
        f"{meta.get('epochs', '?')} epochs in {meta.get('training_seconds', '?')} s)"
    )


def why_not_servable(settings: Settings, model: StoredModel | None) -> str | None:
    """Why the configured model is not a servable full model, or None when it is."""
    wanted = f"{settings.model_name}:{settings.model_version}"
    if model is None:
        return f"the store has no model {wanted}"
    if not model.is_full:
        return (
            f"{wanted} is {describe(model)}, not a full model reaching the "
            f"{MIN_FULL_ACCURACY:.1%} target"
        )
    if not model.fits_preprocessing:
        trained_for = model.metadata.get("preprocessing_version", "?")
        return (
            f"{wanted} was trained for {trained_for}, the service applies {PREPROCESSING_VERSION}"
        )
    if not model.has_litert:
        return f"{wanted} has no {LITERT_FILE} (python -m training.add_litert adds one)"
    return None


def ensure_model(settings: Settings) -> int:
    """Check the configured model; import the shipped one or train when needed, and promote it.

    Returns:
        Process exit status: 0 when a servable full model is in place (and, for the default
        ``DIGITS_MODEL_VERSION=promoted``, promoted).
    """
    model = find_model(settings.model_name, settings.model_version)
    problem = why_not_servable(settings, model)
    if problem is None and model is not None:
        log.info("model ready: %s", describe(model))
        return 0
    log.info("%s", problem)
    if settings.model_version not in (PROMOTED, "latest"):
        log.error("DIGITS_MODEL_VERSION pins a version; training would not change what is served")
        return 1
    if ARCHIVE.exists() and settings.model_name == "mnist_cnn":
        log.info("importing the model shipped with the repository: %s", ARCHIVE.name)
        shipped = import_archive(ARCHIVE)
        if shipped.is_servable:
            return _ready(promote(shipped.tag))
        log.warning("the shipped model %s is not servable; training", shipped.tag)
    older = [m for m in list_models(settings.model_name) if m.is_servable]
    if older:
        hint = "promote it (python -m training.store --promote TAG) to serve it instead"
        log.info("an older servable model exists (%s); %s", older[0].tag, hint)
    # No duration here: it changes with the recipe and the machine (README has the measured one).
    log.info(
        "training the default full model (python -m training.train): it renders and preprocesses "
        "the realistic pages, then logs one line per epoch"
    )
    from training.train import TrainConfig, train  # imports TensorFlow: only when training

    result = train(TrainConfig(), settings)
    trained = StoredModel(result.tag, "", result.metadata)
    if not trained.is_full:
        log.error("the new model %s missed the accuracy target", describe(trained))
        return 1
    return _ready(promote(result.tag))


def _ready(model: StoredModel) -> int:
    log.info("model ready and promoted: %s", describe(model))
    return 0


def main() -> int:
    """Entry point of ``python -m training.ensure``."""
    settings = load_settings()
    setup_logging(settings.log_level)
    return ensure_model(settings)


if __name__ == "__main__":
    sys.exit(main())
