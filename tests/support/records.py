"""Build valid prediction records for store tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from storage.records import PredictionRecord

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def make_record(digit: int = 7, offset_s: float = 0.0, **changes: object) -> PredictionRecord:
    """A plausible record ``offset_s`` seconds after T0."""
    probabilities = [0.001] * 10
    probabilities[digit % 10] = 0.991
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "created_at": T0 + timedelta(seconds=offset_s),
        "digit": digit,
        "confidence": 0.991,
        "probabilities": tuple(probabilities),
        "model": "mnist_cnn:test",
        "preprocessing": "mnist-norm-1",
        "image_sha256": "ab" * 32,
        "normalized": bytes(range(256)) * 3 + bytes(16),
        "filename": "seven.png",
        "content_type": "image/png",
        "byte_size": 321,
        "latency_ms": 2.5,
    }
    fields.update(changes)
    return PredictionRecord(**fields)  # type: ignore[arg-type]
