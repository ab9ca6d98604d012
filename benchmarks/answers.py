"""Reading the digit out of an answer: JSON (the service, the peers) or text (the baseline)."""

from __future__ import annotations

import json


def answered_digit(body: bytes) -> int | None:
    """The digit of an answer, None when it holds none.

    The service answers ``{"digit": 7, ...}``; the BentoML-documentation peers a JSON number
    (``7``) or, batched, a list of one (``[7]``); the original design text (``7. success``).
    """
    text = body.decode(errors="replace").strip()
    if text[:1] in ("{", "["):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else None
        elif isinstance(value, dict):
            value = value.get("digit")
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    head = text.split(".", 1)[0]
    return int(head) if head.isdigit() else None
