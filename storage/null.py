"""A store that records nothing (``none://``): for benchmarks of the storage overhead."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from storage.base import PredictionStore
from storage.records import DayStats, Page, PredictionRecord


class NullStore(PredictionStore):
    """Accepts every record and keeps none. Never use it where predictions matter."""

    name = "none"

    def record(self, record: PredictionRecord) -> None:
        """Drop the record."""

    def record_many(self, records: Sequence[PredictionRecord]) -> None:
        """Drop the records."""

    def get(self, prediction_id: uuid.UUID) -> PredictionRecord | None:
        """Nothing is ever found."""
        return None

    def recent(self, limit: int, cursor: str | None = None, day: date | None = None) -> Page:
        """Always empty."""
        return Page([], None)

    def stats(self, day: date) -> DayStats:
        """All zeros."""
        return DayStats(day, dict.fromkeys(range(10), 0))

    def set_label(self, prediction_id: uuid.UUID, label: int) -> bool:
        """There is nothing to label."""
        return False
