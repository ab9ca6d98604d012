"""How the service answers what it refuses: one JSON shape, or the legacy text form.

Every client error leaves the service as ``{"error": "..."}`` with a 4xx status, except on the
original student route ``/upload`` whose curl users read a text body starting with ``failed``.
:class:`ErrorShapeMiddleware` enforces that for errors raised inside BentoML too (its
validation errors and its 4xx exceptions, whose body is a JSON array in 1.4).
"""

from __future__ import annotations

import json

from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Routes of the original student API, whose clients read a plain-text body.
LEGACY_PATHS = frozenset({"/upload"})
MAX_ERROR_BODY = 64 * 1024
#: Headers of an error response that survive its reshaping (``Connection: close`` of a 413).
KEPT_HEADERS = ("connection", "allow", "retry-after", "www-authenticate")


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
