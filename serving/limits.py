"""ASGI middleware that refuses request bodies over a byte limit with 413.

BentoML has no body-size setting and Starlette would spool any size to disk, so the limit is
enforced here: on the declared Content-Length before reading, and on the bytes actually
streamed for chunked uploads.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import error_response


class BodyTooLarge(Exception):  # noqa: N818 - control flow inside the middleware
    """Raised inside ``receive`` once the streamed body passes the limit."""


class BodyLimitMiddleware:
    """Answer 413 to any HTTP request whose body exceeds ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send, path)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send, path)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        message = f"request body too large (limit {self.max_bytes} bytes)"
        response = error_response(413, message, path)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
