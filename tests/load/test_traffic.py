"""The uploads the load tests send: realistic renderings of a digit, correctly encoded."""

from __future__ import annotations

import io
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.answers import answered_digit
from loadtests.corpus import read_corpus, render, write_corpus
from loadtests.multipart import FilePart, encode_multipart


def _digit() -> np.ndarray:
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 12:16] = 255  # a "1"
    return digit


@pytest.mark.parametrize(
    ("style", "min_side", "max_side"),
    [("mnist", 28, 28), ("scaled", 56, 224), ("paper", 300, 640), ("photo", 1000, 1600)],
)
def test_each_style_renders_a_decodable_image_of_its_size(
    style: str, min_side: int, max_side: int
) -> None:
    sample = render(_digit(), 1, style, np.random.default_rng(0), 3)
    image = Image.open(io.BytesIO(sample.data))
    assert min_side <= max(image.size) <= max_side
    assert sample.content_type == f"image/{image.format.lower()}"
    assert sample.label == 1
    assert sample.filename.startswith("0003-" + style)


def test_paper_and_photo_are_dark_ink_on_light_paper() -> None:
    for style in ("paper", "photo"):
        sample = render(_digit(), 1, style, np.random.default_rng(1), 0)
        gray = np.asarray(Image.open(io.BytesIO(sample.data)).convert("L"), dtype=np.float32)
        assert np.median(gray) > 150, style
        assert gray.min() < 90, style


def test_rendering_is_deterministic_for_a_seed() -> None:
    first = render(_digit(), 1, "photo", np.random.default_rng(5), 0)
    again = render(_digit(), 1, "photo", np.random.default_rng(5), 0)
    assert first == again


def test_a_written_corpus_reads_back_identically(tmp_path: Path) -> None:
    samples = [render(_digit(), 1, s, np.random.default_rng(i), i) for i, s in enumerate(
        ("mnist", "scaled", "paper")
    )]  # fmt: skip
    write_corpus(samples, tmp_path / "corpus")
    assert read_corpus(tmp_path / "corpus") == samples


def test_multipart_body_parses_back_into_the_same_files() -> None:
    parts = [
        FilePart("images", "a.png", "image/png", b"\x89PNG first"),
        FilePart("images", "b.jpg", "image/jpeg", b"\xff\xd8 second\r\n--not-a-boundary"),
    ]
    body, content_type = encode_multipart(parts, boundary="XyZ")
    assert content_type == "multipart/form-data; boundary=XyZ"
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    files = [
        (p.get_param("name", header="content-disposition"), p.get_filename(),
         p.get_content_type(), p.get_payload(decode=True))
        for p in message.iter_parts()
    ]  # fmt: skip
    assert files == [(p.field, p.filename, p.content_type, p.data) for p in parts]


@pytest.mark.parametrize(
    ("body", "digit"),
    [
        (b'{"id": "x", "digit": 7, "confidence": 0.99}', 7),
        (b"3. success\n", 3),
        (b"5", 5),
        (b"[8]", 8),
        (b"[1, 2]", None),
        (b"[true]", None),
        (b'{"error": "no digit"}', None),
        (b"failed: not an image\n", None),
    ],
)
def test_load_generator_reads_the_digit_of_every_answer_style(
    body: bytes, digit: int | None
) -> None:
    assert answered_digit(body) == digit
