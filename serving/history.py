"""Read side of the API and the web page: a Starlette app mounted into the BentoML service.

BentoML APIs are POST-only, so history, stats, feedback and the page live here. Handlers reach
the running service (its store) through ``bentoml.get_current_service()``.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import bentoml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from serving import metrics, web
from serving.access import Access
from serving.errors import error_response
from serving.schemas import FeedbackOut, HistoryItem, HistoryPage, StatsOut
from storage.base import PredictionStore, StoreError
from storage.records import utc_now

MAX_PAGE = 100
DEFAULT_PAGE = 20
#: Largest feedback body read; ``{"label": 7}`` needs a dozen bytes.
MAX_FEEDBACK_BYTES = 64 * 1024
FEEDBACK_REFUSED = (
    "feedback needs the prediction's feedback_token (from the answer to the upload) "
    "or Authorization: Bearer <API token>"
)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _store() -> PredictionStore:
    store: PredictionStore = bentoml.get_current_service().store
    return store


def _access() -> Access:
    access: Access = bentoml.get_current_service().access
    return access


def _authorization(request: Request) -> str:
    return request.headers.get("authorization", "")


def _refuse_reader(request: Request) -> Response | None:
    """401 when history and stats need the API token and the request lacks it."""
    if _access().may_read(_authorization(request)):
        return None
    response = error_response(401, "history and stats need Authorization: Bearer <API token>")
    response.headers["WWW-Authenticate"] = 'Bearer realm="digits"'
    return response


def _private(request: Request) -> bool:
    return _access().is_operator(_authorization(request))


def _unavailable(exc: StoreError) -> Response:
    return error_response(503, f"history is unavailable right now: {exc}")


async def list_predictions(request: Request) -> Response:
    """GET /predictions?limit=&cursor=&day= — newest first, paged by an opaque cursor."""
    if refused := _refuse_reader(request):
        return refused
    try:
        limit = int(request.query_params.get("limit", DEFAULT_PAGE))
        day = _parse_day(request.query_params.get("day"), default=None)
    except ValueError as exc:
        return error_response(400, str(exc))
    if not 1 <= limit <= MAX_PAGE:
        return error_response(400, f"limit must be between 1 and {MAX_PAGE}")
    cursor = request.query_params.get("cursor") or None
    try:
        page = await run_in_threadpool(_store().recent, limit, cursor, day)
    except ValueError:
        return error_response(400, "invalid cursor")
    except StoreError as exc:
        return _unavailable(exc)
    items = [HistoryItem.from_record(r, _private(request)) for r in page.records]
    return JSONResponse(HistoryPage(items=items, cursor=page.cursor).model_dump(mode="json"))


async def get_prediction(request: Request) -> Response:
    """GET /predictions/{id} — one recorded prediction."""
    if refused := _refuse_reader(request):
        return refused
    prediction_id = _parse_id(request.path_params["prediction_id"])
    if prediction_id is None:
        return error_response(400, "prediction id must be a UUID")
    try:
        record = await run_in_threadpool(_store().get, prediction_id)
    except StoreError as exc:
        return _unavailable(exc)
    if record is None:
        return error_response(404, f"no prediction {prediction_id}")
    return JSONResponse(HistoryItem.from_record(record, _private(request)).model_dump(mode="json"))


async def post_feedback(request: Request) -> Response:
    """POST /predictions/{id}/feedback {"label": 0-9, "token": ...} — record the true digit.

    Needs the prediction's ``feedback_token`` (or the operator's API token): 403 without.
    """
    prediction_id = _parse_id(request.path_params["prediction_id"])
    if prediction_id is None:
        return error_response(400, "prediction id must be a UUID")
    body = await _bounded_body(request, MAX_FEEDBACK_BYTES)
    if body is None:
        return error_response(413, f"feedback body too large (limit {MAX_FEEDBACK_BYTES} bytes)")
    try:
        data = json.loads(body)
        label, token = data["label"], data.get("token")
    except (ValueError, KeyError, TypeError, AttributeError):
        return error_response(400, 'body must be JSON {"label": <digit 0-9>, "token": "..."}')
    except RecursionError:
        return error_response(400, 'body is JSON nested too deeply; send {"label": <digit 0-9>}')
    if isinstance(label, float) and label.is_integer():
        label = int(label)  # JSON has one number type: 6.0 is the integer 6
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label <= 9:
        return error_response(400, "label must be an integer 0-9")
    if token is not None and not isinstance(token, str):
        return error_response(400, "token must be the prediction's feedback_token string")
    store = _store()
    try:
        record = await run_in_threadpool(store.get, prediction_id)
        if record is None:
            return error_response(404, f"no prediction {prediction_id}")
        if not _access().may_label(prediction_id, token, _authorization(request)):
            return error_response(403, FEEDBACK_REFUSED)
        found = await run_in_threadpool(store.set_label, prediction_id, label)
    except StoreError as exc:
        return _unavailable(exc)
    if not found:
        return error_response(404, f"no prediction {prediction_id}")
    correct = label == record.digit
    metrics.FEEDBACK.labels(outcome="correct" if correct else "wrong").inc()
    answer = FeedbackOut(id=prediction_id, label=label, digit=record.digit, correct=correct)
    return JSONResponse(answer.model_dump(mode="json"))


async def get_stats(request: Request) -> Response:
    """GET /stats?day=YYYY-MM-DD — predictions per digit and feedback accuracy of a day."""
    if refused := _refuse_reader(request):
        return refused
    try:
        day = _parse_day(request.query_params.get("day"), default=None) or utc_now().date()
    except ValueError as exc:
        return error_response(400, str(exc))
    try:
        stats = await run_in_threadpool(_store().stats, day)
    except StoreError as exc:
        return _unavailable(exc)
    return JSONResponse(StatsOut.from_stats(stats).model_dump(mode="json"))


async def docs(_: Request) -> Response:
    """Swagger UI for /docs.json (BentoML's own page, moved from / to /docs)."""
    from _bentoml_impl import server

    return FileResponse(Path(server.__file__).parent / "main-openapi.html")


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it passes ``limit`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _parse_day(raw: str | None, default: date | None) -> date | None:
    if raw is None:
        return default
    try:
        if not _DAY.fullmatch(raw):  # fromisoformat also takes 20261124 and 2026-W48-3
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError("day must be YYYY-MM-DD") from exc


def build_app() -> Starlette:
    """The Starlette app the service mounts at ``/``."""
    routes: list[Any] = [
        *web.routes(),
        Route("/docs", docs, methods=["GET"]),
        Route("/predictions", list_predictions, methods=["GET"]),
        Route("/predictions/{prediction_id}", get_prediction, methods=["GET"]),
        Route("/predictions/{prediction_id}/feedback", post_feedback, methods=["POST"]),
        Route("/stats", get_stats, methods=["GET"]),
    ]
    return Starlette(routes=routes)
