"""The browser page: static files in this folder and a tiny ASGI app that serves them.

The service adds :func:`routes` to the app it mounts at ``/``: ``GET /`` answers the page and
``GET /static/<name>`` its script and style sheet. Only the files listed in :data:`ASSETS` are
served (not this module or the README), with a Content-Security-Policy that lets the page talk
to its own origin only.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

WEB_DIR = Path(__file__).resolve().parent
INDEX = WEB_DIR / "index.html"

ASSETS: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data: blob:",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate on every load so a redeployed service never runs a stale script.
    "Cache-Control": "no-cache",
}


async def index(request: Request) -> Response:
    """Serve the page."""
    return FileResponse(INDEX, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


async def asset(request: Request) -> Response:
    """Serve one of the page's static files, or 404 for any other name."""
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(WEB_DIR / name, media_type=media_type, headers=SECURITY_HEADERS)


def routes() -> list[Route]:
    """The page's routes: ``/`` (and ``/index.html``) and ``/static/<name>``.

    Returns:
        Starlette routes to add to the app the service mounts at its root.
    """
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/index.html", index, methods=["GET", "HEAD"]),
        Route("/static/{name}", asset, methods=["GET", "HEAD"]),
    ]
