"""Hostile uploads get the documented 4xx (README "Errors"), never a 500; the server lives on."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from devtools.waiting import wait_until
from tests.support import hostile

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TWENTY_MB = b"\x00" * (20 * 1024 * 1024)

CASES = [
    ("zero-bytes", "image", b"", "image/png", 400),
    ("text-renamed-png", "image", b"just some text", "image/png", 400),
    ("truncated-png", "image", hostile.truncated_png(), "image/png", 400),
    ("png-bomb-30000x30000", "image", hostile.png_bomb(), "image/png", 413),
    ("animated-gif", "image", hostile.animated_gif(), "image/gif", 400),
    ("tiff-16-bit", "image", hostile.tiff_16bit(), "image/tiff", 415),
    ("cmyk-jpeg", "image", hostile.cmyk_jpeg(), "image/jpeg", 415),
    ("svg", "image", hostile.SVG, "image/svg+xml", 415),
    ("20-mb-body", "image", TWENTY_MB, "image/png", 413),
    ("wrong-field-name", "picture", b"\x89PNG", "image/png", 400),
]


@pytest.mark.parametrize(
    ("field", "data", "content_type", "status"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_predict_refuses_with_json_error(
    client: httpx.Client, field: str, data: bytes, content_type: str, status: int
) -> None:
    response = client.post("/predict", files={field: ("upload.png", data, content_type)})
    assert response.status_code == status, response.text
    assert response.json()["error"]


@pytest.mark.parametrize(
    ("field", "data", "content_type", "status"),
    [(("image01" if c[1] == "image" else c[1]), *c[2:]) for c in CASES],
    ids=[case[0] for case in CASES],
)
def test_upload_refuses_with_failed_text(
    client: httpx.Client, field: str, data: bytes, content_type: str, status: int
) -> None:
    response = client.post("/upload", files={field: ("upload.png", data, content_type)})
    assert response.status_code == status, response.text
    assert response.text.startswith("failed")


def test_a_blank_page_is_422(client: httpx.Client) -> None:
    from PIL import Image

    blank = hostile.encode(Image.new("RGB", (300, 300), "white"), "PNG")
    response = client.post("/predict", files={"image": ("blank.png", blank, "image/png")})
    assert response.status_code == 422
    assert "no digit" in response.json()["error"]


def test_a_url_instead_of_a_file_is_not_fetched(client: httpx.Client) -> None:
    text_part = {"image": (None, "http://127.0.0.1:1/secret")}  # a text part, not a file
    response = client.post("/predict", files=text_part)
    assert response.status_code == 400
    assert "not text or a URL" in response.json()["error"]


def test_raw_body_instead_of_multipart_is_415(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    response = client.post("/predict", content=digit_png[7], headers={"content-type": "image/png"})
    assert response.status_code == 415


def test_the_server_keeps_serving_after_the_onslaught(
    client: httpx.Client, digit_png: dict[int, bytes]
) -> None:
    statuses = [
        client.post("/predict", files={case[1]: ("x.png", case[2], case[3])}).status_code
        for case in CASES
    ]
    assert statuses == [case[4] for case in CASES]
    response = client.post("/predict", files={"image": ("7.png", digit_png[7], "image/png")})
    assert response.json()["digit"] == 7


def test_a_client_mistake_is_one_warning_line_in_the_log_not_an_error(
    client: httpx.Client, served: object
) -> None:
    log: Path = served.workdir / "server.log"  # type: ignore[attr-defined]
    start = log.stat().st_size
    response = client.post("/predict", files={"picture": ("x.png", b"\x89PNG", "image/png")})
    assert response.status_code == 400
    response = client.post("/predict", files={"image": ("x.svg", hostile.SVG, "image/svg+xml")})
    assert response.status_code == 415
    written = _log_since(log, start, "refused POST /predict with 415")
    assert "[ERROR]" not in written, written
    assert "Traceback" not in written, written
    assert "client error: unexpected form field picture" in written, written


def _log_since(log: Path, start: int, last: str, timeout: float = 10.0) -> str:
    """What the server logged after ``start`` once ``last`` is in it (logs are flushed late)."""
    written = ""

    def logged() -> bool:
        nonlocal written
        with log.open("rb") as handle:
            handle.seek(start)
            written = handle.read().decode("utf-8", "replace")
        return last in written

    wait_until(logged, timeout, f"{last!r} in the server log", every=0.1)
    return written
