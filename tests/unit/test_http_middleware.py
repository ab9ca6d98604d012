"""The service's ASGI guards on a tiny Starlette app: body limit, error shape, multipart-only."""

from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.errors import ErrorShapeMiddleware, error_message
from serving.guards import MultipartOnlyMiddleware
from serving.limits import BodyLimitMiddleware


async def echo_size(request: Request) -> Response:
    return PlainTextResponse(str(len(await request.body())))


async def catch_all(request: Request) -> Response:
    """Like a BentoML endpoint: every exception becomes a 500."""
    try:
        return PlainTextResponse(str(len(await request.body())))
    except Exception as exc:
        return JSONResponse({"error": type(exc).__name__}, status_code=500)


async def bento_style_error(_: Request) -> Response:
    return JSONResponse([{"error": "bad thing"}], status_code=400)


def _client(*middleware: tuple[type, dict[str, object]]) -> TestClient:
    app = Starlette(
        routes=[
            Route("/predict", echo_size, methods=["POST"]),
            Route("/upload", catch_all, methods=["POST"]),
            Route("/catch-all", catch_all, methods=["POST"]),
            Route("/error", bento_style_error, methods=["POST"]),
            Route("/upload-error", bento_style_error, methods=["POST"]),
        ]
    )
    for cls, options in middleware:
        app.add_middleware(cls, **options)
    return TestClient(app)


def test_small_bodies_pass_the_limit() -> None:
    client = _client((BodyLimitMiddleware, {"max_bytes": 100}))
    assert client.post("/predict", content=b"x" * 100).text == "100"


def test_declared_oversize_body_is_413_json() -> None:
    client = _client((BodyLimitMiddleware, {"max_bytes": 100}))
    response = client.post("/predict", content=b"x" * 101)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]


def test_streamed_oversize_body_is_413() -> None:
    client = _client((BodyLimitMiddleware, {"max_bytes": 100}))
    response = client.post("/predict", content=iter([b"x" * 60, b"x" * 60]))
    assert response.status_code == 413


def test_streamed_oversize_body_is_413_even_when_the_app_catches_every_error() -> None:
    client = _client((BodyLimitMiddleware, {"max_bytes": 100}))
    response = client.post("/catch-all", content=iter([b"x" * 60, b"x" * 60]))
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    assert response.headers["connection"] == "close"


def test_streamed_bodies_within_the_limit_reach_the_app() -> None:
    client = _client((BodyLimitMiddleware, {"max_bytes": 100}))
    response = client.post("/catch-all", content=iter([b"x" * 50, b"x" * 50]))
    assert response.text == "100"


def test_the_app_sees_a_disconnect_once_the_streamed_body_passes_the_limit() -> None:
    seen: list[dict[str, object]] = []

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        seen.extend([await receive(), await receive()])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"too late"})

    client = TestClient(BodyLimitMiddleware(app, max_bytes=100))
    response = client.post("/predict", content=iter([b"x" * 60, b"x" * 60]))
    assert response.status_code == 413
    assert response.text != "too late"
    assert [m["type"] for m in seen] == ["http.disconnect", "http.disconnect"]


def test_oversize_on_the_legacy_route_starts_with_failed() -> None:
    client = _client((BodyLimitMiddleware, {"max_bytes": 10}))
    response = client.post("/upload", content=b"x" * 11)
    assert response.status_code == 413
    assert response.text.startswith("failed")


def test_streamed_oversize_on_the_legacy_route_starts_with_failed() -> None:
    client = _client((BodyLimitMiddleware, {"max_bytes": 10}))
    response = client.post("/upload", content=iter([b"x" * 6, b"x" * 6]))
    assert response.status_code == 413
    assert response.text.startswith("failed")


def test_reshaping_keeps_the_connection_close_of_a_413() -> None:
    client = _client((BodyLimitMiddleware, {"max_bytes": 100}), (ErrorShapeMiddleware, {}))
    for path in ("/predict", "/upload"):
        response = client.post(path, content=iter([b"x" * 60, b"x" * 60]))
        assert response.status_code == 413
        assert response.headers["connection"] == "close"


def test_bentoml_array_errors_become_objects() -> None:
    response = _client((ErrorShapeMiddleware, {})).post("/error")
    assert response.status_code == 400
    assert response.json() == {"error": "bad thing"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"error": "x"}]', "x"),
        (b'{"error": "y", "detail": [{"loc": ["image"], "msg": "Field required"}]}', "y: image"),
        (b"plain words", "plain words"),
    ],
)
def test_error_messages_are_extracted(body: bytes, message: str) -> None:
    assert error_message(body).startswith(message)


def test_non_multipart_upload_is_415() -> None:
    client = _client((MultipartOnlyMiddleware, {"paths": frozenset({"/predict"})}))
    response = client.post("/predict", content=b"\x89PNG", headers={"content-type": "image/png"})
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["error"]
