"""Reading the digit out of an answer body (JSON from the service, text from the baseline)."""

from __future__ import annotations

import json


def answered_digit(body: bytes) -> int | None:
    """The digit of a JSON answer (``{"digit": 7, ...}``) or a text one (``7. success``)."""
    text = body.decode(errors="replace").strip()
    if text.startswith("{"):
        try:
            return int(json.loads(text)["digit"])
        except (ValueError, KeyError, TypeError):
            return None
    head = text.split(".", 1)[0]
    return int(head) if head.isdigit() else None
