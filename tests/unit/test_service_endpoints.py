"""The upload endpoints never block the event loop, and the server runs on uvloop + httptools."""

from __future__ import annotations

import inspect

import pytest

import service


@pytest.mark.parametrize("name", ["predict", "predict_batch", "upload"])
def test_upload_endpoints_are_coroutines(name: str) -> None:
    api = service.SERVICE.apis[name]
    assert inspect.iscoroutinefunction(api.func)


def test_uvicorn_picks_uvloop_and_httptools() -> None:
    import uvloop
    from uvicorn.config import Config

    config = Config(app=lambda *_: None)  # BentoML leaves loop and http on "auto"
    assert (config.loop, config.http) == ("auto", "auto")
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
