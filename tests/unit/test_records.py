"""The prediction record: validation and its JSON line form."""

from datetime import datetime

import pytest

from storage.records import DayStats, PredictionRecord
from tests.support.records import T0, make_record


def test_json_round_trip_is_exact() -> None:
    record = make_record(label=3)
    assert PredictionRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize(
    "changes",
    [
        {"digit": 10},
        {"probabilities": (0.1,) * 9},
        {"normalized": b"\x00" * 100},
        {"created_at": datetime(2026, 1, 1)},
    ],
    ids=["digit", "probabilities", "image-size", "naive-time"],
)
def test_invalid_records_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        make_record(**changes)


def test_day_is_the_utc_day() -> None:
    assert make_record().day == T0.date()


def test_feedback_accuracy() -> None:
    stats = DayStats(T0.date(), dict.fromkeys(range(10), 1), feedback=4, correct=3)
    assert stats.total == 10
    assert stats.feedback_accuracy == 0.75
    assert DayStats(T0.date(), {}).feedback_accuracy is None
