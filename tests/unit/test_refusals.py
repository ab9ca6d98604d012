"""A refusal is answered in one place, and a client's mistake is one log line, not an ERROR."""

from __future__ import annotations

import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bentoml
import pytest
from bentoml.exceptions import InternalServerError, InvalidArgument
from pydantic import BaseModel, ValidationError

from serving import metrics
from serving.errors import (
    BENTOML_REQUEST_LOGGER,
    ClientErrorsAsOneLine,
    Refused,
    answers_refusals,
    install_client_error_filter,
)
from serving.guards import FilePart


class _Request:
    method = "POST"

    def __init__(self, path: str) -> None:
        self.url = type("URL", (), {"path": path})()


class _Context(bentoml.Context):
    """BentoML's request context, with a request of the test's choosing."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._request = _Request(path)
        self._response = type("Response", (), {"status_code": 200})()

    @property
    def request(self) -> Any:
        return self._request

    @property
    def response(self) -> Any:
        return self._response


def _context(path: str) -> bentoml.Context:
    return _Context(path)


def _run(coroutine: Any) -> Any:
    """Run a coroutine to its end on a thread of its own (other tests may leave a loop running)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def _rejected(status: int) -> float:
    return metrics.REJECTED.labels(status=str(status))._value.get()  # type: ignore[attr-defined]


def test_a_refusal_becomes_the_error_shape_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @answers_refusals
    async def endpoint(image: bytes, ctx: bentoml.Context) -> str:
        raise Refused(415, "unsupported image format")

    before = _rejected(415)
    ctx = _context("/predict")
    with caplog.at_level(logging.INFO, logger="digits.refused"):
        response: Any = _run(endpoint(b"x", ctx=ctx))
    assert response.status_code == ctx.response.status_code == 415
    assert response.body == b'{"error":"unsupported image format"}'
    assert _rejected(415) == before + 1
    [line] = [r for r in caplog.records if r.name == "digits.refused"]
    assert line.levelno == logging.INFO
    assert line.getMessage() == "refused POST /predict with 415: unsupported image format"


def test_the_legacy_route_gets_its_failed_text_and_a_5xx_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @answers_refusals
    async def endpoint(ctx: bentoml.Context) -> str:
        raise Refused(503, "recording is unavailable")

    with caplog.at_level(logging.INFO, logger="digits.refused"):
        response: Any = _run(endpoint(_context("/upload")))
    assert (response.status_code, response.body) == (503, b"failed: recording is unavailable\n")
    assert [r.levelno for r in caplog.records if r.name == "digits.refused"] == [logging.WARNING]


def test_an_answer_passes_through_untouched() -> None:
    @answers_refusals
    async def endpoint(ctx: bentoml.Context) -> str:
        return "7. success\n"

    assert _run(endpoint(ctx=_context("/upload"))) == "7. success\n"


def test_the_wrapper_keeps_the_signature_bentoml_reads() -> None:
    async def predict(image: bytes, ctx: bentoml.Context, preview: bool = False) -> str:
        """Doc."""
        return ""

    wrapped = answers_refusals(predict)
    import inspect

    assert inspect.signature(wrapped) == inspect.signature(predict)
    assert inspect.iscoroutinefunction(wrapped)
    assert wrapped.__doc__ == "Doc."


def _record_of(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        BENTOML_REQUEST_LOGGER,
        logging.ERROR,
        __file__,
        1,
        "Exception on %s [%s]",
        ("/predict", "POST"),
        exc_info,
    )


class _Form(BaseModel):
    image: bytes


def test_a_validation_error_becomes_one_warning_line_saying_what_was_wrong() -> None:
    with pytest.raises(ValidationError) as caught:
        _Form.model_validate({})
    record = _record_of(caught.value)
    assert ClientErrorsAsOneLine().filter(record)
    assert (record.levelno, record.levelname, record.exc_info) == (logging.WARNING, "WARNING", None)
    assert record.getMessage() == (
        "Exception on /predict [POST]: client error: 1 validation error(s), first: image "
        "Field required"
    )


def test_a_bentoml_4xx_becomes_a_warning_and_a_5xx_keeps_its_traceback() -> None:
    client = _record_of(InvalidArgument("unexpected form field picture; expected image"))
    ClientErrorsAsOneLine().filter(client)
    assert client.levelno == logging.WARNING
    assert client.getMessage().endswith(
        "client error: unexpected form field picture; expected image"
    )
    ours = _record_of(InternalServerError("boom"))
    ClientErrorsAsOneLine().filter(ours)
    assert (ours.levelno, ours.exc_info is not None) == (logging.ERROR, True)
    crash = _record_of(ZeroDivisionError("division by zero"))
    ClientErrorsAsOneLine().filter(crash)
    assert (crash.levelno, crash.exc_info is not None) == (logging.ERROR, True)


def test_the_filter_is_installed_once_on_bentomls_request_logger() -> None:
    install_client_error_filter()
    install_client_error_filter()
    filters = logging.getLogger(BENTOML_REQUEST_LOGGER).filters
    assert sum(isinstance(f, ClientErrorsAsOneLine) for f in filters) == 1


def test_a_file_part_names_itself_as_messages_do() -> None:
    assert str(FilePart("image")) == "image"
    assert str(FilePart("images", 3)) == "images[3]"
