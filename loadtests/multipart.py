"""Build ``multipart/form-data`` request bodies by hand.

Locust's FastHttpUser and the benchmark's load generator both send raw bytes, so the bodies are
encoded once here and reused: the same bytes go to the service and to the baseline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file field of a form."""

    field: str
    filename: str
    content_type: str
    data: bytes


def encode_multipart(parts: list[FilePart], boundary: str | None = None) -> tuple[bytes, str]:
    """Encode file fields as a multipart body.

    Args:
        parts: The file fields, in order (a field name may repeat, as in ``/predict_batch``).
        boundary: Fixed boundary (tests); a random one by default.

    Returns:
        The body and the matching ``Content-Type`` header value.
    """
    boundary = boundary or f"digits-{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for part in parts:
        chunks.append(
            (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="{part.field}"; '
                f'filename="{part.filename}"\r\n'
                f"Content-Type: {part.content_type}\r\n\r\n"
            ).encode()
        )
        chunks.append(part.data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
