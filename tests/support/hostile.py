"""Byte-level builders for hostile uploads (no huge buffers are ever allocated)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels of 8-bit gray."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 8, 9)  # a few rows; the rest never comes
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """Encode a PIL image to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def truncated_png() -> bytes:
    """A valid PNG cut in half."""
    noise = np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "PNG")
    return data[: len(data) // 2]


def animated_gif() -> bytes:
    """A two-frame GIF."""
    frames = [Image.new("L", (32, 32), 0), Image.new("L", (32, 32), 255)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def tiff_16bit() -> bytes:
    """A 16-bit grayscale TIFF."""
    array = np.full((32, 32), 40000, dtype=np.uint16)
    return encode(Image.fromarray(array), "TIFF")


def cmyk_jpeg() -> bytes:
    """A CMYK JPEG."""
    return encode(Image.new("CMYK", (32, 32), (0, 0, 0, 255)), "JPEG")


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"></svg>'


def exif_block(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """A big-endian EXIF block (``Exif\\0\\0`` + TIFF) of one IFD of raw (tag, type, count, value).

    Each value is the entry's 4 raw bytes, so a tag can carry a type it must not have.
    """
    ifd = struct.pack(">H", len(entries))
    ifd += b"".join(
        struct.pack(">HHI", tag, kind, count) + value for tag, kind, count, value in entries
    )
    return b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + ifd + b"\x00\x00\x00\x00"


_ORIENTATION_6 = (0x0112, 3, 1, b"\x00\x06\x00\x00")  # SHORT 6: turn 90 degrees
#: EXIF blocks on which Pillow's exif_transpose raises (it rewrites the EXIF of the result).
CORRUPT_EXIF = {
    # PageNumber must be SHORT; as text, re-packing it fails with struct.error
    "short-tag-as-text": exif_block([_ORIENTATION_6, (0x0129, 2, 4, b"ab\x00\x00")]),
    # XResolution must be RATIONAL; as text, re-packing it fails with TypeError
    "rational-tag-as-text": exif_block([_ORIENTATION_6, (0x011A, 2, 4, b"ab\x00\x00")]),
}


def jpeg_with_exif(exif: bytes, size: tuple[int, int] = (40, 30)) -> bytes:
    """A white JPEG of ``size`` carrying the raw EXIF block ``exif``."""
    return encode(Image.new("RGB", size, "white"), "JPEG", exif=exif)
