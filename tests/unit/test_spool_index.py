"""Looking a spooled record up reads its one line, not the spool: the id -> offset index."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

from storage import spool_index
from storage.spool import Spool
from storage.spool_index import complete_lines, record_id_of
from tests.support.records import make_record

MAX = 100_000_000


def line_bytes(spool: Spool, record_id: uuid.UUID) -> int:
    """Bytes a successful find of ``record_id`` should read: exactly its line."""
    record = spool.find(record_id)
    assert record is not None
    return len(record.to_json()) + 1


def test_a_record_of_this_process_is_found_reading_only_its_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path, MAX)
    records = [make_record(d % 10) for d in range(50)]
    for record in records:
        spool.append(record)

    before = spool.index.bytes_read
    assert spool.find(records[17].id) == records[17]

    assert spool.index.bytes_read - before == len(records[17].to_json()) + 1


def test_a_record_of_another_process_is_found_and_its_segment_read_only_once(
    tmp_path: Path,
) -> None:
    other = Spool(tmp_path, MAX)  # another writer: its own, locked segment
    records = [make_record() for _ in range(20)]
    for record in records:
        other.append(record)
    spool = Spool(tmp_path, MAX)
    segment_size = sum(path.stat().st_size for path in tmp_path.glob("*.jsonl"))

    assert spool.find(records[3].id) == records[3]
    first = spool.index.bytes_read
    assert spool.find(records[11].id) == records[11]

    assert first == segment_size + len(records[3].to_json()) + 1
    assert spool.index.bytes_read - first == len(records[11].to_json()) + 1


def test_lines_another_process_appends_later_are_read_incrementally(tmp_path: Path) -> None:
    other = Spool(tmp_path, MAX)
    spool = Spool(tmp_path, MAX)
    other.append(make_record())
    assert spool.find(uuid.uuid4()) is None
    read = spool.index.bytes_read
    late = make_record(3)
    other.append(late)

    assert spool.find(late.id) == late
    # The one new line (plus the newline before it, checked) and then the line itself.
    assert spool.index.bytes_read - read == 2 * (len(late.to_json()) + 1) + 1


def test_an_unknown_id_in_a_large_spool_reads_nothing_more(tmp_path: Path) -> None:
    writer = Spool(tmp_path, MAX)
    for number in range(3000):  # about 4.5 MB in two segments of two processes
        writer.append(make_record(number % 10))
    other = Spool(tmp_path, MAX)
    for number in range(3000):
        other.append(make_record(number % 10))
    spool_size = sum(path.stat().st_size for path in tmp_path.glob("*.jsonl"))

    assert writer.find(uuid.uuid4()) is None  # reads the other's segment once
    assert writer.index.bytes_read < spool_size / 2 + 10
    read = writer.index.bytes_read
    for _ in range(3):  # a feedback call looks three times
        assert writer.find(uuid.uuid4()) is None

    assert writer.index.bytes_read == read
    assert len(writer.index) == 6000


def test_drained_segments_drop_out_of_the_index(tmp_path: Path) -> None:
    spool = Spool(tmp_path, MAX)
    records = [make_record() for _ in range(5)]
    for record in records:
        spool.append(record)
    other = Spool(tmp_path, MAX)
    theirs = make_record()
    other.append(theirs)
    assert spool.find(theirs.id) == theirs
    other.close()

    replayed = []
    assert Spool(tmp_path, MAX).drain(replayed.append) == 1  # theirs; ours is locked by `spool`
    assert spool.drain(replayed.append) == 5

    assert all(spool.find(record.id) is None for record in [*records, theirs])
    assert len(spool.index) == 0


def test_a_segment_drained_by_another_process_drops_out_of_the_index(tmp_path: Path) -> None:
    writer = Spool(tmp_path, MAX)
    record = make_record()
    writer.append(record)
    writer.close()
    spool = Spool(tmp_path, MAX)
    assert spool.find(record.id) == record

    Spool(tmp_path, MAX).drain(lambda r: None)

    assert spool.find(record.id) is None
    assert len(spool.index) == 0


def test_the_newest_copy_wins_and_an_older_one_stays_findable_when_the_newest_is_drained(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, MAX)
    original = make_record(4)
    spool.append(original)
    other = Spool(tmp_path, MAX)  # another process spools the labelled copy
    labelled = make_record(4, id=original.id, label=9)
    other.append(labelled)
    other.close()
    assert spool.find(original.id) == labelled

    replayed = []
    assert Spool(tmp_path, MAX).drain(replayed.append) == 1  # only the other's segment

    assert replayed == [labelled]
    assert spool.find(original.id) == original


def test_a_segment_rewritten_under_the_index_is_read_afresh(tmp_path: Path) -> None:
    other = Spool(tmp_path, MAX)
    kept, dropped = make_record(1), make_record(2)
    other.append(kept)
    other.append(dropped)
    spool = Spool(tmp_path, MAX)
    assert spool.find(dropped.id) == dropped
    segment = next(tmp_path.glob("*.jsonl"))
    replacement = make_record(3, filename="a-longer-name.png")  # a longer line, same offset
    with open(segment, "r+b") as handle:
        handle.truncate(len(kept.to_json()) + 1)
        handle.seek(0, 2)
        handle.write((replacement.to_json() + "\n").encode())

    assert spool.find(dropped.id) is None
    assert spool.find(replacement.id) == replacement
    assert spool.find(kept.id) == kept


def test_complete_lines_spans_chunks_and_skips_an_unterminated_tail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spool_index, "READ_CHUNK", 7)
    data = b"first line\nsecond\n\nthird is longer than a chunk\ntorn"

    lines = list(complete_lines(io.BytesIO(data), 0, len(data)))

    assert lines == [
        (0, b"first line"),
        (11, b"second"),
        (18, b""),
        (19, b"third is longer than a chunk"),
    ]
    assert list(complete_lines(io.BytesIO(data), 11, 18)) == [(11, b"second")]


def test_record_ids_are_read_from_the_written_layout_or_by_parsing_the_line() -> None:
    record = make_record()
    reordered = b'{"digit": 7, "id": "%s"}' % str(record.id).encode()

    assert record_id_of(record.to_json().encode()) == record.id.int
    assert record_id_of(reordered) == record.id.int
    assert record_id_of(b'{"id":"not-a-uuid"') is None
    assert record_id_of(b"garbage") is None
