"""Every accepted prediction is recorded exactly once, also when a client retries.

A real ``bentoml serve`` recording into SQLite (tests/integration/conftest.py).
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Served
from tests.support.server import running_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _stored(db: Path, ids: list[str]) -> int:
    with sqlite3.connect(db) as connection:
        marks = ",".join("?" * len(ids))
        (count,) = connection.execute(
            f"SELECT count(*) FROM predictions WHERE id IN ({marks})", ids
        ).fetchone()
    return int(count)


def test_a_retried_upload_with_an_idempotency_key_gets_the_same_answer_once_recorded(
    served: Served, client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    files = {"image": ("7.png", digit_png[7], "image/png")}
    first = client.post("/predict", files=files, headers=key)
    retry = client.post("/predict", files=files, headers=key)
    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _stored(served.db, [first.json()["id"]]) == 1


def test_a_retried_batch_is_answered_from_its_first_recording(
    served: Served, client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    key = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}
    files = [("images", (f"{d}.png", digit_png[d], "image/png")) for d in (1, 2, 3)]
    first = client.post("/predict_batch", files=files, headers=key)
    retry = client.post("/predict_batch", files=files, headers=key)
    assert first.status_code == retry.status_code == 200, retry.text
    assert [p["id"] for p in retry.json()] == [p["id"] for p in first.json()]
    assert _stored(served.db, [p["id"] for p in first.json()]) == 3


def test_a_key_reused_for_another_image_is_refused_and_records_nothing(
    served: Served, client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    key = {"Idempotency-Key": f"reuse-{uuid.uuid4()}"}
    first = client.post("/predict", files={"image": ("7.png", digit_png[7])}, headers=key)
    other = client.post("/predict", files={"image": ("3.png", digit_png[3])}, headers=key)
    assert first.status_code == 200
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["error"]


def test_the_original_api_honours_the_key_too(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    key = {"Idempotency-Key": f"legacy-{uuid.uuid4()}"}
    files = {"image01": ("7.png", digit_png[7], "image/png")}
    first = client.post("/upload", files=files, headers=key)
    retry = client.post("/upload", files=files, headers=key)
    assert first.text == retry.text == "7. success\n"


def test_a_malformed_key_is_a_client_error(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    response = client.post(
        "/predict", files={"image": ("7.png", digit_png[7])}, headers={"Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]


def test_nothing_is_recorded_for_a_request_past_its_deadline(
    digit_png: dict[int, bytes], tmp_path: Path
) -> None:
    db = tmp_path / "predictions.db"
    env = {"DIGITS_STORE_URL": f"sqlite:///{db}", "DIGITS_REQUEST_DEADLINE_S": "0.000001"}
    with running_service(env, tmp_path) as url, httpx.Client(base_url=url, timeout=60) as client:
        response = client.post("/predict", files={"image": ("7.png", digit_png[7])})
        assert response.status_code == 503
        assert "nothing was recorded" in response.json()["error"]
        assert client.get("/predictions").json()["items"] == []
