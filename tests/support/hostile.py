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
