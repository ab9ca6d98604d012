"""Idempotency-Key: the same ids and answer for a retried upload (serving/idempotency.py)."""

from __future__ import annotations

import pytest

from serving.idempotency import InFlight, KeyRefused, keyed_ids, match, parse_key
from tests.support.records import make_record


def test_a_key_gives_the_same_ids_on_every_retry_and_replica() -> None:
    first = keyed_ids("order-42", "/predict_batch", 3)
    assert first == keyed_ids("order-42", "/predict_batch", 3)
    assert len(set(first)) == 3
    assert first[0] != keyed_ids("order-43", "/predict_batch", 1)[0]
    assert first[0] != keyed_ids("order-42", "/predict", 1)[0]


@pytest.mark.parametrize("raw", ["", "x" * 256, "tab\there", "caf\u00e9"])
def test_malformed_keys_are_a_client_error(raw: str) -> None:
    with pytest.raises(KeyRefused) as refused:
        parse_key(raw)
    assert refused.value.status == 400


def test_no_header_means_no_key() -> None:
    assert parse_key(None) is None
    assert parse_key("retry-me 1") == "retry-me 1"


def test_a_new_key_finds_nothing_to_replay() -> None:
    assert match([None, None], ["a", "b"]) is None


def test_a_retry_with_the_same_images_replays_the_recorded_answer() -> None:
    records = [make_record(7, image_sha256="a"), make_record(3, image_sha256="b")]
    assert match(records, ["a", "b"]) == records


def test_a_key_reused_for_other_images_is_refused() -> None:
    with pytest.raises(KeyRefused) as refused:
        match([make_record(7, image_sha256="a")], ["other"])
    assert refused.value.status == 422


def test_a_partly_recorded_key_is_a_conflict() -> None:
    with pytest.raises(KeyRefused) as refused:
        match([make_record(7, image_sha256="a"), None], ["a", "b"])
    assert refused.value.status == 409


def test_the_same_key_in_flight_twice_is_a_conflict_and_is_released_after() -> None:
    in_flight = InFlight()
    with in_flight.hold("/predict", "k"):
        with pytest.raises(KeyRefused) as refused, in_flight.hold("/predict", "k"):
            pass
        assert refused.value.status == 409
        with in_flight.hold("/upload", "k"):  # another route is another request
            pass
    with in_flight.hold("/predict", "k"):
        pass
    with in_flight.hold("/predict", None), in_flight.hold("/predict", None):
        pass
