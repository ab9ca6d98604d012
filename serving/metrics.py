"""Prometheus metrics of the service (exposed on /metrics by BentoML)."""

from __future__ import annotations

import bentoml

PREDICTIONS = bentoml.metrics.Counter(
    name="digits_predictions_total",
    documentation="Accepted predictions, by predicted digit.",
    labelnames=["digit"],
)
CONFIDENCE = bentoml.metrics.Histogram(
    name="digits_prediction_confidence",
    documentation="Confidence of accepted predictions.",
    buckets=(0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0),
)
REJECTED = bentoml.metrics.Counter(
    name="digits_rejected_total",
    documentation="Uploads refused, by HTTP status.",
    labelnames=["status"],
)
FEEDBACK = bentoml.metrics.Counter(
    name="digits_feedback_total",
    documentation="User feedback on predictions; outcome is correct or wrong. "
    "Live accuracy = correct / (correct + wrong).",
    labelnames=["outcome"],
)
