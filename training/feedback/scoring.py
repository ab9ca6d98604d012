"""What the promotion gate scores: both models, same images, the service's runtime.

The realistic sets are the evaluation's (``evaluation.sets``: MNIST **test** digits on ruled,
squared, shadowed... pages, at the published seed), rendered and preprocessed once per size and
cached under ``var/data/gate/``, keyed by the renderer's and preprocessing's sources. Each model
is scored through :class:`serving.classifier.Classifier` (its LiteRT file and calibration), as
the service would answer.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.sets import EVAL_SEED, plan_set
from imaging.contract import IMAGE_SHAPE
from training.feedback.gate import Scores
from training.paper import DIGIT_CONDITIONS
from training.realistic import ROOT, served_pixels, source_fingerprint

log = logging.getLogger("training.feedback.scoring")


@dataclass(frozen=True)
class RealisticSets:
    """Preprocessed realistic images with labels and conditions (refused pages left out)."""

    images: np.ndarray
    labels: np.ndarray
    conditions: np.ndarray


def _render_condition(job: tuple[str, int, int]) -> tuple[str, np.ndarray, np.ndarray]:
    condition, count, seed = job
    images, labels = [], []
    for draw in plan_set(condition, count, seed):
        sample = draw.render()
        pixels = served_pixels(sample.data, sample.content_type)
        if pixels is not None and draw.label is not None:
            images.append(pixels)
            labels.append(draw.label)
    empty = np.zeros((0, *IMAGE_SHAPE), np.uint8)
    return condition, np.stack(images) if images else empty, np.array(labels, np.int64)


def realistic_sets(per_condition: int, seed: int = EVAL_SEED, workers: int = 2) -> RealisticSets:
    """Every digit condition's evaluation set of ``per_condition`` images, preprocessed."""
    key = f"gate-{seed}-{per_condition}-{source_fingerprint()}"
    cache = ROOT / "var" / "data" / "gate" / f"{key}.npz"
    if cache.exists():
        with np.load(cache) as saved:
            return RealisticSets(saved["images"], saved["labels"], saved["conditions"])
    started = time.monotonic()
    parts: list[tuple[str, np.ndarray, np.ndarray]] = []
    jobs = [(c, per_condition, seed) for c in DIGIT_CONDITIONS]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, workers), mp_context=context) as pool:
        for part in pool.map(_render_condition, jobs):
            parts.append(part)
            log.info("gate sets: %s rendered (%d/%d conditions, %.0f s)", part[0], len(parts),
                     len(jobs), time.monotonic() - started)  # fmt: skip
    sets = RealisticSets(
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([np.full(len(p[2]), p[0]) for p in parts]),
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, images=sets.images, labels=sets.labels, conditions=sets.conditions)
    return sets


def score(
    model_dir: Path,
    tag: str,
    temperature: float,
    mnist: tuple[np.ndarray, np.ndarray],
    realistic: RealisticSets,
    feedback: tuple[np.ndarray, np.ndarray],
) -> Scores:
    """One model's gate scores: MNIST test, each realistic condition, held-out feedback."""
    from serving.classifier import Classifier

    classifier = Classifier(model_dir, tag, temperature=temperature)

    def right(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if len(labels) == 0:
            return np.zeros(0, bool)
        digits = np.concatenate(
            [
                classifier.predict(images[i : i + 500]).argmax(axis=1)
                for i in range(0, len(images), 500)
            ]
        )
        result: np.ndarray = digits == labels
        return result

    realistic_right = right(realistic.images, realistic.labels)
    conditions = {
        str(c): float(realistic_right[realistic.conditions == c].mean())
        for c in sorted(set(realistic.conditions.tolist()))
    }
    return Scores(
        mnist=float(right(*mnist).mean()),
        conditions=conditions,
        pooled=float(realistic_right.mean()),
        feedback_right=right(*feedback),
    )
