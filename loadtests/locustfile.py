"""Realistic traffic for the digit service: real MNIST test digits, answers checked.

Weighted tasks per simulated user: single predictions (most), small batches, the legacy
``/upload`` form, history reads (list, one record, daily stats) and a few deliberately bad
uploads that must be refused with a 4xx (counted as successes when they are). Every answer's
digit is compared with the image's true label; the accuracy under load is logged at the end and
written, with the ids of all accepted predictions, to the files given on the command line.

Usage: locust -f loadtests/locustfile.py --headless -u 20 -r 5 -t 60s --host http://127.0.0.1:3000
(or ``python -m loadtests.run``, which adds thresholds, reports and charts).
"""

from __future__ import annotations

import io
import json
import logging
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from locust import FastHttpUser, between, events, task
from PIL import Image

from loadtests.corpus import Sample, load_corpus
from loadtests.multipart import FilePart, encode_multipart

log = logging.getLogger("loadtests")

EXPECTED_REJECTIONS = frozenset({400, 413, 415, 422})
DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024 * 1024


@dataclass
class Tally:
    """What the run saw, shared by all users of this process."""

    checked: int = 0
    correct: int = 0
    legacy_accepted: int = 0
    degraded_reads: int = 0
    ids: list[str] = field(default_factory=list)
    per_label: dict[int, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, label: int, digit: int, prediction_id: str | None) -> None:
        """Count one answered prediction."""
        with self.lock:
            self.checked += 1
            self.correct += int(digit == label)
            seen = self.per_label.setdefault(label, [0, 0])
            seen[0] += 1
            seen[1] += int(digit == label)
            if prediction_id is None:
                self.legacy_accepted += 1
            else:
                self.ids.append(prediction_id)

    def summary(self) -> dict[str, Any]:
        """JSON-ready accuracy summary."""
        return {
            "predictions": self.checked,
            "correct": self.correct,
            "accuracy": self.correct / self.checked if self.checked else None,
            "accepted_ids": len(self.ids),
            "legacy_accepted": self.legacy_accepted,
            "degraded_reads": self.degraded_reads,
            "per_label_accuracy": {
                str(label): round(ok / n, 4) for label, (n, ok) in sorted(self.per_label.items())
            },
        }


TALLY = Tally()
CORPUS: list[Sample] = []
READS_MAY_503 = [False]


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("digits")
    group.add_argument("--digits-corpus-size", type=int, default=400, help="Uploads in corpus")
    group.add_argument("--digits-corpus-seed", type=int, default=7, help="Corpus seed")
    group.add_argument("--digits-summary", default="", help="Write accuracy summary JSON here")
    group.add_argument("--digits-ids", default="", help="Write accepted prediction ids here")
    group.add_argument(
        "--digits-reads-may-503",
        action="store_true",
        help="Count history reads answered 503 with a JSON error as expected (database outage)",
    )
    group.add_argument(
        "--digits-max-upload-bytes",
        type=int,
        default=DEFAULT_MAX_UPLOAD_BYTES,
        help="The server's DIGITS_MAX_UPLOAD_BYTES (the oversize upload exceeds it)",
    )


@events.init.add_listener
def _load_corpus(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    size = getattr(options, "digits_corpus_size", 400)
    seed = getattr(options, "digits_corpus_seed", 7)
    CORPUS[:] = load_corpus(size, seed)
    READS_MAY_503[0] = bool(getattr(options, "digits_reads_may_503", False))
    BadUploads.oversize_bytes = (
        getattr(options, "digits_max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES) + 64 * 1024
    )
    log.info("corpus: %d MNIST test digits as PNG/JPEG uploads", len(CORPUS))


@events.test_stop.add_listener
def _write_summary(environment: Any, **_: Any) -> None:
    summary = TALLY.summary()
    accuracy = summary["accuracy"]
    shown = f"{accuracy:.4f}" if accuracy is not None else "n/a"
    log.info("accuracy under load: %s over %d predictions", shown, summary["predictions"])
    options = environment.parsed_options
    if getattr(options, "digits_summary", ""):
        Path(options.digits_summary).write_text(json.dumps(summary, indent=2))
    if getattr(options, "digits_ids", ""):
        Path(options.digits_ids).write_text("\n".join(TALLY.ids) + "\n")


class BadUploads:
    """Uploads the service must refuse with a 4xx, built once."""

    oversize_bytes = DEFAULT_MAX_UPLOAD_BYTES + 64 * 1024
    _cache: ClassVar[dict[str, FilePart]] = {}

    @classmethod
    def part(cls, kind: str, sample: Sample) -> FilePart:
        """The bad file part of the given kind (``sample`` supplies real bytes to break)."""
        if kind == "truncated":
            return FilePart("image", "cut.png", "image/png", sample.data[: len(sample.data) // 2])
        if kind not in cls._cache:
            cls._cache[kind] = cls._build(kind)
        return cls._cache[kind]

    @classmethod
    def _build(cls, kind: str) -> FilePart:
        if kind == "text":
            return FilePart("image", "notes.png", "image/png", b"this is not an image\n" * 20)
        if kind == "empty":
            return FilePart("image", "empty.png", "image/png", b"")
        if kind == "svg":
            svg = b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>'
            return FilePart("image", "seven.svg", "image/svg+xml", svg)
        if kind == "tiff":
            buffer = io.BytesIO()
            Image.new("L", (28, 28)).save(buffer, "TIFF")
            return FilePart("image", "scan.tiff", "image/tiff", buffer.getvalue())
        if kind == "oversize":
            data = random.randbytes(cls.oversize_bytes)
            return FilePart("image", "huge.jpg", "image/jpeg", data)
        raise ValueError(kind)


BAD_KINDS = ("text", "truncated", "empty", "svg", "tiff", "oversize", "wrong-field")


class DigitUser(FastHttpUser):
    """A client of the digit service: mostly predicts, sometimes browses history."""

    wait_time = between(0.05, 0.5)
    connection_timeout = 10.0
    network_timeout = 30.0

    def on_start(self) -> None:
        """Each user keeps the ids of its own recent predictions to read them back."""
        self.recent: deque[str] = deque(maxlen=20)

    def _post(self, path: str, parts: list[FilePart]) -> Any:
        """POST a multipart form of ``parts``; the response is judged by the caller."""
        body, content_type = encode_multipart(parts)
        headers = {"Content-Type": content_type}
        return self.client.post(path, data=body, headers=headers, name=path, catch_response=True)

    @task(60)
    def predict(self) -> None:
        """POST /predict with one upload and check the digit against the label."""
        sample = random.choice(CORPUS)
        with self._post("/predict", [_part("image", sample)]) as response:
            answer = _json(response)
            if response.status_code != 200 or not isinstance(answer, dict):
                response.failure(f"status {response.status_code}: {response.text[:200]!r}")
                return
            if not _is_answer(answer):
                response.failure(f"malformed answer: {answer!r:.200}")
                return
            TALLY.answer(sample.label, int(answer["digit"]), str(answer["id"]))
            self.recent.append(str(answer["id"]))

    @task(8)
    def predict_batch(self) -> None:
        """POST /predict_batch with 2-8 uploads and check every digit."""
        samples = random.sample(CORPUS, random.randint(2, 8))
        with self._post("/predict_batch", [_part("images", s) for s in samples]) as response:
            answers = _json(response)
            if response.status_code != 200 or not isinstance(answers, list):
                response.failure(f"status {response.status_code}: {response.text[:200]!r}")
                return
            if len(answers) != len(samples) or not all(_is_answer(a) for a in answers):
                response.failure(f"expected {len(samples)} answers, got {answers!r:.200}")
                return
            for sample, answer in zip(samples, answers, strict=True):
                TALLY.answer(sample.label, int(answer["digit"]), str(answer["id"]))

    @task(4)
    def upload_legacy(self) -> None:
        """POST /upload (the original form field ``image01``), answer ``"7. success"``."""
        sample = random.choice(CORPUS)
        with self._post("/upload", [_part("image01", sample)]) as response:
            text = response.text or ""
            head = text.split(".", 1)[0]
            if response.status_code != 200 or not head.isdigit() or "success" not in text:
                response.failure(f"status {response.status_code}: {text[:200]!r}")
                return
            TALLY.answer(sample.label, int(head), None)

    @task(8)
    def history(self) -> None:
        """GET /predictions (newest first) and follow the cursor once."""
        with self.client.get(
            "/predictions?limit=20", name="/predictions", catch_response=True
        ) as response:
            page = _json(response)
            if _degraded_read(response, page):
                return
            if response.status_code != 200 or not isinstance(page, dict) or "items" not in page:
                response.failure(f"status {response.status_code}: {response.text[:200]!r}")
                return
        cursor = page.get("cursor")
        if cursor:
            with self.client.get(
                "/predictions",
                params={"limit": 20, "cursor": cursor},
                name="/predictions?cursor",
                catch_response=True,
            ) as response:
                _expect_ok(response)

    @task(4)
    def read_back(self) -> None:
        """GET /predictions/{id} of one of this user's own predictions."""
        if not self.recent:
            return
        prediction_id = random.choice(self.recent)
        with self.client.get(
            f"/predictions/{prediction_id}", name="/predictions/[id]", catch_response=True
        ) as response:
            record = _json(response)
            if _degraded_read(response, record):
                return
            if response.status_code != 200 or not isinstance(record, dict):
                response.failure(f"status {response.status_code}: {response.text[:200]!r}")
            elif str(record.get("id")) != prediction_id:
                response.failure(f"asked for {prediction_id}, got {record.get('id')}")

    @task(2)
    def stats(self) -> None:
        """GET /stats."""
        with self.client.get("/stats", name="/stats", catch_response=True) as response:
            _expect_ok(response)

    @task(3)
    def bad_upload(self) -> None:
        """A deliberately bad upload: success only if refused with 400/413/415/422 JSON."""
        kind = random.choice(BAD_KINDS)
        sample = random.choice(CORPUS)
        wrong_field = kind == "wrong-field"
        part = _part("file", sample) if wrong_field else BadUploads.part(kind, sample)
        body, content_type = encode_multipart([part])
        with self.client.post(
            "/predict",
            data=body,
            headers={"Content-Type": content_type},
            name=f"/predict [bad: {kind}]",
            catch_response=True,
        ) as response:
            if response.status_code in EXPECTED_REJECTIONS and _has_error(_json(response)):
                response.success()
            else:
                response.failure(
                    f"expected 4xx JSON error, got {response.status_code}: "
                    f"{(response.text or '')[:200]!r}"
                )


def _degraded_read(response: Any, body: Any) -> bool:
    """A 503 JSON error to a read while the database is down, when the run allows it."""
    if READS_MAY_503[0] and response.status_code == 503 and _has_error(body):
        response.success()
        with TALLY.lock:
            TALLY.degraded_reads += 1
        return True
    return False


def _expect_ok(response: Any) -> None:
    """A read must answer 200 (or an allowed degraded 503)."""
    if _degraded_read(response, _json(response)):
        return
    if response.status_code != 200:
        response.failure(f"status {response.status_code}: {(response.text or '')[:200]!r}")


def _part(field_name: str, sample: Sample) -> FilePart:
    return FilePart(field_name, sample.filename, sample.content_type, sample.data)


def _json(response: Any) -> Any:
    try:
        return response.json()
    except Exception:
        return None


def _is_answer(answer: Any) -> bool:
    return (
        isinstance(answer, dict)
        and isinstance(answer.get("digit"), int)
        and 0 <= answer["digit"] <= 9
        and bool(answer.get("id"))
    )


def _has_error(body: Any) -> bool:
    return isinstance(body, dict) and "error" in body
