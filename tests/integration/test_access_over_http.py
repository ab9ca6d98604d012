"""Access control through HTTP, on a service with an API token (README "Reliability and
security"): history and stats need it, feedback needs the answer's token, and filenames and
upload hashes are for the operator only."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import running_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "operator-token-for-tests"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    workdir = tmp_path_factory.mktemp("guarded")
    env = {
        "DIGITS_STORE_URL": f"sqlite:///{workdir / 'predictions.db'}",
        "DIGITS_API_TOKEN": TOKEN,
        "DIGITS_FEEDBACK_SECRET": "feedback-secret-for-tests",
    }
    with running_service(env, workdir) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def made(client: httpx.Client, digit_png: dict[int, bytes]) -> dict[str, object]:
    response = client.post("/predict", files={"image": ("secret-name.png", digit_png[3])})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("path", ["/predictions", "/stats", "/predictions/{id}"])
def test_history_and_stats_need_the_api_token(
    client: httpx.Client, made: dict[str, object], path: str
) -> None:
    url = path.format(id=made["id"])
    refused = client.get(url)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(url, headers=OPERATOR).status_code == 200


def test_the_operator_sees_filenames_and_hashes(
    client: httpx.Client, made: dict[str, object]
) -> None:
    item = client.get(f"/predictions/{made['id']}", headers=OPERATOR).json()
    assert item["filename"] == "secret-name.png"
    assert len(item["image_sha256"]) == 64


def test_uploads_stay_open_and_answer_a_feedback_token(made: dict[str, object]) -> None:
    assert isinstance(made["feedback_token"], str)
    assert len(made["feedback_token"]) == 22


def test_feedback_needs_the_answers_token(
    client: httpx.Client, made: dict[str, object], digit_png: dict[int, bytes]
) -> None:
    url = f"/predictions/{made['id']}/feedback"
    other = client.post("/predict", files={"image": ("7.png", digit_png[7])}).json()
    assert client.post(url, json={"label": 3}).status_code == 403
    stolen = client.post(url, json={"label": 5, "token": other["feedback_token"]})
    assert stolen.status_code == 403
    assert "feedback_token" in stolen.json()["error"]
    own = client.post(url, json={"label": 3, "token": made["feedback_token"]})
    assert own.status_code == 200, own.text
    assert own.json()["correct"] is True


def test_the_operator_may_label_any_prediction(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    made = client.post("/predict", files={"image": ("2.png", digit_png[2])}).json()
    answer = client.post(f"/predictions/{made['id']}/feedback", json={"label": 2}, headers=OPERATOR)
    assert answer.status_code == 200
