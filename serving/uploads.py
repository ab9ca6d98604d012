"""From an uploaded file to the normalised digit: decode, normalise, fingerprint."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imaging.decode import ImageRejected
from imaging.normalize import BlankImage
from imaging.pipeline import PREPROCESSING_VERSION, preprocess_bytes

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
MAX_FILENAME = 120


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file as received: bytes plus what the client said about them."""

    data: bytes
    filename: str | None
    content_type: str | None
    #: SHA-256 of ``data``, hex: computed once, for the record and for Idempotency-Key checks.
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An upload turned into model input, with its provenance."""

    upload: Upload
    pixels: np.ndarray  # uint8 [28, 28], MNIST polarity
    sha256: str
    preprocessing: str = PREPROCESSING_VERSION


def read_upload(path: Path, filename: str | None, content_type: str | None, limit: int) -> Upload:
    """Read a spooled multipart file, refusing it (413) if it is over ``limit`` bytes."""
    size = path.stat().st_size
    if size > limit:
        raise ImageRejected(413, f"file too large: {size} bytes (limit {limit} bytes)")
    return Upload(path.read_bytes(), sanitize_filename(filename), content_type)


def prepare(
    upload: Upload, max_pixels: int, max_decoded_pixels: int | None = None
) -> PreparedImage:
    """Decode and normalise one upload (limits: see :func:`imaging.decode.decode_image`).

    Raises:
        ImageRejected: the bytes are not an acceptable image (400/413/415), or hold no digit
            (422).
    """
    try:
        normalized = preprocess_bytes(
            upload.data, max_pixels, upload.content_type, max_decoded_pixels=max_decoded_pixels
        )
    except BlankImage as exc:
        raise ImageRejected(422, str(exc)) from exc
    return PreparedImage(upload, normalized.pixels, upload.sha256)


def sanitize_filename(name: str | None) -> str | None:
    """A printable base name safe to store and show, or None.

    Drops any directory part, control and non-ASCII characters, and caps the length.
    """
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).strip(" .")
    return cleaned[:MAX_FILENAME] or None
