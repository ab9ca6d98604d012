"""A spool on a disk that fills up: every record is stored whole or refused with a StoreError.

The spool directory is a real 256 KiB tmpfs (root only), so ``write`` really returns short and
then fails with ENOSPC. No Cassandra is needed: the store points at a closed port and spools
everything.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from settings import Settings
from storage.base import StoreError
from storage.cassandra import CassandraStore
from storage.records import PredictionRecord
from storage.spool import SEGMENT_SUFFIX, Spool, SpoolWriteError
from tests.support.records import make_record
from tests.support.server import running_service

TMPFS_BYTES = 256 * 1024
UNREACHABLE = "cassandra://127.0.0.1:1/digits"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A freshly mounted 256 KiB tmpfs, unmounted afterwards."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], check=False).returncode != 0:
            # Still busy (a failed test left a file open): detach it now, freed once closed.
            subprocess.run(["umount", "--lazy", str(mountpoint)], check=True)


def fill(
    append: Callable[[PredictionRecord], None], refusals: int = 5
) -> tuple[list[uuid.UUID], list[Exception]]:
    """Append records until ``refusals`` in a row were refused; (stored ids, refusal errors)."""
    stored: list[uuid.UUID] = []
    errors: list[Exception] = []
    in_a_row = 0
    for number in range(10_000):
        record = make_record(number % 10)
        try:
            append(record)
        except Exception as error:  # the test checks what it is
            errors.append(error)
            in_a_row += 1
            if in_a_row == refusals:
                break
            continue
        in_a_row = 0
        stored.append(record.id)
    return stored, errors


def spooled_ids(directory: Path) -> list[uuid.UUID]:
    """Ids of every line of every segment; fails on any unparsable or unterminated line."""
    ids = []
    for path in sorted(directory.glob(f"*{SEGMENT_SUFFIX}")):
        content = path.read_bytes()
        assert not content or content.endswith(b"\n"), f"{path.name} ends in a torn line"
        for number, line in enumerate(content.splitlines(), 1):
            try:
                ids.append(PredictionRecord.from_json(line.decode()).id)
            except ValueError as error:
                raise AssertionError(f"{path.name} line {number} is torn: {error}") from None
    return ids


def assert_exactly_once(directory: Path, stored: list[uuid.UUID]) -> None:
    on_disk = spooled_ids(directory)
    assert len(on_disk) == len(set(on_disk)), "a record is spooled twice"
    assert sorted(on_disk) == sorted(stored)


def test_a_spool_on_a_full_disk_keeps_every_record_it_took_whole_and_refuses_the_rest(
    tiny_disk: Path,
) -> None:
    spool = Spool(tiny_disk, max_bytes=64 * 1024 * 1024)  # the disk fills first

    stored, errors = fill(spool.append)

    assert stored, "the disk took some records before it filled"
    assert errors
    assert all(isinstance(error, SpoolWriteError) for error in errors), errors  # disk, not limit
    assert spool.full
    assert spool.free_bytes() < 4096
    spool.close()
    assert_exactly_once(tiny_disk, stored)

    replayed: list[uuid.UUID] = []
    assert Spool(tiny_disk, max_bytes=64 * 1024 * 1024).drain(lambda r: replayed.append(r.id))
    assert sorted(replayed) == sorted(stored)
    assert not list(tiny_disk.glob(f"*{SEGMENT_SUFFIX}.corrupt"))


def test_a_store_without_cassandra_on_a_full_disk_refuses_with_store_errors_only(
    tiny_disk: Path,
) -> None:
    settings = Settings(
        store_url=UNREACHABLE, spool_dir=tiny_disk, spool_max_bytes=64 * 1024 * 1024
    )
    store = CassandraStore(settings)
    try:
        stored, errors = fill(store.record)
        health = store.health()
    finally:
        store.close()

    assert stored
    assert errors
    assert all(isinstance(error, StoreError) for error in errors), errors
    assert health["ok"] is False
    assert health["spool_full"] is True
    assert health["spool_free_bytes"] < 4096
    assert_exactly_once(tiny_disk, stored)


@pytest.mark.integration
@pytest.mark.slow
def test_uploads_to_a_service_whose_spool_disk_fills_get_200_or_503_and_200s_are_all_kept(
    tiny_disk: Path, digit_png: dict[int, bytes], tmp_path: Path
) -> None:
    env = {
        "DIGITS_STORE_URL": UNREACHABLE,
        "DIGITS_SPOOL_DIR": str(tiny_disk),
        "DIGITS_SPOOL_MAX_BYTES": str(64 * 1024 * 1024),
    }
    with running_service(env, tmp_path) as url, httpx.Client(base_url=url, timeout=60) as http:

        def upload(number: int) -> tuple[int, str]:
            files = {"image": (f"{number}.png", digit_png[number % 10], "image/png")}
            response = http.post("/predict", files=files)
            return response.status_code, response.text

        answers: list[tuple[int, str]] = []
        with ThreadPoolExecutor(4) as pool:
            while sum(status == 503 for status, _ in answers[-8:]) < 8 and len(answers) < 400:
                answers += pool.map(upload, range(len(answers), len(answers) + 8))
        readiness = http.get("/readyz")

    statuses = sorted({status for status, _ in answers})
    assert statuses == [200, 503], [answer for answer in answers if answer[0] not in (200, 503)]
    assert readiness.status_code == 503
    storage = readiness.json()["storage"]
    assert storage["spool_full"] is True
    assert storage["spool_free_bytes"] < 4096
    accepted = [uuid.UUID(json.loads(text)["id"]) for status, text in answers if status == 200]
    assert_exactly_once(tiny_disk, accepted)
