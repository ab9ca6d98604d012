"""A real ``bentoml serve`` of the service with an SQLite store in a temp dir, for the session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.server import serving


@dataclass(frozen=True)
class Served:
    """A running service and where it records."""

    url: str
    db: Path
    workdir: Path

    def client(self) -> httpx.Client:
        """An HTTP client bound to the service."""
        return httpx.Client(base_url=self.url, timeout=60)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The service on a free port, recording into a fresh SQLite file.

    With ``DIGITS_TEST_IMAGE`` set, the service image as it ships runs instead of ``bentoml
    serve`` (tests/deployment/test_image_contract.py).
    """
    workdir = tmp_path_factory.mktemp("service")
    db = workdir / "predictions.db"
    env = {
        "DIGITS_STORE_URL": f"sqlite:///{db}",
        "DIGITS_SPOOL_DIR": str(workdir / "spool"),
        "DIGITS_MAX_UPLOAD_BYTES": str(16 * 1024 * 1024),
    }
    with serving(env, workdir) as url:  # the shipped image instead with DIGITS_TEST_IMAGE
        yield Served(url, db, workdir)


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    """A fresh HTTP client for one test."""
    with served.client() as http:
        yield http
