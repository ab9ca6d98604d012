"""The interface every prediction store implements."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from datetime import date

from storage.records import DayStats, Page, PredictionRecord


class StoreError(Exception):
    """The store could not do what was asked (not a client error)."""


class PredictionStore(abc.ABC):
    """Where predictions are recorded and read back.

    ``record`` returns only once the record is durable (written, or in a durable spool); it
    raises :class:`StoreError` when it can be neither, so the caller can refuse the request
    instead of losing a prediction it has answered. Writing the same record twice leaves one
    record (ids are client-generated UUIDs).
    """

    name: str = "abstract"

    @abc.abstractmethod
    def record(self, record: PredictionRecord) -> None:
        """Durably record one prediction (idempotent on ``record.id``)."""

    @abc.abstractmethod
    def record_many(self, records: Sequence[PredictionRecord]) -> None:
        """Durably record several predictions, all of them or none (idempotent on the ids).

        Raises:
            StoreError: none of them is recorded (or, if undoing a partial write failed too,
                the message says which ids may remain).
        """

    @abc.abstractmethod
    def get(self, prediction_id: uuid.UUID) -> PredictionRecord | None:
        """One prediction by id, or None."""

    @abc.abstractmethod
    def recent(self, limit: int, cursor: str | None = None, day: date | None = None) -> Page:
        """Predictions newest first (of one UTC day when ``day`` is given), ``limit`` at most."""

    @abc.abstractmethod
    def stats(self, day: date) -> DayStats:
        """Predictions per digit (0-9, all present) and feedback counts of one UTC day.

        A prediction whose label was given counts as feedback; ``correct`` when label == digit.
        """

    @abc.abstractmethod
    def set_label(self, prediction_id: uuid.UUID, label: int) -> bool:
        """Record the true label a user gave for a prediction; False if it does not exist."""

    def health(self) -> dict[str, object]:
        """State for ``/readyz`` and logs; ``ok`` False means the store cannot take writes."""
        return {"store": self.name, "ok": True}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and background threads."""
