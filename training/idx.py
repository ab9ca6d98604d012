"""Reader for the IDX format of the official MNIST distribution (plain or gzip-compressed).

An IDX file is: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per
dimension, then the values in row-major order, big-endian.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> numpy dtype (big-endian where it matters).
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxError(ValueError):
    """The bytes are not a well-formed IDX file."""


def parse_idx(raw: bytes) -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file.

    Args:
        raw: The whole file content.

    Returns:
        The array with the shape written in the header, in native byte order.

    Raises:
        IdxError: On a bad magic number, an unknown type code or a size that does not match the
            header.
    """
    if len(raw) < 4 or raw[0:2] != b"\x00\x00":
        raise IdxError("not an IDX file: the first two bytes must be zero")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise IdxError(f"unknown IDX type code 0x{type_code:02x}")
    if ndim == 0:
        raise IdxError("IDX header declares zero dimensions")
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise IdxError("IDX file ends inside its header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(dims)) * dtype.itemsize
    body = memoryview(raw)[header_end:]
    if len(body) != expected:
        raise IdxError(f"IDX body has {len(body)} bytes, header {dims} of {dtype} needs {expected}")
    values = np.frombuffer(body, dtype=dtype).reshape(dims)
    return values.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, transparently gunzipping it when it is compressed.

    Args:
        path: The file; compression is detected from its content, not its name.

    Returns:
        The decoded array.

    Raises:
        IdxError: When the content is not a valid IDX file.
    """
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise IdxError(f"{path}: broken gzip stream ({exc})") from exc
    try:
        return parse_idx(raw)
    except IdxError as exc:
        raise IdxError(f"{path}: {exc}") from exc


def write_idx(path: Path, values: np.ndarray) -> None:
    """Write an array as an IDX file (gzip-compressed when the name ends in ``.gz``).

    Used by the tests and handy for exporting data sets in the official format.

    Args:
        path: Destination file.
        values: Array of one of the IDX value types.

    Raises:
        IdxError: When the array's dtype has no IDX type code.
    """
    codes = {dtype.newbyteorder("="): code for code, dtype in _IDX_TYPES.items()}
    native = values.dtype.newbyteorder("=")
    if native not in codes:
        raise IdxError(f"dtype {values.dtype} has no IDX type code")
    code = codes[native]
    header = bytes([0, 0, code, values.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in values.shape
    )
    body = np.ascontiguousarray(values, dtype=_IDX_TYPES[code]).tobytes()
    data = header + body
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
