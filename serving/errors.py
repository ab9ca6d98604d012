"""How the service answers what it refuses: one JSON shape, or the legacy text form.

Every client error leaves the service as ``{"error": "..."}`` with a 4xx status, except on the
original student route ``/upload`` whose curl users read a text body starting with ``failed``.
:class:`ErrorShapeMiddleware` enforces that for errors raised inside BentoML too (its
validation errors and its 4xx exceptions, whose body is a JSON array in 1.4).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar, cast

import bentoml
from bentoml.exceptions import BentoMLException
from pydantic import ValidationError
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving import metrics

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("digits.refused")

#: Routes of the original student API, whose clients read a plain-text body.
LEGACY_PATHS = frozenset({"/upload"})
MAX_ERROR_BODY = 64 * 1024
#: Headers of an error response that survive its reshaping (``Connection: close`` of a 413).
KEPT_HEADERS = ("connection", "allow", "retry-after", "www-authenticate")


class Refused(Exception):  # noqa: N818 - reads better at call sites than ...Error
    """A request the service refuses: answer ``status`` with ``message``, meant for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def answers_refusals(endpoint: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a BentoML endpoint so that a :class:`Refused` it raises becomes its error response.

    This is the one place a refusal turns into an answer: counted in
    ``digits_rejected_total``, logged as one line (INFO for a client's mistake, WARNING for a
    5xx, whose cause was logged where it happened), shaped by :func:`error_response`. BentoML
    sends a ``Response`` returned by an endpoint as it is, whatever the endpoint's declared
    type; the cast below says so once instead of at every endpoint.
    """

    @functools.wraps(endpoint)
    async def answering(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await endpoint(*args, **kwargs)
        except Refused as refused:
            ctx = next(a for a in (*args, *kwargs.values()) if isinstance(a, bentoml.Context))
            ctx.response.status_code = refused.status  # BentoML sets it on whatever is returned
            return cast(R, refusal_response(refused, ctx.request.method, ctx.request.url.path))

    return answering


def refusal_response(refused: Refused, method: str, path: str) -> Response:
    """Count, log and shape one refusal."""
    metrics.REJECTED.labels(status=str(refused.status)).inc()
    level = logging.INFO if refused.status < 500 else logging.WARNING
    log.log(level, "refused %s %s with %d: %s", method, path, refused.status, refused.message)
    return error_response(refused.status, refused.message, path)


class ClientErrorsAsOneLine(logging.Filter):
    """Turn BentoML's ERROR-with-traceback for a client's mistake into one WARNING line.

    BentoML logs ``Exception on /predict [POST]`` with a traceback for every request that fails
    its input validation (a wrong field name, a missing file) before answering 400; operators
    alert on ERROR lines, and a client's mistake is not the server's fault. Validation errors and
    BentoML's own 4xx exceptions become ``WARNING ... client error: <what was wrong>``; anything
    else keeps its ERROR and traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place when it is a client error; never drop it."""
        error = record.exc_info[1] if record.exc_info else None
        if _is_client_error(error):
            record.msg = f"{record.getMessage()}: client error: {_summary(error)}"
            record.args = ()
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def _is_client_error(error: BaseException | None) -> bool:
    if isinstance(error, ValidationError):
        return True
    return isinstance(error, BentoMLException) and error.error_code.value < 500


def _summary(error: BaseException | None) -> str:
    if isinstance(error, ValidationError):
        first = error.errors(include_context=False, include_input=False)[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{error.error_count()} validation error(s), first: {where} {first['msg']}".strip()
    return str(error)


#: The logger BentoML reports failed requests on (``log_exception`` in its HTTP app).
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"


def install_client_error_filter() -> None:
    """Attach :class:`ClientErrorsAsOneLine` to BentoML's request logger (once per process)."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, ClientErrorsAsOneLine) for f in logger.filters):
        logger.addFilter(ClientErrorsAsOneLine())


def error_response(status: int, message: str, path: str = "") -> Response:
    """``{"error": message}`` with ``status``; ``failed: message`` as text on legacy routes."""
    if path in LEGACY_PATHS:
        return PlainTextResponse(f"failed: {message}\n", status_code=status)
    return JSONResponse({"error": message}, status_code=status)


def error_message(body: bytes) -> str:
    """The human message inside an error body of any shape BentoML produces."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip() or "request refused"
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict) and "error" in data:
        message = str(data["error"])
        detail = data.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            where = ".".join(str(p) for p in detail[0].get("loc", []))
            message = f"{message}: {where} {detail[0].get('msg', '')}".strip()
        return message
    return str(data)


class ErrorShapeMiddleware:
    """Rewrite 4xx bodies into the service's error shape (JSON object or legacy text)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        held: Message | None = None
        chunks: list[bytes] = []

        async def shaping_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                held = message
                return
            if held is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)[:MAX_ERROR_BODY]
                response = _reshape(held, body, path)
                await response(scope, receive, send)

        await self.app(scope, receive, shaping_send)


def _reshape(start: Message, body: bytes, path: str) -> Response:
    status = start["status"]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    response = _shaped(status, headers, body, path)
    for name in KEPT_HEADERS:
        if name in headers:
            response.headers[name] = headers[name]
    return response


def _shaped(status: int, headers: dict[str, str], body: bytes, path: str) -> Response:
    if path in LEGACY_PATHS and body.startswith(b"failed"):
        return Response(body, status_code=status, media_type="text/plain")
    if path not in LEGACY_PATHS and headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and "error" in data:
            return Response(body, status_code=status, media_type="application/json")
    return error_response(status, error_message(body), path)
