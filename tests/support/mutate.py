"""Seeded, deterministic mutation of image files, for fuzzing the decoder and the upload path.

:func:`seed_images` draws a digit and encodes it as PNG, JPEG (with an EXIF block carrying an
Orientation tag), GIF, WebP and BMP. :func:`mutants` turns each seed into many broken variants:
bit flips, byte insertions and deletions, truncation, duplicated chunks or segments, corrupted
length and size fields, and corrupted EXIF fields. The same ``seed`` always gives the same bytes.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image

from tests.support.drawing import draw_digit

#: Mutants per seed image by default: 5 seeds x 1,100 = 5,500 files.
PER_SEED = 1100
EXIF_ORIENTATION = 0x0112
#: Values that break parsers: zero, one, sign and width boundaries.
INTERESTING = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)
_JPEG_STANDALONE = {0xD8, 0xD9, 0x01, *range(0xD0, 0xD8)}


@dataclass(frozen=True, slots=True)
class Field:
    """An integer field inside a file: where, how wide, which byte order."""

    offset: int
    size: int  # 1, 2 or 4 bytes
    endian: str  # ">" or "<"


@dataclass(frozen=True, slots=True)
class Mutant:
    """One mutated file and how it was made (``png-0042-truncate``)."""

    name: str
    data: bytes
    content_type: str


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    exif[0x010F] = "Fuzz Camera"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif[0x011A] = 72.0  # XResolution (RATIONAL)
    exif.get_ifd(0x8769)[0x9003] = "2024:01:02 03:04:05"  # DateTimeOriginal, in the Exif IFD
    return exif


def seed_images(size: int = 96) -> dict[str, tuple[bytes, str]]:
    """The seed files by format name: (bytes, content type). JPEG, PNG and WebP carry EXIF."""
    gray = draw_digit(7, size=size)
    rgb = gray.convert("RGB")
    exif = _exif().tobytes()
    seeds = {
        "png": (rgb, "PNG", {"exif": exif}),
        "jpeg": (rgb, "JPEG", {"exif": exif, "quality": 90}),
        "gif": (gray.convert("P"), "GIF", {}),
        "webp": (rgb, "WEBP", {"exif": exif, "quality": 80}),
        "bmp": (gray, "BMP", {}),
    }
    return {
        name: (_encode(image, fmt, options), f"image/{name}")
        for name, (image, fmt, options) in seeds.items()
    }


def _encode(image: Image.Image, fmt: str, options: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


# --- structure: chunks/segments and the length fields of each format ----------------------------


def png_chunks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each PNG chunk (length, type, data, CRC) after the signature."""
    spans, pos = [], 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        if end > len(data):
            break
        spans.append((pos, end))
        pos = end
    return spans


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each JPEG marker segment before the entropy-coded scan data."""
    spans, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in _JPEG_STANDALONE:
            spans.append((pos, pos + 2))
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        spans.append((pos, pos + 2 + length))
        if marker == 0xDA:  # start of scan: what follows is entropy-coded
            break
        pos += 2 + length
    return spans


def riff_chunks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each chunk of a RIFF (WebP) file."""
    spans, pos = [], 12
    while pos + 8 <= len(data):
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + size + (size & 1)
        if end > len(data):
            break
        spans.append((pos, end))
        pos = end
    return spans


def gif_blocks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each data sub-block of a GIF (a length byte, then that many bytes)."""
    palette = 3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0
    spans, pos = [], 13 + palette
    while pos < len(data):
        kind = data[pos]
        if kind == 0x21:  # extension: label, then sub-blocks
            pos += 2
        elif kind == 0x2C:  # image descriptor (+ local colour table), LZW code size
            flags = data[pos + 9] if pos + 9 < len(data) else 0
            pos += 11 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
        else:
            break
        while pos < len(data) and data[pos]:
            spans.append((pos, pos + 1 + data[pos]))
            pos += 1 + data[pos]
        pos += 1
    return spans


def length_fields(kind: str, data: bytes) -> list[Field]:
    """The size and length fields of a seed file of format ``kind``."""
    if kind == "png":
        fields = [Field(start, 4, ">") for start, _ in png_chunks(data)]
        return [*fields, Field(16, 4, ">"), Field(20, 4, ">")]  # IHDR width, height
    if kind == "jpeg":
        fields = [Field(start + 2, 2, ">") for start, end in jpeg_segments(data) if end > start + 2]
        sof = data.find(b"\xff\xc0")
        return fields + ([Field(sof + 5, 2, ">"), Field(sof + 7, 2, ">")] if sof > 0 else [])
    if kind == "webp":
        return [Field(4, 4, "<"), *(Field(start + 4, 4, "<") for start, _ in riff_chunks(data))]
    if kind == "gif":
        blocks = [Field(start, 1, "<") for start, _ in gif_blocks(data)]
        return [Field(6, 2, "<"), Field(8, 2, "<"), *blocks]  # logical screen width, height
    # BMP: file size, pixel offset, header size, width, height, planes, bits, compression, ...
    bmp = [(2, 4), (10, 4), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2), (30, 4), (34, 4), (46, 4)]
    return [Field(offset, size, "<") for offset, size in bmp]


def structure(kind: str, data: bytes) -> list[tuple[int, int]]:
    """The chunks, segments or blocks of a seed, for duplication."""
    spans = {"png": png_chunks, "jpeg": jpeg_segments, "webp": riff_chunks, "gif": gif_blocks}
    if kind in spans:
        return spans[kind](data)
    return [(0, 14), (14, 54), (54, len(data))]  # BMP: file header, info header, pixels


def _tiff_header(data: bytes) -> int:
    """Where the EXIF block's TIFF header starts (JPEG APP1, PNG eXIf or WebP EXIF), or -1."""
    found = [at for at in (data.find(b"MM\x00*"), data.find(b"II*\x00")) if at >= 0]
    return min(found, default=-1)


def exif_fields(data: bytes) -> list[Field]:
    """The IFD entry fields (tag, type, count, value) and IFD offsets of the file's EXIF block."""
    tiff = _tiff_header(data)
    if tiff < 0:
        return []
    endian = ">" if data[tiff : tiff + 2] == b"MM" else "<"
    fields = [Field(tiff + 4, 4, endian)]
    ifds = [struct.unpack(endian + "I", data[tiff + 4 : tiff + 8])[0]]
    while ifds and len(fields) < 200:
        ifd = tiff + ifds.pop()
        if ifd + 2 > len(data):
            continue
        (count,) = struct.unpack(endian + "H", data[ifd : ifd + 2])
        fields.append(Field(ifd, 2, endian))
        for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(data) - 12), 12):
            tag = struct.unpack(endian + "H", data[entry : entry + 2])[0]
            fields += [Field(entry, 2, endian), Field(entry + 2, 2, endian)]
            fields += [Field(entry + 4, 4, endian), Field(entry + 8, 4, endian)]
            if tag == 0x8769:  # pointer to the Exif sub-IFD
                ifds.append(struct.unpack(endian + "I", data[entry + 8 : entry + 12])[0])
    return fields


# --- mutators ---------------------------------------------------------------------------------


def bit_flips(data: bytes, rng: random.Random) -> bytes:
    """Flip 1 to 8 random bits."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def byte_insertion(data: bytes, rng: random.Random) -> bytes:
    """Insert 1 to 64 random or repeated bytes somewhere."""
    at = rng.randrange(len(data) + 1)
    count = rng.randint(1, 64)
    filler = bytes([rng.randrange(256)]) * count if rng.random() < 0.5 else rng.randbytes(count)
    return data[:at] + filler + data[at:]


def byte_deletion(data: bytes, rng: random.Random) -> bytes:
    """Delete a run of 1 to 64 bytes."""
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.randint(1, 64) :]


def truncation(data: bytes, rng: random.Random) -> bytes:
    """Cut the file anywhere (often in its headers)."""
    cut = rng.randrange(len(data)) if rng.random() < 0.5 else rng.randrange(min(len(data), 200))
    return data[:cut]


def set_field(data: bytes, field: Field, value: int) -> bytes:
    """``data`` with the integer ``field`` set to ``value`` (wrapped to its width)."""
    if field.offset + field.size > len(data):
        return data
    code = {1: "B", 2: "H", 4: "I"}[field.size]
    packed = struct.pack(field.endian + code, value % (1 << (8 * field.size)))
    return data[: field.offset] + packed + data[field.offset + field.size :]


def _field_value(data: bytes, field: Field, rng: random.Random) -> int:
    if rng.random() < 0.5:
        return rng.choice(INTERESTING)
    if field.offset + field.size > len(data):
        return 0
    code = {1: "B", 2: "H", 4: "I"}[field.size]
    old = struct.unpack(field.endian + code, data[field.offset : field.offset + field.size])[0]
    return old + rng.choice((-2, -1, 1, 2, 16, -16, 1000, -(old // 2), old))


def _with_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC, so a PNG mutation reaches past the CRC check."""
    out = bytearray(data)
    for start, end in png_chunks(data):
        out[end - 4 : end] = struct.pack(">I", zlib.crc32(data[start + 4 : end - 4]))
    return bytes(out)


def _mutator_table(kind: str, seed_data: bytes) -> list[Callable[[bytes, random.Random], bytes]]:
    fields = length_fields(kind, seed_data)
    spans = structure(kind, seed_data)
    exif = exif_fields(seed_data)

    def length_corruption(data: bytes, rng: random.Random) -> bytes:
        return set_field(data, field := rng.choice(fields), _field_value(data, field, rng))

    def chunk_duplication(data: bytes, rng: random.Random) -> bytes:
        start, end = rng.choice(spans)
        at = rng.choice((end, start, rng.randrange(len(data) + 1)))
        return data[:at] + data[start:end] * rng.randint(1, 3) + data[at:]

    def exif_corruption(data: bytes, rng: random.Random) -> bytes:
        if not exif:
            return bit_flips(data, rng)
        for _ in range(rng.randint(1, 3)):
            data = set_field(data, field := rng.choice(exif), _field_value(data, field, rng))
        return data

    return [
        bit_flips,
        byte_insertion,
        byte_deletion,
        truncation,
        chunk_duplication,
        length_corruption,
        exif_corruption,
    ]


def mutants(seed: int = 0, per_seed: int = PER_SEED) -> Iterator[Mutant]:
    """``per_seed`` mutants of each seed image, the same for the same ``seed``.

    Mutators take turns; a third of the time a second one is applied on top. PNG mutants get
    their chunk CRCs fixed half of the time, so that the mutation reaches the chunk parsers.
    """
    for kind, (original, content_type) in seed_images().items():
        table = _mutator_table(kind, original)
        rng = random.Random(f"{seed}:{kind}")
        for index in range(per_seed):
            mutator = table[index % len(table)]
            data = mutator(original, rng)
            names = [mutator.__name__]
            if rng.random() < 1 / 3 and data:
                extra = rng.choice(table)
                data, names = extra(data, rng), [*names, extra.__name__]
            if kind == "png" and rng.random() < 0.5:
                data, names = _with_png_crcs(data), [*names, "crc"]
            yield Mutant(f"{kind}-{index:04d}-{'+'.join(names)}", data, content_type)
