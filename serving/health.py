"""``/readyz`` with details: model, store state, spool depth and room (JSON, 200 or 503)."""

from __future__ import annotations

import bentoml
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

READY_PATH = "/readyz"


class ReadinessMiddleware:
    """Answer GET /readyz from the service's own :meth:`readiness` report."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if (
            scope["type"] != "http"
            or scope.get("path") != READY_PATH
            or scope.get("method") not in ("GET", "HEAD")
        ):  # BentoML's own route answers other methods with 405
            await self.app(scope, receive, send)
            return
        try:
            service = bentoml.get_current_service()
        except Exception:  # service not instantiated yet: still starting
            report = {"ready": False, "reason": "starting"}
        else:
            report = await run_in_threadpool(service.readiness)
        status = 200 if report.get("ready") else 503
        await JSONResponse(report, status_code=status)(scope, receive, send)
