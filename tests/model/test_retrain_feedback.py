"""Learning from feedback, end to end: HTTP corrections -> ``make retrain`` -> gate -> served.

Users photograph digits sideways and their app strips the EXIF orientation (messaging apps do),
so the service sees digits rotated by 90 degrees and mostly gets them wrong. A real
``bentoml serve`` (SQLite store, a throw-away copy of the model store) answers a few hundred such
uploads; the wrong answers are corrected through ``POST /predictions/{id}/feedback`` with each
answer's token. ``make retrain`` must then store a candidate that is better on the held-out
corrections and no worse elsewhere, and promote it; the restarted service serves it. With random
labels instead (poisoned feedback) the gate must refuse the candidate and the service keep its
model. The uploads show MNIST **training** digits: the gate's test and realistic sets stay unseen.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support.server import running_service
from training.paper import render

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
CONDITIONS = ("photo", "ruled", "squared", "pencil", "canvas", "shadow")
WRONG_WANTED = 600
SECRET = "feedback-test-secret-not-for-production"
#: A small but complete run: the recipe's data mix, fewer images, smaller gate sets.
RETRAIN_ARGS = "--replay 12000 --realistic 6000 --epochs 2 --per-condition 100"


@dataclass(frozen=True)
class Answered:
    """One upload the served model got wrong: its id, feedback token and true digit."""

    id: str
    token: str
    label: int
    answered: int


def sideways_upload(digit: np.ndarray, condition: str, rng: np.random.Generator) -> bytes:
    """A realistic page with the digit, turned 90 degrees, as a JPEG without EXIF."""
    page = render(digit, condition, rng)
    with Image.open(io.BytesIO(page.data)) as image:
        turned = image.convert("RGB").transpose(Image.Transpose.ROTATE_90)
    buffer = io.BytesIO()
    turned.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real model store: retraining here never changes what the suite serves."""
    from serving.model_choice import PROMOTED_AT

    home = tmp_path_factory.mktemp("bentoml")
    real = Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))
    shutil.copytree(real / "models", home / "models")
    assert any(PROMOTED_AT in p.read_text() for p in home.glob("models/*/*/model.yaml"))
    return home


@pytest.fixture(scope="module")
def wrong_answers(
    model_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[Answered]]:
    """A store holding sideways uploads, and the ones the served model answered wrongly."""
    from settings import load_settings
    from training.data import load_mnist

    work = tmp_path_factory.mktemp("uploads")
    data = load_mnist(load_settings())
    images, labels = data.x_train, data.y_train
    rng = np.random.default_rng(20261203)
    env = service_env(model_home, work / "predictions.db")
    wrong: list[Answered] = []
    with running_service(env, work) as url, httpx.Client(base_url=url, timeout=60) as client:
        for n, index in enumerate(rng.permutation(len(labels))):
            if len(wrong) == WRONG_WANTED:
                break
            assert n < 3 * WRONG_WANTED, f"only {len(wrong)} of {n} sideways digits were wrong"
            data = sideways_upload(images[index], CONDITIONS[n % len(CONDITIONS)], rng)
            answer = client.post("/predict", files={"image": (f"{n}.jpg", data, "image/jpeg")})
            if answer.status_code == 422:
                continue  # no digit found: nothing to correct
            assert answer.status_code == 200, answer.text
            body = answer.json()
            if body["digit"] != int(labels[index]):
                wrong.append(Answered(body["id"], body["feedback_token"], int(labels[index]),
                                      body["digit"]))  # fmt: skip
    return work / "predictions.db", wrong


def service_env(model_home: Path, database: Path) -> dict[str, str]:
    """The service's environment: the copied model store, a SQLite store, a fixed secret."""
    return {
        "BENTOML_HOME": str(model_home),
        "DIGITS_STORE_URL": f"sqlite:///{database}",
        "DIGITS_FEEDBACK_SECRET": SECRET,
    }


def give_feedback(url: str, answers: list[Answered], labels: list[int]) -> None:
    """Label each prediction over HTTP, as the web page's "Wrong? This is a ..." does."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for answer, label in zip(answers, labels, strict=True):
            sent = client.post(
                f"/predictions/{answer.id}/feedback", json={"label": label, "token": answer.token}
            )
            assert sent.status_code == 200, sent.text


def retrain(model_home: Path, database: Path, work: Path) -> dict[str, Any]:
    """``make retrain`` against the store; returns reports/retrain/report.json."""
    env = {
        **os.environ,
        **service_env(model_home, database),
        "FEEDBACK_DIR": str(work / "feedback"),
        "RETRAIN_REPORT_DIR": str(work / "report"),
        "RETRAIN_ARGS": RETRAIN_ARGS,
    }
    done = subprocess.run(
        ["make", "--no-print-directory", "retrain"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    (work / "retrain.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads((work / "report" / "report.json").read_text())
    assert done.stdout.strip().splitlines()[-1] == report["candidate"]
    return report


def served_model(model_home: Path, database: Path, work: Path) -> Iterator[tuple[str, str]]:
    """Start the service again: the model /readyz names and the one a new record names."""
    with running_service(service_env(model_home, database), work) as url:
        ready = httpx.get(f"{url}/readyz", timeout=30).json()
        digit = Image.fromarray(np.pad(np.eye(20, dtype=np.uint8) * 255, 4))
        buffer = io.BytesIO()
        digit.save(buffer, "PNG")
        answer = httpx.post(f"{url}/predict", files={"image": ("d.png", buffer.getvalue())})
        assert answer.status_code == 200, answer.text
        record = httpx.get(f"{url}/predictions/{answer.json()['id']}", timeout=30).json()
        yield ready["model"], record["model"]


def labelled_copy(
    model_home: Path, source: Path, answers: list[Answered], labels: list[int], work: Path
) -> tuple[Path, str]:
    """A copy of the uploads' store, labelled over HTTP; and the model that was served."""
    database = work / "predictions.db"
    shutil.copy(source, database)
    with running_service(service_env(model_home, database), work) as url:
        before: str = httpx.get(f"{url}/readyz", timeout=30).json()["model"]
        give_feedback(url, answers, labels)
    return database, before


def test_corrections_retrain_a_better_model_that_is_promoted_and_served(
    model_home: Path, wrong_answers: tuple[Path, list[Answered]], tmp_path: Path
) -> None:
    source, answers = wrong_answers
    labels = [a.label for a in answers]
    database, before = labelled_copy(model_home, source, answers, labels, tmp_path)

    report = retrain(model_home, database, tmp_path)

    assert report["promoted"], report["decision"]["reasons"]
    assert report["current"] == before
    accuracy = report["accuracy"]
    feedback = accuracy["held_out_feedback"]
    assert feedback["current"] == 0.0, "held out: corrections of wrong answers"
    assert feedback["candidate"] >= feedback["current"] + 0.05
    assert accuracy["mnist_test"]["candidate"] >= accuracy["mnist_test"]["current"] - 0.0005
    assert report["feedback_dataset"]["examples"] == len(answers)
    assert sum(report["feedback_split"].values()) == len(answers)
    assert report["feedback_split"]["held_out"] > 30
    assert (tmp_path / "report" / "before_after.png").stat().st_size > 10_000
    assert (tmp_path / "report" / "corrections.png").stat().st_size > 10_000
    for readyz_model, record_model in served_model(model_home, database, tmp_path):
        assert readyz_model == report["candidate"] != before
        assert record_model == report["candidate"]


def test_poisoned_feedback_is_refused_by_the_gate(
    model_home: Path, wrong_answers: tuple[Path, list[Answered]], tmp_path: Path
) -> None:
    source, answers = wrong_answers
    noise = random.Random(7)
    labels = [noise.randrange(10) for _ in answers]
    database, before = labelled_copy(model_home, source, answers, labels, tmp_path)

    report = retrain(model_home, database, tmp_path)

    assert not report["promoted"]
    assert "held_out_feedback" in " ".join(report["decision"]["reasons"])
    labels = model_home / "models" / report["candidate"].replace(":", "/") / "model.yaml"
    assert "stage: refused" in labels.read_text(), "kept in the store, labelled refused"
    for readyz_model, _ in served_model(model_home, database, tmp_path):
        assert readyz_model == before
