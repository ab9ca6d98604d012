"""No client input gets a 500: odd filenames, corrupt EXIF, deep JSON, chunked oversize bodies."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from tests.integration.conftest import Served
from tests.support import hostile
from tests.support.drawing import draw_digit

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOUNDARY = b"no500boundary"
DEEP_JSON = "[" * 3000 + "]" * 3000
MIB = 1024 * 1024
#: The served fixture's DIGITS_MAX_UPLOAD_BYTES is 16 MiB; these bodies stream 17 MiB.
OVER_LIMIT_MIB = 17


@pytest.fixture(scope="module")
def seven_png() -> bytes:
    return hostile.encode(draw_digit(7), "PNG")


def multipart(field: str, filename: bytes, data: bytes, content_type: bytes) -> bytes:
    """One file part with the filename sent as raw bytes (no quoting or escaping)."""
    return (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="' + field.encode() + b'"; filename="' + filename
        + b'"\r\nContent-Type: ' + content_type + b"\r\n\r\n" + data + b"\r\n"
        b"--" + BOUNDARY + b"--\r\n"
    )  # fmt: skip


def post_raw(client: httpx.Client, path: str, body: bytes | Iterator[bytes]) -> httpx.Response:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY.decode()}"}
    return client.post(path, content=body, headers=headers)


ODD_FILENAMES = {
    "250-characters": b"a" * 250 + b".png",
    "1000-characters": b"b" * 1000 + b".png",
    "300-two-byte-characters": "é".encode() * 300 + b".png",
    "nul-byte": b"seven\x00.png",
    "slashes": b"../../etc/passwd/../seven.png",
    "backslashes": b"C:\\Users\\me\\seven.png",
    "not-utf-8": b"\xff\xfe\xc3(" * 80 + b".png",
    "only-dots": b"....",
}


@pytest.mark.parametrize("filename", ODD_FILENAMES.values(), ids=ODD_FILENAMES.keys())
def test_any_filename_is_only_metadata_and_a_good_image_gets_200(
    client: httpx.Client, seven_png: bytes, filename: bytes
) -> None:
    response = post_raw(client, "/predict", multipart("image", filename, seven_png, b"image/png"))
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == 7


def test_a_long_filename_is_recorded_cut_to_a_sane_length(
    client: httpx.Client, seven_png: bytes, served: Served
) -> None:
    response = client.post(
        "/predict", files={"image": ("c" * 300 + ".png", seven_png, "image/png")}
    )
    assert response.status_code == 200, response.text
    with sqlite3.connect(served.db) as db:  # filenames are never in the public history
        (recorded,) = db.execute(
            "SELECT filename FROM predictions WHERE id = ?", [response.json()["id"]]
        ).fetchone()
    assert recorded.startswith("ccc")
    assert len(recorded.encode()) <= 255


@pytest.mark.parametrize("field", ["image01", "images"])
def test_a_long_filename_is_fine_on_the_other_upload_routes(
    client: httpx.Client, seven_png: bytes, field: str
) -> None:
    path = "/upload" if field == "image01" else "/predict_batch"
    response = client.post(path, files={field: ("d" * 400 + ".png", seven_png, "image/png")})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("exif", hostile.CORRUPT_EXIF.values(), ids=hostile.CORRUPT_EXIF.keys())
def test_a_jpeg_with_corrupt_exif_is_read_as_stored(client: httpx.Client, exif: bytes) -> None:
    jpeg = hostile.encode(draw_digit(7).convert("RGB"), "JPEG", exif=exif)
    response = client.post("/predict", files={"image": ("seven.jpg", jpeg, "image/jpeg")})
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == 7  # EXIF orientation 6 ignored: not turned sideways


def test_a_jpeg_with_sound_exif_is_still_turned_upright(client: httpx.Client) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned 90 degrees clockwise: shown turned back
    stored = draw_digit(7).convert("RGB").rotate(-90)
    jpeg = hostile.encode(stored, "JPEG", exif=exif.tobytes())
    response = client.post("/predict", files={"image": ("seven.jpg", jpeg, "image/jpeg")})
    assert response.json()["digit"] == 7


def test_deeply_nested_json_in_the_preview_field_is_400(
    client: httpx.Client, seven_png: bytes
) -> None:
    files = {"image": ("seven.png", seven_png, "image/png")}
    response = client.post("/predict", files=files, data={"preview": DEEP_JSON})
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]


def test_deeply_nested_json_as_feedback_is_400(client: httpx.Client) -> None:
    response = client.post(f"/predictions/{uuid.uuid4()}/feedback", content=DEEP_JSON)
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]


def test_deeply_nested_label_in_feedback_is_400(client: httpx.Client) -> None:
    body = '{"label": ' + DEEP_JSON + "}"
    response = client.post(f"/predictions/{uuid.uuid4()}/feedback", content=body)
    assert response.status_code == 400


def test_a_feedback_body_of_megabytes_is_413(client: httpx.Client) -> None:
    body = b'{"label": 7, "pad": "' + b"x" * MIB + b'"}'
    response = client.post(f"/predictions/{uuid.uuid4()}/feedback", content=body)
    assert response.status_code == 413
    assert response.json()["error"]


def chunked_upload(field: str) -> Iterator[bytes]:
    """A multipart body of ``OVER_LIMIT_MIB`` MiB, streamed without a Content-Length."""
    head, tail = multipart(field, b"big.png", b"@", b"image/png").split(b"@")
    yield head
    for _ in range(OVER_LIMIT_MIB):
        yield b"\x00" * MIB
    yield tail


@pytest.mark.parametrize(("path", "field"), [("/predict", "image"), ("/predict_batch", "images")])
def test_a_chunked_body_over_the_limit_is_413_json(
    client: httpx.Client, path: str, field: str
) -> None:
    response = post_raw(client, path, chunked_upload(field))
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    assert response.headers["connection"] == "close"


def test_a_chunked_body_over_the_limit_on_upload_is_413_failed_text(client: httpx.Client) -> None:
    response = post_raw(client, "/upload", chunked_upload("image01"))
    assert response.status_code == 413
    assert response.text.startswith("failed")


def test_a_chunked_body_within_the_limit_is_served(client: httpx.Client, seven_png: bytes) -> None:
    body = multipart("image", b"seven.png", seven_png, b"image/png")
    response = post_raw(client, "/predict", iter([body[:100], body[100:]]))
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == 7


def test_the_server_is_healthy_after_all_of_it(
    client: httpx.Client, seven_png: bytes, served: object
) -> None:
    for path, field in [("/predict", "image"), ("/upload", "image01")]:
        post_raw(client, path, chunked_upload(field))
    assert client.get("/readyz").status_code == 200
    response = client.post("/predict", files={"image": ("seven.png", seven_png, "image/png")})
    assert response.json()["digit"] == 7
    log = (served.workdir / "server.log").read_text()  # type: ignore[attr-defined]
    assert "status=500" not in log
