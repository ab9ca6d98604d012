"""Through HTTP into Cassandra: N accepted uploads are exactly N predictions, checked with CQL."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from devtools.cassandra.node import LocalCluster
from devtools.waiting import wait_until
from tests.storage.helpers import cql_session
from tests.support.server import running_service

pytestmark = [pytest.mark.cassandra, pytest.mark.integration, pytest.mark.slow]

UPLOADS = 60


def test_n_uploads_through_http_are_exactly_n_rows_in_cassandra(
    cassandra_node: LocalCluster,
    fresh_keyspace: str,
    service_env: dict[str, str],
    digit_png: dict[int, bytes],
    tmp_path: Path,
) -> None:
    spool = Path(service_env["DIGITS_SPOOL_DIR"])
    with (
        running_service(service_env, tmp_path) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):

        def upload(number: int) -> uuid.UUID:
            png = digit_png[number % 10]
            response = http.post("/predict", files={"image": (f"{number}.png", png, "image/png")})
            assert response.status_code == 200, response.text
            return uuid.UUID(response.json()["id"])

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(upload, range(UPLOADS)))
        # Anything that had to be spooled is replayed before the service goes away.
        wait_until(lambda: not list(spool.glob("*.jsonl")), 60, "an empty spool")

    with cql_session(cassandra_node.contact_points, fresh_keyspace) as cql:
        stored = [row.id for row in cql.execute("SELECT id FROM predictions")]
        per_digit = list(cql.execute("SELECT id FROM predictions_by_digit"))
    assert len(stored) == UPLOADS
    assert set(stored) == set(ids)
    assert len(per_digit) == UPLOADS
