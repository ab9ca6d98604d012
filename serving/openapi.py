"""The service's complete OpenAPI 3.1 document, served at ``/docs.json`` (and so by ``/docs``).

BentoML documents only its own APIs, with its generic error schemas, and not the history
routes mounted beside them. :func:`build_document` documents every route the service answers,
every status each can answer with and its body: the three upload APIs' request bodies come
from BentoML's generated document (they follow the API signatures); every JSON body comes from
the pydantic models of :mod:`serving.schemas`. :class:`OpenAPIMiddleware` serves it in place of
BentoML's document.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from serving import web
from serving.history import DEFAULT_PAGE, MAX_PAGE
from serving.idempotency import KEY_PATTERN, MAX_KEY_LENGTH, REPLAYED_HEADER
from serving.schemas import (
    Error,
    FeedbackIn,
    FeedbackOut,
    HistoryItem,
    HistoryPage,
    Prediction,
    Readiness,
    StatsOut,
)

DOC_PATH = "/docs.json"
OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
OUTPUT_MODELS: tuple[type[BaseModel], ...] = (
    Prediction,
    HistoryItem,
    HistoryPage,
    FeedbackOut,
    StatsOut,
    Readiness,
    Error,
)
INPUT_MODELS: tuple[type[BaseModel], ...] = (FeedbackIn,)

#: What each refusal means, as README.md "Errors" lists them.
ERRORS: dict[int, str] = {
    400: "Not an acceptable image or request: empty, corrupt or animated image, wrong or "
    "missing form field, text where a file belongs, malformed body, bad query or id",
    401: "History and stats need `Authorization: Bearer <API token>` (when DIGITS_API_TOKEN "
    "is set)",
    403: "Feedback needs the prediction's `feedback_token` or the API token",
    404: "No prediction with that id",
    409: "A request with the same Idempotency-Key is in progress, or only partly recorded; retry",
    413: "Request body or image too large",
    415: "Image format outside the allow-list, or a body that is not multipart/form-data",
    422: "No digit found in the image, or more than one (or an Idempotency-Key reused for "
    "another request)",
    503: "The store is unavailable, or the request passed its deadline: nothing was recorded "
    "(or read); retry later",
}
UPLOAD_ERRORS = (400, 409, 413, 415, 422, 503)
TEXT_ERROR = {"type": "string", "pattern": "^failed"}
TEXT_PLAIN = {"type": "string"}


def build_document(service: Any, max_batch_images: int) -> dict[str, Any]:
    """The OpenAPI document of every route of ``service`` (the BentoML service class)."""
    bento = service.openapi_spec.asdict()
    paths = {
        **api_paths(bento["paths"], service.apis, max_batch_images),
        **history_paths(),
        **operations_paths(),
        **page_paths(),
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "digits: handwritten digit recognition",
            "version": "1",
            "description": "Every route of the service and every status it answers with. "
            'Refusals are JSON `{"error": ...}` (text starting `failed` on `/upload`).',
        },
        "tags": [
            {"name": "Predictions", "description": "Recognise digits in uploaded images."},
            {"name": "History", "description": "Recorded predictions, feedback and stats."},
            {"name": "Operations", "description": "Health, readiness and metrics."},
            {"name": "Web page", "description": "The browser page and these docs."},
        ],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "DIGITS_API_TOKEN: needed for history and stats when set; "
                    "shows filenames and upload hashes; may label any prediction.",
                }
            },
        },
    }


def component_schemas() -> dict[str, Any]:
    """JSON Schemas of the API's models, keyed by model name."""
    models = [(m, "serialization") for m in OUTPUT_MODELS] + [
        (m, "validation") for m in INPUT_MODELS
    ]
    _, top = models_json_schema(models, ref_template=REF)  # type: ignore[arg-type]
    return dict(sorted(top["$defs"].items()))


def api_paths(
    bento_paths: dict[str, Any], apis: dict[str, Any], max_batch_images: int
) -> dict[str, Any]:
    """The BentoML APIs: their generated request bodies, with this service's responses."""
    successes = {
        "predict": json_response("The prediction", ref("Prediction")),
        "predict_batch": json_response(
            "One prediction per image, in order", {"type": "array", "items": ref("Prediction")}
        ),
        "upload": text_response("The digit, e.g. `7. success`", r"^[0-9]\. success\n$"),
    }
    paths = {}
    for name, method in apis.items():
        generated = bento_paths[method.route]["post"]
        body = generated["requestBody"]
        if name == "predict_batch":
            _bound_batch(body, max_batch_images)
        text = name == "upload"
        success = {**successes[name], "headers": {REPLAYED_HEADER: _replayed_header()}}
        responses = {"200": success, **error_responses(UPLOAD_ERRORS, text=text)}
        paths[method.route] = {
            "post": {
                "tags": ["Predictions"],
                "operationId": name,
                "summary": _summary(method.func),
                "description": inspect.cleandoc(method.func.__doc__ or ""),
                "parameters": [_idempotency_key()] + ([] if text else [_preview_query()]),
                "requestBody": {**body, "required": True},
                "responses": responses,
            }
        }
    return paths


def history_paths() -> dict[str, Any]:
    """The read side mounted by :mod:`serving.history`."""
    prediction_id = {
        "name": "prediction_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    day = query("day", {"type": "string", "format": "date"}, "A UTC day, YYYY-MM-DD.")
    limit_schema = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE}
    paths = {
        "/predictions": {
            "get": operation(
                "History",
                "list_predictions",
                "Recorded predictions, newest first, one page at a time",
                [
                    query("limit", limit_schema, "Page size."),
                    query("cursor", {"type": "string"}, "The previous page's `cursor`."),
                    day,
                ],
                {
                    "200": json_response("A page", ref("HistoryPage")),
                    **error_responses((400, 401, 503)),
                },
            )
        },
        "/predictions/{prediction_id}": {
            "get": operation(
                "History",
                "get_prediction",
                "One recorded prediction",
                [prediction_id],
                {
                    "200": json_response("The prediction", ref("HistoryItem")),
                    **error_responses((400, 401, 404, 503)),
                },
            )
        },
        "/predictions/{prediction_id}/feedback": {
            "post": {
                **operation(
                    "History",
                    "post_feedback",
                    "Record the digit a prediction's image really shows",
                    [prediction_id],
                    {
                        "200": json_response("Stored", ref("FeedbackOut")),
                        **error_responses((400, 403, 404, 413, 503)),
                    },
                ),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("FeedbackIn")}},
                },
            }
        },
        "/stats": {
            "get": operation(
                "History",
                "get_stats",
                "Predictions per digit and feedback accuracy of one UTC day",
                [query("day", {"type": "string", "format": "date"}, "Default: today (UTC).")],
                {
                    "200": json_response("The day's counts", ref("StatsOut")),
                    **error_responses((400, 401, 503)),
                },
            )
        },
    }
    for methods in paths.values():
        for op in methods.values():
            op["security"] = [{}, {"apiToken": []}]  # open, or the operator's token
    return paths


def operations_paths() -> dict[str, Any]:
    """Health, readiness and metrics (BentoML's, readiness from :mod:`serving.health`)."""
    alive = {"200": text_response("Alive (a newline)")}
    return {
        "/livez": {"get": operation("Operations", "livez", "Liveness", [], alive)},
        "/healthz": {"get": operation("Operations", "healthz", "Liveness (alias)", [], alive)},
        "/readyz": {
            "get": operation(
                "Operations",
                "readyz",
                "Readiness: model loaded and store taking writes",
                [],
                {
                    "200": json_response("Ready", ref("Readiness")),
                    "503": json_response("Not ready (yet)", ref("Readiness")),
                },
            )
        },
        "/metrics": {
            "get": operation(
                "Operations",
                "metrics",
                "Prometheus metrics",
                [],
                {"200": text_response("Prometheus text exposition format")},
            )
        },
    }


def page_paths() -> dict[str, Any]:
    """The web page, its static files and these docs."""
    html = {"200": media_response("An HTML page", "text/html", TEXT_PLAIN)}
    assets = {
        "200": {
            "description": "The file",
            "content": {
                media.split(";")[0]: {"schema": TEXT_PLAIN} for media in web.ASSETS.values()
            },
        },
        **error_responses((404,)),
    }
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": sorted(web.ASSETS)},
    }
    document = {"200": json_response("This document", {"type": "object"})}
    return {
        "/": {"get": operation("Web page", "page", "The web page", [], html)},
        "/index.html": {"get": operation("Web page", "page_index", "The web page", [], html)},
        "/static/{name}": {
            "get": operation("Web page", "asset", "A file of the page", [name], assets)
        },
        "/docs": {"get": operation("Web page", "docs", "Swagger UI for this document", [], html)},
        DOC_PATH: {"get": operation("Web page", "openapi", "This OpenAPI document", [], document)},
    }


def operation(
    tag: str, operation_id: str, summary: str, parameters: list[Any], responses: dict[str, Any]
) -> dict[str, Any]:
    """One operation object."""
    return {
        "tags": [tag],
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    }


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def ref(model: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": REF.format(model=model)}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A response with an ``application/json`` body."""
    return media_response(description, "application/json", schema)


def text_response(description: str, pattern: str | None = None) -> dict[str, Any]:
    """A response with a ``text/plain`` body."""
    schema = {**TEXT_PLAIN, "pattern": pattern} if pattern else TEXT_PLAIN
    return media_response(description, "text/plain", schema)


def media_response(description: str, media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A response with one body media type."""
    return {"description": description, "content": {media_type: {"schema": schema}}}


def error_responses(statuses: tuple[int, ...], text: bool = False) -> dict[str, Any]:
    """The refusals ``statuses``: JSON ``Error`` bodies, or ``failed: ...`` text."""
    if text:
        return {str(s): media_response(ERRORS[s], "text/plain", TEXT_ERROR) for s in statuses}
    return {str(s): json_response(ERRORS[s], ref("Error")) for s in statuses}


def _idempotency_key() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "pattern": KEY_PATTERN,
        },
        "description": "Makes a retry of this request get the same ids and answer, recorded "
        "once (serving/idempotency.py).",
    }


def _replayed_header() -> dict[str, Any]:
    return {
        "description": "`true` when the answer is the one recorded for an earlier request "
        "with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    }


def _preview_query() -> dict[str, Any]:
    return query(
        "preview",
        {"type": "boolean", "default": False},
        "Also answer the 28x28 image the model saw.",
    )


def _bound_batch(body: dict[str, Any], max_batch_images: int) -> None:
    for media in body["content"].values():
        images = media["schema"]["properties"]["images"]
        images.update(minItems=1, maxItems=max_batch_images)


def _summary(func: Callable[..., Any]) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.splitlines()[0].rstrip(".") if doc else func.__name__


class OpenAPIMiddleware:
    """Answer ``GET /docs.json`` with :func:`build_document` instead of BentoML's document."""

    def __init__(self, app: ASGIApp, build: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.build = build
        self._body: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http" or scope.get("path") != DOC_PATH:
            await self.app(scope, receive, send)
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)  # BentoML's route answers 405
            return
        if self._body is None:
            self._body = json.dumps(self.build(), separators=(",", ":")).encode()
        await Response(self._body, media_type="application/json")(scope, receive, send)
