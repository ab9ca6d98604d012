"""From upload to model input: limits, fingerprints, filenames."""

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from imaging.decode import ImageRejected
from serving.uploads import Upload, prepare, read_upload, sanitize_filename
from tests.support.drawing import draw_digit
from tests.support.hostile import encode


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("seven.png", "seven.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\digit 7.jpg", "digit 7.jpg"),
        ("naïve\x00<script>.png", "naive_script_.png"),
        ("", None),
        (None, None),
        ("...", None),
        ("a" * 300 + ".png", "a" * 120),
    ],
)
def test_filenames_are_sanitised(name: str | None, expected: str | None) -> None:
    assert sanitize_filename(name) == expected


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(b"x" * 2048)
    with pytest.raises(ImageRejected) as refused:
        read_upload(path, "big.png", "image/png", limit=1024)
    assert refused.value.status == 413


def test_the_fingerprint_is_the_sha256_of_the_uploaded_bytes() -> None:
    data = encode(draw_digit(7), "PNG")
    expected = hashlib.sha256(data).hexdigest()
    upload = Upload(data, "7.png", "image/png")
    prepared = prepare(upload, 40_000_000)
    assert upload.sha256 == expected
    assert prepared.sha256 == expected
    assert prepared.pixels.shape == (28, 28)
    assert prepared.preprocessing.startswith("mnist-norm-")


def test_a_blank_page_is_unprocessable() -> None:
    data = encode(Image.new("L", (80, 80), 255), "PNG")
    with pytest.raises(ImageRejected) as refused:
        prepare(Upload(data, None, None), 40_000_000)
    assert refused.value.status == 422
