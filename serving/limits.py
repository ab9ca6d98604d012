"""ASGI middleware that refuses request bodies over a byte limit with 413.

BentoML has no body-size setting and Starlette would spool any size to disk, so the limit is
enforced here: on the declared Content-Length before reading, and on the bytes actually
streamed for chunked uploads.

A streamed body cannot be refused by raising out of ``receive``: BentoML catches every
exception of its endpoints and answers 500. So once the body passes the limit the middleware
stops reading, answers 413 itself, tells the app the client went away (``http.disconnect``)
and drops whatever the app sends or raises afterwards.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import error_response

DISCONNECT: Message = {"type": "http.disconnect"}


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
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self.refuse(scope, receive, send)
            return
        await _LimitedExchange(self, scope, receive, send).run()

    async def refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the 413 (JSON, or ``failed`` text on legacy routes) and close the connection."""
        message = f"request body too large (limit {self.max_bytes} bytes)"
        response = error_response(413, message, scope.get("path", ""))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class _LimitedExchange:
    """One request passed to the app, cut off with a 413 once its body passes the limit."""

    def __init__(self, limit: BodyLimitMiddleware, scope: Scope, receive: Receive, send: Send):
        self.limit = limit
        self.scope = scope
        self.receive_upstream = receive
        self.send_upstream = send
        self.received = 0
        self.cut = False  # the body passed the limit: nothing more is read
        self.started = False  # the app began its response
        self.refused = False  # the 413 went out instead

    async def run(self) -> None:
        """Run the app; once refused, whatever it still does or raises is dropped."""
        try:
            await self.limit.app(self.scope, self.receive, self.send)
        except Exception:
            if not self.refused:
                raise

    async def receive(self) -> Message:
        """The client's messages until the body passes the limit, then a disconnect."""
        if self.cut:
            return DISCONNECT
        message = await self.receive_upstream()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit.max_bytes:
                await self._cut_off()
                return DISCONNECT
        return message

    async def send(self, message: Message) -> None:
        """Forward the app's response, unless the 413 already answered the request."""
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self.send_upstream(message)

    async def _cut_off(self) -> None:
        """Stop reading; answer 413 unless the app already began its own response."""
        self.cut = True
        if not self.started:
            self.refused = True
            await self.limit.refuse(self.scope, self.receive_upstream, self.send_upstream)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
