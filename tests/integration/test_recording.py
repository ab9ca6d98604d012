"""Every accepted prediction is recorded exactly once, with every field."""

from __future__ import annotations

import hashlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 40


def test_n_accepted_predictions_are_n_complete_records(
    served: object, digit_png: dict[int, bytes]
) -> None:
    db = sqlite3.connect(served.db)  # type: ignore[attr-defined]
    before = db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]

    def one(i: int) -> tuple[str, bytes]:
        png = digit_png[i % 10]
        with httpx.Client(base_url=served.url, timeout=60) as http:  # type: ignore[attr-defined]
            response = http.post("/predict", files={"image": (f"{i}.png", png, "image/png")})
        assert response.status_code == 200
        return response.json()["id"], png

    with ThreadPoolExecutor(8) as pool:
        accepted = list(pool.map(one, range(N)))

    after = db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    assert after - before == N
    for prediction_id, png in accepted:
        row = db.execute(
            "SELECT digit, confidence, probabilities, model, preprocessing, image_sha256, "
            "length(normalized), filename, content_type, byte_size, latency_ms "
            "FROM predictions WHERE id = ?",
            (prediction_id,),
        ).fetchone()
        assert row is not None
        digit, confidence, probabilities, model, prep, sha, size, name, ctype, nbytes, lat = row
        assert 0 <= digit <= 9
        assert 0 < confidence <= 1
        assert probabilities.startswith("[")
        assert model.startswith("mnist_cnn:")
        assert prep.startswith("mnist-norm-")
        assert sha == hashlib.sha256(png).hexdigest()
        assert size == 784
        assert name.endswith(".png")
        assert ctype == "image/png"
        assert nbytes == len(png)
        assert lat > 0
    db.close()


def test_refused_uploads_are_not_recorded(served: object, client: httpx.Client) -> None:
    db = sqlite3.connect(served.db)  # type: ignore[attr-defined]
    before = db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    client.post("/predict", files={"image": ("x.png", b"nope", "image/png")})
    assert db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == before
    db.close()
