"""Every accepted prediction is recorded exactly once, with every field."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 40


def test_n_accepted_predictions_are_n_complete_records(
    served: object, digit_png: dict[int, bytes]
) -> None:
    db = sqlite3.connect(served.db)  # type: ignore[attr-defined]
    before = db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]

    def one(i: int) -> tuple[int, dict[str, object]]:
        png = digit_png[i % 10]
        with httpx.Client(base_url=served.url, timeout=60) as http:  # type: ignore[attr-defined]
            response = http.post("/predict", files={"image": (f"{i}.png", png, "image/png")})
        assert response.status_code == 200, response.text
        return i, response.json()

    with ThreadPoolExecutor(8) as pool:
        accepted = list(pool.map(one, range(N)))

    after = db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    assert after - before == N
    for i, answer in accepted:
        png = digit_png[i % 10]
        row = db.execute(
            "SELECT digit, confidence, probabilities, model, preprocessing, image_sha256, "
            "length(normalized), filename, content_type, byte_size, latency_ms "
            "FROM predictions WHERE id = ?",
            (answer["id"],),
        ).fetchone()
        assert row is not None, f"upload {i} was answered but not recorded"
        digit, confidence, probabilities, model, prep, sha, size, name, ctype, nbytes, lat = row
        assert digit == answer["digit"] == i % 10
        assert confidence == answer["confidence"]
        assert json.loads(probabilities) == answer["probabilities"]
        assert model == answer["model"]
        assert model.startswith("mnist_cnn:")
        assert prep == answer["preprocessing"]
        assert prep.startswith("mnist-norm-")
        assert sha == hashlib.sha256(png).hexdigest()
        assert size == 784
        assert name == f"{i}.png"
        assert ctype == "image/png"
        assert nbytes == len(png)
        assert lat > 0
    db.close()


def test_refused_uploads_get_their_status_and_leave_no_record(
    served: object, client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    db = sqlite3.connect(served.db)  # type: ignore[attr-defined]
    ids = {row[0] for row in db.execute("SELECT id FROM predictions")}
    blank = io.BytesIO()
    Image.new("L", (80, 80), 255).save(blank, "PNG")
    refusals = [
        ("/predict", [("image", ("x.png", b"nope", "image/png"))], 400),
        ("/predict", [("image", ("x.svg", b"<svg></svg>", "image/svg+xml"))], 415),
        ("/predict", [("image", ("blank.png", blank.getvalue(), "image/png"))], 422),
        # A batch is all or nothing: its good image is not recorded either.
        (
            "/predict_batch",
            [
                ("images", ("good.png", digit_png[4], "image/png")),
                ("images", ("bad.png", b"nope", "image/png")),
            ],
            400,
        ),
    ]
    for path, files, status in refusals:
        response = client.post(path, files=files)
        name = files[-1][1][0]
        assert response.status_code == status, f"{path} {name} answered {response.status_code}"
        assert response.json()["error"]

    # Recording is synchronous: the next accepted upload is the only new record.
    accepted = client.post("/predict", files={"image": ("7.png", digit_png[7], "image/png")})
    assert accepted.status_code == 200, accepted.text
    new = {row[0] for row in db.execute("SELECT id FROM predictions")} - ids
    assert new == {accepted.json()["id"]}
    db.close()
