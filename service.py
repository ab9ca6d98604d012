"""The digit-recognition service: decode -> preprocess -> predict -> record -> respond.

Run it with ``make serve`` (or ``bentoml serve service:DigitService``). Routes:

- ``POST /predict`` (field ``image``) and ``POST /predict_batch`` (repeated field ``images``)
  answer JSON predictions; ``POST /upload`` (field ``image01``) is the original project's
  text API (``7. success``).
- ``GET /predictions``, ``GET /predictions/{id}``, ``POST /predictions/{id}/feedback``,
  ``GET /stats`` and the web page at ``/`` come from :mod:`serving.history`.
- ``/livez``, ``/readyz`` (JSON detail, :mod:`serving.health`), ``/metrics``, ``/docs``.
- ``/docs.json`` documents all of them (:mod:`serving.openapi`).

Nothing heavy happens at import: the model and the store are opened per worker in ``__init__``
(the supervisor process imports this module too). The endpoints are ``async``: the event loop
parses requests while decoding, inference and recording run in a bounded thread pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import bentoml
import numpy as np

from imaging.contract import IMAGE_SHAPE
from imaging.decode import ImageRejected, decoded_pixels
from imaging.pipeline import DRAFT_SIDE
from serving import idempotency, metrics
from serving.access import Access
from serving.errors import (
    ErrorShapeMiddleware,
    Refused,
    answers_refusals,
    install_client_error_filter,
)
from serving.guards import FilePart, MultipartOnlyMiddleware, declared, install_strict_multipart
from serving.health import ReadinessMiddleware
from serving.history import build_app
from serving.limits import BodyLimitMiddleware
from serving.model_choice import served_tag
from serving.openapi import OpenAPIMiddleware, build_document
from serving.schemas import Prediction, png_base64
from serving.uploads import PreparedImage, Upload, prepare, read_upload
from settings import load_settings
from storage.base import StoreError
from storage.records import PredictionRecord, utc_now

T = TypeVar("T")
SETTINGS = load_settings()
log = logging.getLogger("digits.service")
install_strict_multipart()
install_client_error_filter()


@bentoml.asgi_app(build_app(), path="/")
@bentoml.service(
    workers=SETTINGS.workers,
    threads=SETTINGS.threads,
    # BentoML answers 504 at this timeout but lets the call run on: the call itself stops
    # before recording once DIGITS_REQUEST_DEADLINE_S has passed, well within it.
    traffic={"timeout": SETTINGS.request_deadline_s + 10},
)
class DigitService:
    """Handwritten digit recognition with every prediction recorded."""

    model_ref = bentoml.models.BentoModel(served_tag(SETTINGS.model_name, SETTINGS.model_version))

    def __init__(self) -> None:
        from serving.classifier import Classifier, model_temperature, sure_threshold
        from storage import open_store

        logging.getLogger("digits").setLevel(SETTINGS.log_level)
        self.settings = SETTINGS
        metadata = bentoml.models.get(str(self.model_ref.tag)).info.metadata
        self.classifier = Classifier(
            self.model_ref.path,
            str(self.model_ref.tag),
            SETTINGS.inference_threads,
            temperature=model_temperature(metadata),
        )
        self.sure_from = sure_threshold(SETTINGS, metadata)
        self.store = open_store(SETTINGS)
        self.in_flight = idempotency.InFlight()
        self.access = Access(SETTINGS)
        self.decode_slots = threading.BoundedSemaphore(SETTINGS.max_concurrent_decodes)
        self.pool = ThreadPoolExecutor(SETTINGS.threads, thread_name_prefix="digits-request")
        log.info(
            "ready: model %s (temperature %.3g, sure from %.3g), store %s",
            self.classifier.tag,
            self.classifier.temperature,
            self.sure_from,
            self.store.name,
        )

    @bentoml.api(route="/predict")
    @answers_refusals
    async def predict(self, image: Path, ctx: bentoml.Context, preview: bool = False) -> Prediction:
        """Recognise the digit in one image (PNG, JPEG, GIF, BMP or WebP).

        Add ``preview=true`` (form field or query) for the 28x28 image the model saw.
        Errors: 400 bad image, 413 too large, 415 unsupported format, 422 no digit found,
        503 recording unavailable.
        """
        wanted = _wants_preview(ctx, preview)
        answer = await self._off_loop(self._answer, [(image, FilePart("image"))], ctx, wanted)
        return answer[0]

    @bentoml.api(route="/predict_batch")
    @answers_refusals
    async def predict_batch(
        self, images: list[Path], ctx: bentoml.Context, preview: bool = False
    ) -> list[Prediction]:
        """Recognise the digit in each of several images (repeated field ``images``).

        At most ``DIGITS_MAX_BATCH_IMAGES`` images; if any image is refused, the whole batch
        is, with the index of the culprit in the message.
        """
        if not images or len(images) > self.settings.max_batch_images:
            message = f"send 1 to {self.settings.max_batch_images} images in field 'images'"
            raise Refused(400, message)
        named = [(path, FilePart("images", i)) for i, path in enumerate(images)]
        wanted = _wants_preview(ctx, preview)
        return await self._off_loop(self._answer, named, ctx, wanted)

    @bentoml.api(route="/upload")
    @answers_refusals
    async def upload(self, image01: Path, ctx: bentoml.Context) -> str:
        """The original project's API: ``curl -F image01=@digit.png .../upload`` -> ``7. success``.

        Failures answer a 4xx whose text body starts with ``failed``.
        """
        answer = await self._off_loop(self._answer, [(image01, FilePart("image01"))], ctx, False)
        return f"{answer[0].digit}. success\n"

    @bentoml.on_shutdown
    def close(self) -> None:
        """Finish the requests in progress, then flush and close the store."""
        self.pool.shutdown(wait=True)
        self.store.close()

    async def _off_loop(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(*args)`` in the worker's thread pool, keeping the event loop free.

        Decoding, preprocessing, inference and recording are CPU-bound or blocking; at most
        ``DIGITS_THREADS`` run at once per worker, the rest wait their turn. The caller's context
        variables (tracing, BentoML's request context) go along.
        """
        context = contextvars.copy_context()
        call = functools.partial(context.run, work, *args)
        return await asyncio.get_running_loop().run_in_executor(self.pool, call)

    def readiness(self) -> dict[str, Any]:
        """What ``/readyz`` reports: ready once the model is loaded and the store takes writes."""
        store = self.store.health()
        return {"ready": bool(store.get("ok")), "model": self.classifier.tag, "storage": store}

    def _answer(
        self, files: list[tuple[Path, FilePart]], ctx: bentoml.Context, preview: bool
    ) -> list[Prediction]:
        """The predictions for the uploaded files, each recorded before it is answered.

        Raises:
            Refused: the request, or one of its images, cannot be answered (4xx/503).
        """
        started = time.perf_counter()
        route = ctx.request.url.path
        key = idempotency.parse_key(ctx.request.headers.get(idempotency.HEADER))
        with self.in_flight.hold(route, key):
            return self._answer_once(files, ctx, preview, started, key)

    def _answer_once(
        self,
        files: list[tuple[Path, FilePart]],
        ctx: bentoml.Context,
        preview: bool,
        started: float,
        key: str | None,
    ) -> list[Prediction]:
        uploads = self._read_uploads(files, ctx)
        ids = [uuid.uuid4() for _ in uploads]
        if key is not None:
            ids = idempotency.keyed_ids(key, ctx.request.url.path, len(uploads))
            replayed = self._recorded_answer(ids, uploads, preview)
            if replayed is not None:
                ctx.response.headers[idempotency.REPLAYED_HEADER] = "true"
                return replayed
        prepared = self._prepare_all(uploads, [part for _, part in files])
        decoded_at = time.perf_counter()
        probabilities = self.classifier.predict(np.stack([p.pixels for p in prepared]))
        predicted_at = time.perf_counter()
        latency_ms = (predicted_at - started) * 1000 / len(prepared)
        records = [
            self._record_of(record_id, p, probs, latency_ms)
            for record_id, p, probs in zip(ids, prepared, probabilities, strict=True)
        ]
        if predicted_at - started > self.settings.request_deadline_s:
            log.error("refusing request: %.1f s is past the deadline", predicted_at - started)
            raise Refused(503, "the request took too long; nothing was recorded")
        try:
            self.store.record_many(records)
        except StoreError as exc:
            log.error("refusing request: prediction could not be recorded: %s", exc)
            message = "recording is unavailable; nothing was recorded, retry later"
            raise Refused(503, message) from exc
        ctx.response.headers["Server-Timing"] = server_timing(
            started, decoded_at, predicted_at, time.perf_counter()
        )
        return [self._prediction_of(r, preview) for r in records]

    def _read_uploads(
        self, files: list[tuple[Path, FilePart]], ctx: bentoml.Context
    ) -> list[Upload]:
        """The uploaded files with what the client declared about them.

        Raises:
            Refused: a file over the size limit (413), naming it in a batch.
        """
        uploads = []
        for path, part in files:
            filename, content_type = declared(ctx.request.state, part)
            try:
                uploads.append(
                    read_upload(path, filename, content_type, self.settings.max_upload_bytes)
                )
            except ImageRejected as exc:
                raise _refusal_of(exc, part) from exc
        return uploads

    def _prepare_all(self, uploads: list[Upload], parts: list[FilePart]) -> list[PreparedImage]:
        """Decode and preprocess every upload, within the request's pixel budget.

        At most ``DIGITS_MAX_CONCURRENT_DECODES`` uploads are decoded at once per worker.

        Raises:
            Refused: over the budget (413), or an upload refused (naming it in a batch).
        """
        try:
            budget = sum(decoded_pixels(upload.data, DRAFT_SIDE) for upload in uploads)
        except ImageRejected as exc:
            raise Refused(exc.status, exc.message) from exc
        if budget > self.settings.max_request_pixels:
            raise Refused(
                413,
                f"the images hold {budget} pixels to decode, more than one request may "
                f"({self.settings.max_request_pixels}); send fewer or smaller images",
            )
        prepared = []
        for upload, part in zip(uploads, parts, strict=True):
            try:
                with self.decode_slots:
                    prepared.append(self._prepare(upload))
            except ImageRejected as exc:
                raise _refusal_of(exc, part) from exc
        return prepared

    def _prepare(self, upload: Upload) -> PreparedImage:
        return prepare(upload, self.settings.max_image_pixels, self.settings.max_decoded_pixels)

    def _recorded_answer(
        self, ids: list[uuid.UUID], uploads: list[Upload], preview: bool
    ) -> list[Prediction] | None:
        """The answer recorded for a keyed request's first attempt, or None if it is new.

        Raises:
            Refused: the store cannot be read (503), or the key does not fit (409/422).
        """
        try:
            found = [self.store.get(record_id) for record_id in ids]
        except StoreError as exc:
            log.error("cannot check an Idempotency-Key: %s", exc)
            raise Refused(503, "cannot check the Idempotency-Key now; retry later") from exc
        records = idempotency.match(found, [upload.sha256 for upload in uploads])
        if records is None:
            return None
        return [self._prediction_of(r, preview, count=False) for r in records]

    def _record_of(
        self, record_id: uuid.UUID, image: PreparedImage, probs: np.ndarray, latency_ms: float
    ) -> PredictionRecord:
        digit = int(np.argmax(probs))
        return PredictionRecord(
            id=record_id,
            created_at=utc_now(),
            digit=digit,
            confidence=float(probs[digit]),
            probabilities=tuple(round(float(p), 6) for p in probs),
            model=self.classifier.tag,
            preprocessing=image.preprocessing,
            image_sha256=image.sha256,
            normalized=image.pixels.tobytes(),
            filename=image.upload.filename,
            content_type=image.upload.content_type,
            byte_size=len(image.upload.data),
            latency_ms=round(latency_ms, 3),
        )

    def _prediction_of(
        self, record: PredictionRecord, preview: bool, count: bool = True
    ) -> Prediction:
        if count:
            metrics.PREDICTIONS.labels(digit=str(record.digit)).inc()
            metrics.CONFIDENCE.observe(record.confidence)
        pixels = np.frombuffer(record.normalized, dtype=np.uint8).reshape(IMAGE_SHAPE)
        return Prediction(
            id=record.id,
            digit=record.digit,
            confidence=record.confidence,
            sure=record.confidence >= self.sure_from,
            probabilities=list(record.probabilities),
            model=record.model,
            preprocessing=record.preprocessing,
            created_at=record.created_at,
            preview=png_base64(pixels) if preview else None,
            feedback_token=self.access.feedback_token(record.id),
        )


def _refusal_of(rejected: ImageRejected, part: FilePart) -> Refused:
    """The refusal of one file, naming it when it is one of a batch's."""
    where = f"{part}: " if part.index is not None else ""
    return Refused(rejected.status, f"{where}{rejected.message}")


def server_timing(started: float, decoded: float, predicted: float, recorded: float) -> str:
    """The ``Server-Timing`` header: the service's own milliseconds per stage and in total.

    ``preprocess`` is reading, decoding and normalising the uploads, ``model`` the inference,
    ``record`` the store's write; HTTP, multipart parsing and JSON are not included.
    """
    stages = {
        "preprocess": decoded - started,
        "model": predicted - decoded,
        "record": recorded - predicted,
        "total": recorded - started,
    }
    return ", ".join(f"{name};dur={1000 * seconds:.2f}" for name, seconds in stages.items())


def _wants_preview(ctx: bentoml.Context, field_value: bool) -> bool:
    query = ctx.request.query_params.get("preview", "")
    return field_value or query.lower() in ("1", "true", "yes")


def openapi_document() -> dict[str, Any]:
    """The complete OpenAPI document of this service (served at ``/docs.json``)."""
    return build_document(DigitService, SETTINGS.max_batch_images)


UPLOAD_ROUTES = frozenset({"/predict", "/predict_batch", "/upload"})
# bentoml.service turned the class into a Service object; its stubs still describe the class.
SERVICE: Any = DigitService
SERVICE.add_asgi_middleware(OpenAPIMiddleware, build=openapi_document)
SERVICE.add_asgi_middleware(ReadinessMiddleware)
SERVICE.add_asgi_middleware(MultipartOnlyMiddleware, paths=UPLOAD_ROUTES)
SERVICE.add_asgi_middleware(ErrorShapeMiddleware)
SERVICE.add_asgi_middleware(BodyLimitMiddleware, max_bytes=SETTINGS.max_upload_bytes)
