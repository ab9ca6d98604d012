"""Retrain on users' corrections, then let the promotion gate decide what is served.

The candidate starts from the served model's weights and is fine-tuned with the training
recipe's own data mix (clean MNIST training digits with the recipe's augmentation, realistic
renders of training digits, non-digit images) plus the feedback examples, each repeated
``weight`` times (augmented differently each time). The validation split is the recipe's (same
seed), and it calibrates the candidate as the recipe does; the test set is scored once. A held-out
share of the feedback, chosen by image hash, is never trained on: it judges the candidate.

The candidate is stored (``stage=candidate``) whatever the gate decides; it is promoted only
when :func:`training.feedback.gate.decide` says so, else labelled ``stage=refused``.
``reports/retrain/`` says why either way.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imaging.contract import KERAS_FILE, LITERT_FILE, to_model_input
from imaging.pipeline import PREPROCESSING_VERSION
from serving.classifier import model_temperature
from settings import Settings
from training.feedback import dataset as feedback_data
from training.feedback.gate import Check, Decision, Rules, decide
from training.feedback.scoring import realistic_sets, score
from training.store import (
    MIN_FULL_ACCURACY,
    STAGE,
    StoredModel,
    find_model,
    promote,
    set_labels,
)

log = logging.getLogger("training.feedback.retrain")

DEFAULT_REPORT_DIR = Path("reports/retrain")
#: Fewer training (non-held-out) corrections than this is not worth a run.
MIN_TRAIN_EXAMPLES = 20
#: The weight mixes :func:`choose_mix` considers (1.0: the fine-tuned weights as they are).
MIX_GRID = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2)


@dataclass(frozen=True)
class RetrainConfig:
    """One retraining run.

    Attributes:
        dataset: Feedback file (None: the newest in ``var/feedback``).
        report_dir: Where ``reports/retrain`` goes.
        epochs: Fine-tuning passes over the mix.
        weight: Times each feedback example appears per epoch.
        holdout: Share of the feedback held out for the gate (by image hash).
        validation: Share of the feedback that, with the recipe's validation split, chooses
            the weight mix (by image hash, next to the held-out share; never trained on).
        replay: Clean MNIST training digits in the mix.
        realistic: Realistic renders of training digits in the mix.
        per_condition: Images per condition in the gate's realistic sets.
        peak_lr: Peak learning rate (the recipe's schedule, warm-up then cosine).
        seed: The recipe's seed (same validation split).
        promote: Promote the candidate when the gate accepts it.
        rules: The gate's thresholds.
    """

    dataset: Path | None = None
    report_dir: Path = DEFAULT_REPORT_DIR
    epochs: int = 3
    weight: int = 8
    holdout: float = 0.2
    validation: float = 0.15
    replay: int = 20_000
    realistic: int = 10_000
    per_condition: int = 300
    peak_lr: float = 3e-4
    seed: int = 42
    promote: bool = True
    rules: Rules = field(default_factory=Rules)


@dataclass(frozen=True)
class RetrainResult:
    """The candidate's tag, the gate's decision and the report's files."""

    candidate: str
    current: str
    decision: Decision
    report_files: list[Path]


def retrain(config: RetrainConfig, settings: Settings) -> RetrainResult:
    """Fine-tune a candidate on the feedback, gate it, promote it or not, write the report.

    Raises:
        LookupError: no promoted model, or no feedback dataset.
        ValueError: the dataset is for another preprocessing version, or too small.
    """
    current = find_model(settings.model_name)
    if current is None:
        raise LookupError(f"no promoted {settings.model_name} to retrain: run `make model`")
    path = config.dataset or feedback_data.newest()
    if path is None:
        raise LookupError("no feedback dataset: run `python -m training.feedback export`")
    examples = _feedback(path)
    fraction = feedback_data.hash_fraction(examples)
    held = fraction < config.holdout
    checking = ~held & (fraction < config.holdout + config.validation)
    trained = examples.subset(~held & ~checking)
    judged = examples.subset(held)
    if len(trained) < MIN_TRAIN_EXAMPLES or len(judged) == 0:
        raise ValueError(
            f"{len(trained)} training and {len(judged)} held-out feedback examples: at least "
            f"{MIN_TRAIN_EXAMPLES} and 1 are needed"
        )
    log.info("feedback %s: %d examples, %d to train on, %d to validate, %d held out for the gate",
             path.name, len(examples), len(trained), int(checking.sum()), len(judged))  # fmt: skip
    candidate, training = _fine_tune(
        current, trained, examples.subset(checking), config, settings, path
    )
    log.info(
        "stored candidate %s; scoring it and %s on the gate's sets", candidate.tag, current.tag
    )
    decision, scores = _gate(current, candidate, judged, config)
    if decision.promote and config.promote:
        promote(candidate.tag)
        log.info("promoted %s: it is served from the next start of the service", candidate.tag)
    else:
        set_labels(candidate.tag, {STAGE: "refused" if not decision.promote else "candidate"})
        for reason in decision.reasons:
            log.warning("not promoted: %s", reason)
    from training.feedback.report import write_report

    files = write_report(
        config.report_dir,
        current=current,
        candidate=candidate,
        decision=decision,
        scores=scores,
        dataset=examples,
        split={"train": len(trained), "validation": int(checking.sum()), "held_out": len(judged)},
        training=training,
        promoted=decision.promote and config.promote,
    )
    return RetrainResult(candidate.tag, current.tag, decision, files)


def _feedback(path: Path) -> feedback_data.FeedbackDataset:
    """The dataset, checked against the current preprocessing, deduplicated by image hash."""
    loaded = feedback_data.load(path)
    if loaded.manifest.get("preprocessing") != PREPROCESSING_VERSION:
        raise ValueError(
            f"{path} holds {loaded.manifest.get('preprocessing')} images; the service applies "
            f"{PREPROCESSING_VERSION}: export again"
        )
    unique, counts = feedback_data.deduplicate(loaded)
    log.info("deduplicated by image hash: %d repeats merged, %d ties dropped",
             counts["duplicates"], counts["ties"])  # fmt: skip
    return unique


def _fine_tune(
    current: StoredModel,
    feedback: feedback_data.FeedbackDataset,
    checking: feedback_data.FeedbackDataset,
    config: RetrainConfig,
    settings: Settings,
    dataset_path: Path,
) -> tuple[StoredModel, dict[str, Any]]:
    """Train, calibrate, convert and store the candidate (TensorFlow is imported here only)."""
    import keras

    from training.data import load_mnist
    from training.evaluate import evaluate
    from training.litert import convert_and_check
    from training.model import build_training_model, compile_for_training
    from training.realistic import realistic_examples
    from training.store import save_model
    from training.train import (
        Split,
        TrainConfig,
        build_metadata,
        calibrate,
        realistic_validation,
        split_validation,
        targets,
        training_arrays,
        validation_arrays,
    )

    recipe = TrainConfig(epochs=config.epochs, seed=config.seed, report_dir=config.report_dir)
    data = load_mnist(settings)
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    split = split_validation(data, recipe, rng)  # the recipe's validation split, same seed
    replay = rng.permutation(len(split.y_train))[: config.replay]
    mix = Split(split.x_train[replay], split.y_train[replay], split.x_val, split.y_val)
    renders = realistic_examples(mix.x_train, mix.y_train, config.realistic, config.seed + 7,
                                 "retrain")  # fmt: skip
    realistic_val = realistic_validation(split, recipe)
    x, y = training_arrays(mix, renders, rng)
    repeated = np.repeat(np.arange(len(feedback)), config.weight)
    x = {
        "image": np.concatenate([x["image"], to_model_input(feedback.images[repeated])]),
        "augment_flag": np.concatenate(
            [x["augment_flag"], np.ones((len(repeated), 1), np.float32)]
        ),
    }
    y = np.concatenate([y, targets(feedback.labels[repeated])])
    model = keras.saving.load_model(Path(current.path) / KERAS_FILE, compile=False)
    trainer = build_training_model(model, seed=config.seed)
    steps = config.epochs * int(np.ceil(len(y) / recipe.batch_size))
    compile_for_training(trainer, total_steps=steps, peak_lr=config.peak_lr)
    x_val, labels_val = validation_arrays(split, realistic_val)
    validation = (
        {"image": x_val, "augment_flag": np.zeros((len(x_val), 1), np.float32)},
        targets(labels_val),
    )
    log.info("fine-tuning %s on %d images (%d feedback x %d) for %d epoch(s)",
             current.tag, len(y), len(feedback), config.weight, config.epochs)  # fmt: skip
    started = time.monotonic()
    history = trainer.fit(
        x, y, batch_size=recipe.batch_size, epochs=config.epochs, shuffle=True,
        validation_data=validation, validation_batch_size=1000, verbose=2,
    )  # fmt: skip
    seconds = time.monotonic() - started
    served = keras.saving.load_model(Path(current.path) / KERAS_FILE, compile=False)
    clean = len(split.y_val)
    by_kind = {
        "clean": (x_val[:clean], labels_val[:clean]),
        "realistic": (
            x_val[clean:][labels_val[clean:] >= 0],
            labels_val[clean:][labels_val[clean:] >= 0],
        ),
    }
    blend = choose_mix(model, served.get_weights(), by_kind, checking, config)
    calibration = calibrate(model, split, realistic_val)
    result = evaluate(model, data.x_test, data.y_test)
    counts = {"train": len(y), "realistic_train": len(renders), "validation": len(labels_val)}
    metadata = build_metadata(recipe, data, result, calibration, counts, model.count_params(),
                              seconds, config.epochs)  # fmt: skip
    metadata.update(
        recipe="fine-tune of the served model on feedback",
        parent=current.tag,
        feedback_dataset=dataset_path.name,
        feedback_fingerprint=feedback.manifest.get("fingerprint", ""),
        feedback_train_examples=len(feedback),
        feedback_weight=config.weight,
        weight_mix=blend["alpha"],
        weight_mix_choice=blend["table"],
    )
    labels = {"mode": recipe.mode, "framework": "keras", "runtime": "litert", "dataset": "mnist",
              "source": "feedback"}  # fmt: skip
    checks = {"mnist_test": data.x_test, "realistic_validation": realistic_val.images}
    with tempfile.TemporaryDirectory() as scratch:
        metadata["litert_agreement"] = convert_and_check(model, Path(scratch), checks)
        tag = save_model(settings.model_name, model, metadata, labels,
                         files=[Path(scratch) / LITERT_FILE])  # fmt: skip
    stored = find_model(settings.model_name, tag.partition(":")[2])
    assert stored is not None
    history_lists = {k: [float(v) for v in values] for k, values in history.history.items()}
    return stored, {"seconds": round(seconds, 1), "history": history_lists, "images": len(y)}


def choose_mix(
    model: Any,
    served: list[np.ndarray],
    validation: dict[str, tuple[np.ndarray, np.ndarray]],
    checking: feedback_data.FeedbackDataset,
    config: RetrainConfig,
) -> dict[str, Any]:
    """Interpolate the fine-tuned weights towards the served model's, on validation data only.

    ``alpha * tuned + (1 - alpha) * served`` (weight-space ensembling, as in WiSE-FT): small
    ``alpha`` keeps the served model's accuracy, large ``alpha`` the new skill. The chosen
    ``alpha`` is the one best on the validation feedback among those that stay within the gate's
    tolerances of the served model on the recipe's validation split (``clean`` digits: the MNIST
    tolerance; ``realistic`` renders: the pooled one); if none does, the closest to the served
    model. Leaves ``model`` with the chosen weights.
    """
    tuned = model.get_weights()
    sets = {**validation, "feedback": (to_model_input(checking.images), checking.labels)}

    def measure(alpha: float) -> dict[str, float]:
        model.set_weights([alpha * t + (1 - alpha) * s for t, s in zip(tuned, served, strict=True)])
        found = {"alpha": alpha}
        for name, (x, labels) in sets.items():
            digits = model.predict(x, batch_size=1000, verbose=0).argmax(axis=1) if len(x) else []
            found[name] = round(float(np.mean(digits == labels)), 5) if len(x) else 0.0
        return found

    base = measure(0.0)
    table = [measure(alpha) for alpha in MIX_GRID]
    rules = config.rules
    keeping = [
        row
        for row in table
        if row["clean"] >= base["clean"] - rules.mnist_tolerance - 1e-9
        and row["realistic"] >= base["realistic"] - rules.pooled_tolerance - 1e-9
    ]
    if keeping:
        best = max(keeping, key=lambda r: (r["feedback"], -r["alpha"]))
    else:
        best = max(table, key=lambda r: (r["clean"] + r["realistic"], -r["alpha"]))
    model.set_weights(
        [best["alpha"] * t + (1 - best["alpha"]) * s for t, s in zip(tuned, served, strict=True)]
    )
    log.info("weight mix %.2f: validation clean %.2f%%, realistic %.2f%% (served %.2f%%, %.2f%%), "
             "validation feedback %.1f%%", best["alpha"], 100 * best["clean"],
             100 * best["realistic"], 100 * base["clean"], 100 * base["realistic"],
             100 * best["feedback"])  # fmt: skip
    return {"alpha": best["alpha"], "served": base, "table": table}


def _gate(
    current: StoredModel,
    candidate: StoredModel,
    judged: feedback_data.FeedbackDataset,
    config: RetrainConfig,
) -> tuple[Decision, dict[str, Any]]:
    from evaluation.sets import test_split

    mnist = test_split()
    realistic = realistic_sets(config.per_condition)
    feedback = (judged.images, judged.labels)
    scores = {}
    for name, model in (("current", current), ("candidate", candidate)):
        temperature = model_temperature(model.metadata)
        scores[name] = score(Path(model.path), model.tag, temperature, mnist, realistic, feedback)
    decision = decide(scores["current"], scores["candidate"], config.rules)
    accuracy = float(candidate.metadata.get("test_accuracy", 0.0))
    servable = Check(
        "servable",
        candidate.is_servable,
        1.0,
        float(candidate.is_servable),
        "full model for the current preprocessing with its LiteRT file, test accuracy "
        f"{100 * accuracy:.2f}% (at least {100 * MIN_FULL_ACCURACY:.1f}% needed)",
    )
    checks = [*decision.checks, servable]
    return Decision(all(c.passed for c in checks), checks), scores
