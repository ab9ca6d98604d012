"""Small helpers shared by the storage tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import WhiteListRoundRobinPolicy

from devtools.waiting import wait_until


def at(day: str, hour: int = 12, minute: int = 0, second: int = 0, ms: int = 0) -> datetime:
    """A UTC moment on a ``YYYY-MM-DD`` day."""
    base = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return base.replace(hour=hour, minute=minute, second=second, microsecond=ms * 1000)


@contextlib.contextmanager
def cql_session(
    hosts: list[str], keyspace: str | None = None, login: tuple[str, str] | None = None
) -> Iterator[Session]:
    """A plain driver session, as any CQL client would open it (the checker, not the store)."""
    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy(hosts), request_timeout=30
    )
    cluster = Cluster(
        hosts,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        auth_provider=PlainTextAuthProvider(*login) if login else None,
    )
    try:
        yield cluster.connect(keyspace)
    finally:
        cluster.shutdown()


class UploadStream:
    """A thread uploading MNIST digits to ``POST /predict`` one after another until stopped.

    Every 200 answer's id lands in ``accepted``; anything else (status or exception) in
    ``failures``.
    """

    def __init__(self, url: str, pngs: dict[int, bytes]) -> None:
        self.url = url
        self.pngs = pngs
        self.accepted: list[uuid.UUID] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="upload-stream")

    def __enter__(self) -> UploadStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(120)

    def wait_for(self, count: int, timeout: float = 120) -> None:
        """Wait until ``count`` uploads in total were accepted."""
        wait_until(lambda: len(self.accepted) >= count, timeout, f"{count} accepted uploads")

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            number = 0
            while not self._stop.is_set():
                digit = number % 10
                number += 1
                files = {"image": (f"{digit}.png", self.pngs[digit], "image/png")}
                try:
                    response = http.post("/predict", files=files)
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                    continue
                if response.status_code == 200:
                    self.accepted.append(uuid.UUID(response.json()["id"]))
                else:
                    self.failures.append(f"{response.status_code}: {response.text[:200]}")
