"""What one recorded prediction holds, independent of where it is stored."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

NORMALIZED_SIZE = 28 * 28


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One accepted prediction: the answer, its provenance and the image the model saw.

    ``normalized`` is the 28x28 uint8 image after preprocessing (784 bytes), enough to replay the
    prediction or retrain later; raw uploads are never stored.
    """

    id: uuid.UUID
    created_at: datetime
    digit: int
    confidence: float
    probabilities: tuple[float, ...]
    model: str
    preprocessing: str
    image_sha256: str
    normalized: bytes
    filename: str | None
    content_type: str | None
    byte_size: int
    latency_ms: float
    label: int | None = field(default=None)

    def __post_init__(self) -> None:
        if len(self.probabilities) != 10:
            raise ValueError("probabilities must have 10 entries")
        if len(self.normalized) != NORMALIZED_SIZE:
            raise ValueError(f"normalized image must be {NORMALIZED_SIZE} bytes")
        if not 0 <= self.digit <= 9:
            raise ValueError("digit must be 0-9")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")

    @property
    def day(self) -> date:
        """The UTC day the prediction belongs to (the history's partition)."""
        return self.created_at.astimezone(UTC).date()

    def to_json(self) -> str:
        """A self-contained JSON line (used by the spool and for export)."""
        data: dict[str, Any] = asdict(self)
        data["id"] = str(self.id)
        data["created_at"] = self.created_at.isoformat()
        data["probabilities"] = list(self.probabilities)
        data["normalized"] = base64.b64encode(self.normalized).decode("ascii")
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> PredictionRecord:
        """Inverse of :meth:`to_json`."""
        data = json.loads(line)
        data["id"] = uuid.UUID(data["id"])
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data["probabilities"] = tuple(float(p) for p in data["probabilities"])
        data["normalized"] = base64.b64decode(data["normalized"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of history, newest first; ``cursor`` fetches the next page (None at the end)."""

    records: list[PredictionRecord]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class DayStats:
    """Counts for one UTC day: predictions per digit and user feedback on them."""

    day: date
    counts: dict[int, int]
    feedback: int = 0
    correct: int = 0

    @property
    def total(self) -> int:
        """All predictions of the day."""
        return sum(self.counts.values())

    @property
    def feedback_accuracy(self) -> float | None:
        """Share of predictions users confirmed as right, None without feedback."""
        return self.correct / self.feedback if self.feedback else None


def utc_now() -> datetime:
    """Now, in UTC, truncated to milliseconds (the precision every store keeps)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)
