"""``Idempotency-Key``: a retried upload gets the same prediction ids and the same answer.

A client that lost a response (a timeout, a dropped connection) cannot know whether its upload
was recorded. Sent with an ``Idempotency-Key`` header, a retry of the same request is answered
from what was recorded the first time instead of becoming a second prediction:

- the ids of a keyed request are derived from the key (UUID 5 of route, key and image index),
  so every replica and every retry computes the same ids and the store's upserts stay single;
- before predicting, the service looks those ids up: all recorded with the same images -> the
  recorded answer again (``Idempotent-Replayed: true``); recorded with other images -> 422 (a
  key is for one request); some recorded, or the same key in flight in this process -> 409.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from serving.errors import Refused
from storage.records import PredictionRecord

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: Ids of keyed requests live in their own UUID 5 namespace.
NAMESPACE = uuid.UUID("5f0c3c1e-8a3e-4d7e-9a55-3b4f4d1c2a10")
#: Longest key, and the characters a key may have (printable ASCII, as the OpenAPI schema says).
MAX_KEY_LENGTH = 255
KEY_PATTERN = "^[ -~]+$"
_KEY = re.compile(KEY_PATTERN)


class KeyRefused(Refused):
    """The key cannot be honoured: answer ``status`` with ``message``."""


def parse_key(raw: str | None) -> str | None:
    """The header's key, or None without one.

    Raises:
        KeyRefused: 400 for an empty, over-long (> 255) or non-printable key.
    """
    if raw is None:
        return None
    if not (len(raw) <= MAX_KEY_LENGTH and _KEY.fullmatch(raw)):
        raise KeyRefused(400, "Idempotency-Key must be 1-255 printable ASCII characters")
    return raw


def keyed_ids(key: str, route: str, count: int) -> list[uuid.UUID]:
    """The prediction ids of a keyed request: the same for every retry, on every replica."""
    return [uuid.uuid5(NAMESPACE, f"{route}\n{key}\n{index}") for index in range(count)]


def match(
    found: Sequence[PredictionRecord | None], sha256s: Sequence[str]
) -> list[PredictionRecord] | None:
    """The records to answer a keyed request with again, or None when it is new.

    Raises:
        KeyRefused: 422 when the key was used for other images, 409 when only some are stored.
    """
    present = [record for record in found if record is not None]
    if not present:
        return None
    if len(present) < len(found):
        raise KeyRefused(409, "this Idempotency-Key's request is only partly recorded; retry")
    if [record.image_sha256 for record in present] != list(sha256s):
        raise KeyRefused(422, "this Idempotency-Key was used for a different request")
    return present


class InFlight:
    """Keys being processed by this process: a concurrent duplicate gets 409, not a race."""

    def __init__(self) -> None:
        self._keys: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, route: str, key: str | None) -> Iterator[None]:
        """Hold ``key`` for the request's duration (no-op without a key).

        Raises:
            KeyRefused: 409 when the same key is already being processed here.
        """
        if key is None:
            yield
            return
        with self._lock:
            if (route, key) in self._keys:
                raise KeyRefused(409, "a request with this Idempotency-Key is in progress")
            self._keys.add((route, key))
        try:
            yield
        finally:
            with self._lock:
                self._keys.discard((route, key))
