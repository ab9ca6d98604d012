"""Where a request's server CPU goes: each stage of ``POST /predict`` measured on its own.

Every stage runs over the benchmark's corpus (the images ``make bench`` sends) in this process,
one image at a time, and is timed in CPU time (``time.process_time``), so that another program
on the machine changes the figures little:

- the service's own steps, called directly: decoding the upload (as ``mnist-norm-2`` decodes:
  reduced size, luma), the rest of the preprocessing, LiteRT inference on one image, recording
  one prediction (SQLite, and Cassandra when the benchmark's node is up), the answer as JSON;
- the whole application in-process: the service's ASGI app (BentoML, Starlette, the service's
  middleware, multipart parsing, validation), recording off, called directly as a server
  would call it (:class:`AsgiDriver`: no HTTP, no client);
- what is left between that and the server CPU per request the benchmark measured over HTTP
  (recording off): the HTTP server, the event loop, the worker's thread hand-offs.

Writes ``results/stages.json``; ``report`` renders it in BENCHMARKS.md. Run it as its own
process (``make bench`` does): it imports the service with recording off.

Usage: python -m benchmarks.stages [--corpus-size 400] [--repeat 2] [--cassandra URL]
       [--http-cpu-ms MS] [--output PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results import CORPUS_SIZE, RESULTS, Stage, Stages
from cli import setup_logging
from loadtests.corpus import Sample, load_corpus
from loadtests.multipart import FilePart, encode_multipart

log = logging.getLogger("benchmarks.stages")

#: Where the stage table is written (``report`` reads it).
STAGES_FILE = RESULTS / "stages.json"


def cpu_ms_per_item(work: Callable[[Any], object], items: Sequence[Any], repeat: int) -> float:
    """CPU ms per call of ``work``, over ``items`` ``repeat`` times (after one warm-up call)."""
    work(items[0])
    started = time.process_time()
    for _ in range(repeat):
        for item in items:
            work(item)
    return (time.process_time() - started) * 1000 / (repeat * len(items))


@dataclass(frozen=True)
class Pieces:
    """What the direct measurements need, built once: decoded images, model inputs, a record."""

    decoded: list[Any]
    pixels: list[np.ndarray]
    record: Any
    prediction: Any


def _pieces(corpus: Sequence[Sample], classifier: Any) -> Pieces:
    from imaging.decode import decode_image
    from imaging.pipeline import DECODINGS, V2, preprocess
    from serving.schemas import Prediction
    from storage.records import PredictionRecord, utc_now

    how = DECODINGS[V2]
    decoded = [
        decode_image(s.data, 40_000_000, s.content_type, how.draft_side, None, how.luma).image
        for s in corpus
    ]
    pixels = [preprocess(image).pixels for image in decoded]
    probs = classifier.predict(pixels[0][None])[0]
    digit = int(np.argmax(probs))
    record = PredictionRecord(
        id=uuid.uuid4(), created_at=utc_now(), digit=digit, confidence=float(probs[digit]),
        probabilities=tuple(round(float(p), 6) for p in probs), model=classifier.tag,
        preprocessing=V2, image_sha256="0" * 64, normalized=pixels[0].tobytes(),
        filename="digit.png", content_type="image/png", byte_size=1000, latency_ms=1.0,
    )  # fmt: skip
    prediction = Prediction(
        id=record.id, digit=digit, confidence=record.confidence, sure=True,
        probabilities=list(record.probabilities), model=record.model,
        preprocessing=V2, created_at=record.created_at, feedback_token="t" * 43,
    )  # fmt: skip
    return Pieces(decoded, pixels, record, prediction)


def _multipart_cost(corpus: Sequence[Sample], repeat: int) -> float:
    """CPU ms per request body parsed by Starlette's form parser (the service's parser uses it)."""
    from starlette.requests import Request

    bodies = [
        encode_multipart([FilePart("image", s.filename, s.content_type, s.data)]) for s in corpus
    ]

    async def parse(body: bytes, content_type: str) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [(b"content-type", content_type.encode())]
        request = Request({"type": "http", "method": "POST", "headers": headers}, receive)
        form = await request.form()
        await form.close()

    loop = asyncio.new_event_loop()
    try:
        return cpu_ms_per_item(lambda b: loop.run_until_complete(parse(*b)), bodies, repeat)
    finally:
        loop.close()


def _record_cost(store_url: str, record: Any, count: int) -> float:
    """CPU ms per ``record_many`` of one prediction into the store ``store_url``."""
    from dataclasses import replace

    from settings import settings_from_env
    from storage import open_store

    store = open_store(settings_from_env({**os.environ, "DIGITS_STORE_URL": store_url}))
    try:
        store.record_many([replace(record, id=uuid.uuid4())])  # connects, prepares
        records = [replace(record, id=uuid.uuid4()) for _ in range(count)]
        return cpu_ms_per_item(lambda r: store.record_many([r]), records, 1)
    finally:
        store.close()


class AsgiDriver:
    """Calls an ASGI app directly, as a server would, with no HTTP and no client in between.

    Runs the app's lifespan (BentoML loads the model and opens the store at start-up), then
    sends each request's scope and body and collects the answer's status.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def __enter__(self) -> AsgiDriver:
        started = self.loop.create_future()

        async def receive() -> dict[str, Any]:
            return await self._lifespan.get()

        async def send(message: dict[str, Any]) -> None:
            if message["type"].startswith("lifespan.startup") and not started.done():
                started.set_result(message)

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = self.loop.create_task(self.app(scope, receive, send))
        self._lifespan.put_nowait({"type": "lifespan.startup"})
        message = self.loop.run_until_complete(started)
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app did not start: {message}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._lifespan.put_nowait({"type": "lifespan.shutdown"})
        if self._task is not None:
            self.loop.run_until_complete(self._task)
        self.loop.close()

    def post(self, path: str, body: bytes, content_type: str) -> int:
        """POST ``body`` to ``path``; the answer's status."""
        return self.loop.run_until_complete(self._post(path, body, content_type))

    async def _post(self, path: str, body: bytes, content_type: str) -> int:
        done = asyncio.Event()
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        headers = [
            (b"host", b"127.0.0.1:3000"),
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 3000), "state": {},
        }  # fmt: skip
        await self.app(scope, receive, send)
        return status


def _app_cost(corpus: Sequence[Sample], repeat: int) -> float:
    """CPU ms per ``POST /predict`` through the service's ASGI app, called directly."""
    from service import DigitService  # its settings are read here: main() set recording off

    bodies = [
        encode_multipart([FilePart("image", s.filename, s.content_type, s.data)]) for s in corpus
    ]
    # @bentoml.service turns the class into a bentoml.Service, which mypy cannot see.
    with AsgiDriver(DigitService.to_asgi()) as driver:  # type: ignore[attr-defined]

        def post(body: tuple[bytes, str]) -> None:
            status = driver.post("/predict", *body)
            if status != 200:
                raise RuntimeError(f"POST /predict answered {status}")

        return cpu_ms_per_item(post, bodies, repeat)


def measure(
    corpus_size: int = CORPUS_SIZE,
    repeat: int = 2,
    cassandra_url: str | None = None,
    http_cpu_ms: float | None = None,
) -> Stages:
    """Measure every stage over the corpus (see the module docstring)."""
    from benchmarks.ceiling import model_dir
    from imaging.decode import decode_image
    from imaging.pipeline import DECODINGS, V2, preprocess
    from serving.classifier import Classifier

    corpus = load_corpus(corpus_size)
    directory = model_dir()
    classifier = Classifier(directory, directory.name, threads=1)
    log.info("stages: preparing %d images", len(corpus))
    pieces = _pieces(corpus, classifier)
    how = DECODINGS[V2]
    samples = list(corpus)

    def decode(sample: Sample) -> object:
        return decode_image(
            sample.data, 40_000_000, sample.content_type, how.draft_side, None, how.luma
        )

    rows = [
        Stage(name="decode (mnist-norm-2: reduced size, luma)",
              cpu_ms=cpu_ms_per_item(decode, samples, repeat)),
        Stage(name="preprocessing after decoding (paper, lines, strokes, MNIST box)",
              cpu_ms=cpu_ms_per_item(preprocess, pieces.decoded, repeat)),
        Stage(name="inference (LiteRT, one image)",
              cpu_ms=cpu_ms_per_item(lambda p: classifier.predict(p[None]), pieces.pixels,
                                     repeat)),
        Stage(name="multipart parsing (Starlette's form parser; files over 1 MB spooled to disk)",
              cpu_ms=_multipart_cost(samples, repeat)),
        Stage(name="answer as JSON (pydantic)",
              cpu_ms=cpu_ms_per_item(lambda p: p.model_dump_json(), [pieces.prediction] * 200,
                                     repeat)),
    ]  # fmt: skip
    log.info("stages: direct steps measured; recording")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_ms = _record_cost(f"sqlite:///{Path(tmp) / 'stages.db'}", pieces.record, 300)
    recording = [Stage(name="record one prediction (SQLite)", cpu_ms=sqlite_ms)]
    if cassandra_url:
        cassandra_ms = _record_cost(cassandra_url, pieces.record, 300)
        recording.append(Stage(name="record one prediction (Cassandra store)", cpu_ms=cassandra_ms))
    log.info("stages: the service's ASGI app in-process")
    app_ms = _app_cost(samples, repeat)
    steps = sum(row.cpu_ms for row in rows)
    rows.append(
        Stage(
            name="the rest of the app: BentoML's request path, middleware, upload spooling "
            "and hashing, thread hand-off (app in-process less the steps above)",
            cpu_ms=app_ms - steps,
        )
    )
    total_rows = [Stage(name="the service's ASGI app in-process, recording off", cpu_ms=app_ms)]
    if http_cpu_ms is not None:
        total_rows.append(
            Stage(
                name="HTTP server, event loop, hand-offs (HTTP less in-process)",
                cpu_ms=http_cpu_ms - app_ms,
            )
        )
        total_rows.append(Stage(name="server CPU per request over HTTP", cpu_ms=http_cpu_ms))
    return Stages(
        corpus_size=len(corpus),
        repeat=repeat,
        steps=[_rounded(row) for row in rows],
        recording=[_rounded(row) for row in recording],
        totals=[_rounded(row) for row in total_rows],
    )


def _rounded(stage: Stage) -> Stage:
    return stage.model_copy(update={"cpu_ms": round(stage.cpu_ms, 3)})


def main(argv: list[str] | None = None) -> int:
    """Measure and write ``results/stages.json``."""
    setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per test-client request
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus-size", type=int, default=CORPUS_SIZE)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cassandra", help="Store URL of a running Cassandra node (optional)")
    parser.add_argument("--http-cpu-ms", type=float, help="Server CPU per request over HTTP")
    parser.add_argument("--output", type=Path, default=STAGES_FILE)
    args = parser.parse_args(argv)
    # The service's app, imported by this process, records nothing.
    os.environ["DIGITS_STORE_URL"] = "none://"
    os.environ.setdefault("DIGITS_LOG_LEVEL", "WARNING")
    stages = measure(args.corpus_size, args.repeat, args.cassandra, args.http_cpu_ms)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(stages.to_json())
    log.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
