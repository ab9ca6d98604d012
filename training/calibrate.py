"""Confidence that means something: temperature scaling and the `sure` threshold.

Both are fitted on the validation split (never the test set) and stored in the model's
metadata; the service applies them (:mod:`serving.classifier`).

- :func:`fit_temperature` finds T minimising the negative log-likelihood of
  ``softmax(log p / T)`` (Guo et al., 2017: one parameter, accuracy unchanged).
- :func:`sure_threshold` is the lowest confidence at which, on every realistic condition, at
  least ``precision`` of the answers given as `sure` are right, and at which nearly all pages
  without a digit are `not sure`.
"""

from __future__ import annotations

import numpy as np

from serving.classifier import apply_temperature

TEMPERATURES = np.exp(np.linspace(np.log(0.5), np.log(5.0), 91))
#: Share of `sure` answers that must be right on each validation condition.
SURE_PRECISION = 0.995
#: Share of no-digit pages that must come out `not sure` (when preprocessing passes them).
NO_DIGIT_UNSURE = 0.99
LOWEST_THRESHOLD = 0.5
HIGHEST_THRESHOLD = 0.99


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (grid search over 0.5-5) with the lowest NLL on labelled digits."""
    rows = np.arange(len(labels))

    def nll(t: float) -> float:
        scaled = apply_temperature(probabilities, t)
        return float(-np.log(np.clip(scaled[rows, labels], 1e-12, 1.0)).mean())

    return float(min(TEMPERATURES, key=nll))


def sure_threshold(
    probabilities: np.ndarray,
    labels: np.ndarray,
    conditions: np.ndarray,
    precision: float = SURE_PRECISION,
) -> tuple[float, dict[str, float]]:
    """The lowest threshold meeting the precision target on every condition.

    Args:
        probabilities: Calibrated probabilities [N, 10].
        labels: True digit, or -1 for a page without a digit.
        conditions: The condition of each row (e.g. ``clean``, ``ruled``, ``no_digit``).
        precision: Target share of right answers among `sure` ones, per condition.

    Returns:
        The threshold and, per condition, the threshold that condition alone would need.
    """
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == labels
    needed: dict[str, float] = {}
    for condition in sorted(set(conditions.tolist())):
        rows = conditions == condition
        if np.all(labels[rows] < 0):
            needed[condition] = float(np.quantile(confidence[rows], NO_DIGIT_UNSURE))
        else:
            needed[condition] = _precise_from(confidence[rows], right[rows], precision)
    threshold = float(np.clip(max(needed.values()), LOWEST_THRESHOLD, HIGHEST_THRESHOLD))
    return round(threshold, 4), {k: round(v, 4) for k, v in needed.items()}


def _precise_from(confidence: np.ndarray, right: np.ndarray, precision: float) -> float:
    """Lowest threshold t such that answers with confidence >= t are right ``precision`` often."""
    order = np.argsort(-confidence)
    hits = np.cumsum(right[order])
    shares = hits / np.arange(1, len(order) + 1)
    # Lowering the threshold admits answers in decreasing confidence; the lowest threshold at
    # which the admitted answers as a whole still meet the target.
    meets = shares >= precision
    if not meets[0]:
        return 1.0
    last = int(np.flatnonzero(meets)[-1])
    return float(confidence[order][last])
