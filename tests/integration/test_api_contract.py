"""The public HTTP contract, against a real server (see README "API")."""

from __future__ import annotations

import base64
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
from PIL import Image

from imaging.pipeline import preprocess_bytes

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _predict(client: httpx.Client, png: bytes, **params: str) -> httpx.Response:
    return client.post("/predict", files={"image": ("digit.png", png, "image/png")}, params=params)


def _seen(png: bytes) -> np.ndarray:
    """The 28x28 image the model is given for ``png`` (the service's own preprocessing)."""
    return preprocess_bytes(png, max_pixels=40_000_000).pixels


def _pixels(preview: str) -> np.ndarray:
    """The 28x28 gray levels of a base64 PNG preview."""
    image = Image.open(io.BytesIO(base64.b64decode(preview)))
    assert (image.mode, image.size) == ("L", (28, 28))
    return np.asarray(image)


def _sample(metrics: str, sample: str) -> float:
    """The value of one Prometheus sample (``name{labels}``), 0 when it is not exposed yet."""
    match = re.search(rf"^{re.escape(sample)} (\S+)$", metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_predict_answers_the_digit_with_the_full_record(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    sent = datetime.now(UTC) - timedelta(milliseconds=1)  # created_at keeps milliseconds
    response = _predict(client, digit_png[7])
    answered = datetime.now(UTC)
    assert response.status_code == 200
    body = response.json()
    assert body["digit"] == 7
    assert str(uuid.UUID(body["id"])) == body["id"]  # a UUID, in its canonical form
    probabilities = body["probabilities"]
    assert len(probabilities) == 10
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-3)
    assert probabilities.index(max(probabilities)) == body["digit"]
    # The confidence is the answered digit's probability (those are rounded to 6 places).
    assert body["confidence"] == pytest.approx(probabilities[body["digit"]], abs=1e-6)
    assert body["sure"] is True
    assert body["model"].startswith("mnist_cnn:")
    assert body["preprocessing"].startswith("mnist-norm-")
    created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() == timedelta(0)
    assert sent <= created <= answered
    assert body["preview"] is None


@pytest.mark.parametrize("digit", range(10))
def test_every_digit_is_recognised(
    client: httpx.Client, digit_png: dict[int, bytes], digit: int
) -> None:
    assert _predict(client, digit_png[digit]).json()["digit"] == digit


def test_the_original_curl_form_still_works(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    response = client.post("/upload", files={"image01": ("digit.png", digit_png[7], "image/png")})
    assert response.status_code == 200
    assert response.text == "7. success\n"
    assert response.headers["content-type"].startswith("text/plain")


def test_preview_returns_the_28x28_image_the_model_saw(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    response = _predict(client, digit_png[3], preview="true")
    assert response.status_code == 200
    np.testing.assert_array_equal(_pixels(response.json()["preview"]), _seen(digit_png[3]))


def test_batch_answers_each_image_in_order(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    files = [("images", (f"{d}.png", digit_png[d], "image/png")) for d in (3, 1, 4)]
    response = client.post("/predict_batch", files=files)
    assert response.status_code == 200
    assert [p["digit"] for p in response.json()] == [3, 1, 4]
    assert len({p["id"] for p in response.json()}) == 3


def test_batch_over_the_limit_is_refused(client: httpx.Client, digit_png: dict[int, bytes]) -> None:
    files = [("images", ("d.png", digit_png[1], "image/png"))] * 65
    response = client.post("/predict_batch", files=files)
    assert response.status_code == 400
    assert "images" in response.json()["error"]


def test_batch_names_the_bad_image(client: httpx.Client, digit_png: dict[int, bytes]) -> None:
    files = [
        ("images", ("a.png", digit_png[1], "image/png")),
        ("images", ("b.png", b"garbage", "image/png")),
    ]
    response = client.post("/predict_batch", files=files)
    assert response.status_code == 400
    assert response.json()["error"].startswith("images[1]")


def test_history_lists_newest_first_and_pages(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    ids = [_predict(client, digit_png[d]).json()["id"] for d in (0, 1, 2)]
    first = client.get("/predictions", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [item["id"] for item in page["items"]] == [ids[2], ids[1]]
    assert page["cursor"]
    second = client.get("/predictions", params={"limit": 2, "cursor": page["cursor"]})
    assert second.status_code == 200
    assert second.json()["items"][0]["id"] == ids[0]
    item = page["items"][0]
    assert item["digit"] == 2
    assert item["filename"] is None  # never in the public history
    assert item["image_sha256"] is None
    assert item["content_type"] == "image/png"
    assert item["byte_size"] == len(digit_png[2])
    np.testing.assert_array_equal(_pixels(item["preview"]), _seen(digit_png[2]))


def test_one_prediction_by_id(client: httpx.Client, digit_png: dict[int, bytes]) -> None:
    made = _predict(client, digit_png[5]).json()
    response = client.get(f"/predictions/{made['id']}")
    assert response.status_code == 200
    fetched = response.json()
    assert fetched["id"] == made["id"]
    assert fetched["digit"] == 5
    for field in ("confidence", "probabilities", "model", "preprocessing", "created_at"):
        assert fetched[field] == made[field], field
    assert fetched["label"] is None


@pytest.mark.parametrize(
    ("path", "status"),
    [(f"/predictions/{uuid.uuid4()}", 404), ("/predictions/not-a-uuid", 400)],
)
def test_missing_or_malformed_ids(client: httpx.Client, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert "error" in response.json()


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1000"},
        {"cursor": "bogus"},
        {"day": "yesterday"},
        {"day": ""},
        {"day": "20261124"},
    ],
)
def test_bad_history_queries_are_400(client: httpx.Client, params: dict[str, str]) -> None:
    assert client.get("/predictions", params=params).status_code == 400


def test_feedback_is_stored_and_counted(client: httpx.Client, digit_png: dict[int, bytes]) -> None:
    assert _predict(client, digit_png[1]).status_code == 200  # one never labelled, at least
    before = client.get("/stats").json()
    made = _predict(client, digit_png[8]).json()
    body = {"label": 8, "token": made["feedback_token"]}
    answer = client.post(f"/predictions/{made['id']}/feedback", json=body)
    assert answer.status_code == 200
    assert answer.json() == {"id": made["id"], "label": 8, "digit": 8, "correct": True}
    assert client.get(f"/predictions/{made['id']}").json()["label"] == 8
    after = client.get("/stats").json()
    assert after["feedback"] == before["feedback"] + 1
    assert after["correct"] == before["correct"] + 1
    assert after["counts"]["8"] == before["counts"]["8"] + 1
    assert after["total"] > after["feedback"]
    assert after["feedback_accuracy"] == pytest.approx(after["correct"] / after["feedback"])


@pytest.mark.parametrize(
    "body",
    [{"label": 10}, {"label": -1}, {"label": "7"}, {"label": True}, {"digit": 7}, [7]],
    ids=["ten", "negative", "string", "boolean", "no-label", "not-an-object"],
)
def test_bad_feedback_is_400_and_stores_no_label(
    client: httpx.Client, digit_png: dict[int, bytes], body: object
) -> None:
    made = _predict(client, digit_png[8]).json()
    if isinstance(body, dict):  # with the right token, the body itself is all that is wrong
        body = {**body, "token": made["feedback_token"]}
    response = client.post(f"/predictions/{made['id']}/feedback", json=body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert client.get(f"/predictions/{made['id']}").json()["label"] is None


def test_an_integral_json_number_is_an_integer_label(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    made = _predict(client, digit_png[6]).json()
    body = {"label": 6.0, "token": made["feedback_token"]}
    answer = client.post(f"/predictions/{made['id']}/feedback", json=body)
    assert answer.status_code == 200
    assert answer.json()["label"] == 6


def test_feedback_for_unknown_prediction_is_404(client: httpx.Client) -> None:
    response = client.post(f"/predictions/{uuid.uuid4()}/feedback", json={"label": 1})
    assert response.status_code == 404


def test_operational_endpoints(client: httpx.Client, digit_png: dict[int, bytes]) -> None:
    counted = (
        'digits_predictions_total{digit="4"}',
        "digits_prediction_confidence_count",
        'digits_rejected_total{status="400"}',
    )
    before = client.get("/metrics").text
    assert _predict(client, digit_png[4]).status_code == 200
    assert _predict(client, b"not an image").status_code == 400
    assert client.get("/livez").status_code == 200
    ready = client.get("/readyz").json()
    assert ready["ready"] is True
    assert ready["model"].startswith("mnist_cnn:")
    assert ready["storage"]["store"] == "sqlite"
    after = client.get("/metrics").text
    for sample in counted:  # one accepted "4" and one refused upload, each counted once
        was, now = _sample(before, sample), _sample(after, sample)
        assert now == was + 1, f"{sample} went from {was} to {now}"
    assert client.request("TRACE", "/readyz").status_code == 405
    spec = client.get("/docs.json").json()
    assert {"/predict", "/predictions", "/stats", "/readyz"} <= set(spec["paths"])
    assert "swagger" in client.get("/docs").text.lower()


def test_a_12_megapixel_phone_photo_is_welcome(client: httpx.Client) -> None:
    import numpy as np

    from training import paper

    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # a "1"
    photo = paper.render(digit, "phone_12mp", np.random.default_rng(3))
    assert len(photo.data) > 1_000_000
    response = client.post("/predict", files={"image": ("photo.jpg", photo.data, "image/jpeg")})
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == 1
    stages = dict(part.split(";dur=") for part in response.headers["server-timing"].split(", "))
    assert set(stages) == {"preprocess", "model", "record", "total"}
    assert float(stages["total"]) >= float(stages["preprocess"]) > 0


def test_two_digits_side_by_side_are_not_one_answer(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    import numpy as np

    # Two digits with comparable ink (a thin "1" beside a "2" is the known gap: README).
    one = np.asarray(Image.open(io.BytesIO(digit_png[3])))
    two = np.asarray(Image.open(io.BytesIO(digit_png[2])))
    pair = np.hstack([np.zeros((28, 10), np.uint8), one, np.zeros((28, 6), np.uint8), two])
    buffer = io.BytesIO()
    Image.fromarray(np.pad(pair, 10)).resize((320, 140)).save(buffer, "PNG")
    response = _predict(client, buffer.getvalue())
    if response.status_code == 200:
        assert response.json()["sure"] is False
    else:
        assert response.status_code == 422
        assert "more than one" in response.json()["error"]
