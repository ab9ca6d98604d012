"""The JSON shapes of the public API; :mod:`serving.openapi` documents them from these models."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import datetime
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from imaging.contract import IMAGE_SHAPE
from storage.records import RECORD_COLUMNS, RECORD_FIELDS, DayStats, PredictionRecord


def recorded(name: str, default: Any = ..., doc: str | None = None, **constraints: Any) -> Any:
    """A pydantic field for the record's field ``name``, described as the record describes it.

    ``constraints`` are pydantic's (``ge``, ``le``, ...).
    """
    return Field(default, description=doc or RECORD_COLUMNS[name].doc, **constraints)


class Prediction(BaseModel):
    """The answer to one image."""

    id: uuid.UUID = recorded("id")
    digit: int = recorded("digit", ge=0, le=9)
    confidence: float = recorded("confidence", ge=0, le=1)
    sure: bool = Field(description="Whether confidence reaches the service's threshold.")
    probabilities: list[float] = recorded("probabilities")
    model: str = recorded("model")
    preprocessing: str = recorded("preprocessing")
    created_at: datetime = recorded("created_at")
    preview: str | None = Field(
        None, description="Base64 PNG of the 28x28 image the model saw (with preview=true)."
    )
    feedback_token: str = Field(
        description="Send it with feedback on this prediction (`token`): only the client that "
        "got the answer may label it."
    )


#: Record fields the history shows only to the operator's API token (they identify the upload).
PRIVATE_FIELDS = frozenset({"filename", "image_sha256"})
#: Record fields the history shows in another form: the image as a PNG ``preview``.
SHOWN_AS_PREVIEW = frozenset({"normalized"})


class HistoryItem(BaseModel):
    """One recorded prediction as the history shows it: every record field but the image."""

    id: uuid.UUID = recorded("id")
    digit: int = recorded("digit")
    confidence: float = recorded("confidence")
    probabilities: list[float] = recorded("probabilities")
    created_at: datetime = recorded("created_at")
    model: str = recorded("model")
    preprocessing: str = recorded("preprocessing")
    label: int | None = recorded("label", None)
    filename: str | None = recorded(
        "filename", None, "The uploaded file's name (only for the operator's API token)."
    )
    content_type: str | None = recorded("content_type", None)
    byte_size: int = recorded("byte_size")
    latency_ms: float = recorded("latency_ms")
    image_sha256: str | None = recorded(
        "image_sha256", None, "SHA-256 of the upload (only for the operator's API token)."
    )
    preview: str = Field(description="Base64 PNG of the 28x28 image the model saw.")

    @classmethod
    def from_record(cls, record: PredictionRecord, private: bool = False) -> HistoryItem:
        """Convert a stored record; ``private`` adds what identifies the upload."""
        shown = [n for n in RECORD_FIELDS if n not in SHOWN_AS_PREVIEW]
        values = {n: getattr(record, n) for n in shown if private or n not in PRIVATE_FIELDS}
        pixels = np.frombuffer(record.normalized, dtype=np.uint8).reshape(IMAGE_SHAPE)
        return cls(**values, preview=png_base64(pixels))


class HistoryPage(BaseModel):
    """One page of ``GET /predictions``, newest first."""

    items: list[HistoryItem]
    cursor: str | None = Field(description="Pass as ``cursor`` for the next page; null at the end.")


class FeedbackIn(BaseModel):
    """The body of ``POST /predictions/{id}/feedback``."""

    label: int = Field(ge=0, le=9, description="The digit the image really shows.")
    token: str | None = Field(
        None,
        description="The prediction's `feedback_token` (not needed with the operator's "
        "`Authorization: Bearer` API token).",
    )


class FeedbackOut(BaseModel):
    """The answer to feedback: what was stored and whether the model was right."""

    id: uuid.UUID
    label: int = Field(ge=0, le=9)
    digit: int = Field(ge=0, le=9, description="The digit the model predicted.")
    correct: bool


class StatsOut(BaseModel):
    """Counts of one UTC day."""

    day: str = Field(description="The UTC day counted, YYYY-MM-DD.")
    total: int
    counts: dict[str, int]
    feedback: int
    correct: int
    feedback_accuracy: float | None

    @classmethod
    def from_stats(cls, stats: DayStats) -> StatsOut:
        """Convert the store's stats."""
        return cls(
            day=stats.day.isoformat(),
            total=stats.total,
            counts={str(d): stats.counts.get(d, 0) for d in range(10)},
            feedback=stats.feedback,
            correct=stats.correct,
            feedback_accuracy=stats.feedback_accuracy,
        )


class StorageHealth(BaseModel):
    """The store's own report inside ``/readyz`` (further keys depend on the store)."""

    model_config = ConfigDict(extra="allow")

    store: str
    ok: bool = Field(description="Whether the store takes writes (directly or into its spool).")


class Readiness(BaseModel):
    """The ``/readyz`` report: ready once the model is loaded and the store takes writes."""

    ready: bool
    model: str | None = Field(None, description="Tag of the loaded model.")
    storage: StorageHealth | None = None
    reason: str | None = Field(None, description="Why not ready, while the service starts.")


class Error(BaseModel):
    """Every refusal of a JSON route (4xx and 503)."""

    error: str = Field(description="What went wrong and what to fix.")


def png_base64(pixels: np.ndarray) -> str:
    """A uint8 grayscale array as a base64-encoded PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
