"""Apache Cassandra as the system of record, behind the :class:`PredictionStore` interface.

Writes go to all tables of a record concurrently (bounded in flight) and return once Cassandra
acknowledged them at the configured consistency. When Cassandra is unreachable, slow or
failing, the record goes to the durable spool instead and a background replayer writes it
later; every statement is an idempotent upsert keyed by the client-generated id, so a replay
never duplicates. The store connects in the background: a service starts (and spools) while
Cassandra is still down.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from cassandra.cluster import Cluster, ResponseFuture, Session
from cassandra.query import BatchStatement, BatchType, PreparedStatement, Statement
from tenacity import RetryCallState, Retrying, wait_exponential

from settings import Settings
from storage.base import PredictionStore, StoreError
from storage.cassandra_config import build_cluster, parse_store_url
from storage.cassandra_metrics import StoreMetrics, store_metrics
from storage.cassandra_queries import (
    HistoryCursor,
    bucket_of,
    prepare_all,
    record_values,
    row_to_record,
)
from storage.records import DayStats, Page, PredictionRecord, utc_now
from storage.spool import Replayer, Spool

log = logging.getLogger("storage.cassandra")
_MAX_CONNECT_BACKOFF_S = 10.0
_SPOOL_LOG_INTERVAL_S = 5.0
# With every node down this long, the driver is rebuilt: it only knows the nodes' old addresses,
# and a node that comes back elsewhere (a Kubernetes pod recreated with a new IP) is found again
# only by resolving the contact points anew.
_RECONNECT_AFTER_S = 20.0
_WATCH_INTERVAL_S = 2.0


class CassandraStore(PredictionStore):
    """Prediction store on a Cassandra cluster, with a durable spool for outages.

    Args:
        settings: ``store_url`` (``cassandra://HOST[,HOST...][:PORT]/KEYSPACE``), the
            ``cassandra_*`` fields, ``spool_dir``, ``spool_max_bytes`` and ``history_ttl_days``.
    """

    name = "cassandra"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.target = parse_store_url(settings.store_url)
        self.history_ttl_s = settings.history_ttl_days * 86_400
        self.metrics: StoreMetrics = store_metrics()
        self.spool = Spool(
            settings.spool_dir, settings.spool_max_bytes, on_corrupt=self.metrics.spool_corrupt.inc
        )
        self._in_flight = threading.BoundedSemaphore(settings.cassandra_max_in_flight)
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._statements: dict[str, PreparedStatement] = {}
        self._known_buckets: set[tuple[date, int]] = set()
        self._last_error = ""
        self._spooled_since_log = 0
        self._last_spool_log = -_SPOOL_LOG_INTERVAL_S
        self._closing = threading.Event()
        self._connected = threading.Event()
        self._replayer = Replayer(
            self.spool, self._replay_one, ready=self._ready_for_replay, on_replayed=self._replayed
        )
        self._connector = threading.Thread(
            target=self._connect_loop, name="cassandra-connect", daemon=True
        )
        self._connector.start()
        self._replayer.start()
        self._update_spool_gauges()

    # --- PredictionStore ------------------------------------------------------------------

    def record(self, record: PredictionRecord) -> None:
        """Write the record to Cassandra, or durably spool it when that fails.

        Raises:
            StoreError: Neither Cassandra nor the spool (full) took the record.
        """
        if not self._connected.is_set():
            self._spool_record(record, self._last_error or "Cassandra not connected")
            return
        started = time.perf_counter()
        try:
            self._write(record)
        except Exception as error:
            self._spool_record(record, f"{type(error).__name__}: {error}")
            return
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        self.metrics.written.inc()

    def record_many(self, records: Sequence[PredictionRecord]) -> None:
        """Write all records concurrently; spool, in one append, those Cassandra did not take.

        All or nothing: when the spool cannot take the rest either, the records Cassandra did
        take are deleted again before the error is raised, so a client told "nothing was
        recorded" can retry without duplicates.

        Raises:
            StoreError: nothing was recorded (the message names any id the undo missed).
        """
        if len(records) == 1:
            self.record(records[0])
            return
        if not self._connected.is_set():
            self._spool_records(records, self._last_error or "Cassandra not connected")
            return
        started = time.perf_counter()
        written, failed, reason = self._write_all(records)
        if failed:
            try:
                self._spool_records(failed, reason)
            except StoreError:
                self._undo(written)
                raise
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        self.metrics.written.inc(len(written))

    def get(self, prediction_id: uuid.UUID) -> PredictionRecord | None:
        """One prediction by id: from Cassandra, or from the spool while it waits there.

        Raises:
            StoreError: Cassandra cannot be read and the spool does not hold the record.
        """
        try:
            row = self._execute("select_prediction", [prediction_id]).one()
        except StoreError:
            spooled = self.spool.find(prediction_id)
            if spooled is None:
                raise
            return spooled
        return row_to_record(row) if row else self.spool.find(prediction_id)

    def recent(self, limit: int, cursor: str | None = None, day: date | None = None) -> Page:
        """Predictions newest first, paged with the driver's paging state.

        Raises:
            ValueError: ``cursor`` is not one this store issued, or ``limit`` < 1.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        position = HistoryCursor.decode(cursor) if cursor else None
        if position is not None:
            day = position.day
        partitions = self._history_partitions(day)
        if position is not None:
            partitions = [p for p in partitions if p <= position.partition]
        paging_state = position.paging_state if position else None
        records: list[PredictionRecord] = []
        for index, partition in enumerate(partitions):
            state = paging_state if position and partition == position.partition else None
            rows, next_state = self._read_partition(partition, limit - len(records), state)
            records.extend(rows)
            if len(records) >= limit:
                if next_state is not None:
                    return Page(records, HistoryCursor(day, partition, next_state).encode())
                if index + 1 < len(partitions):
                    following = partitions[index + 1]
                    return Page(records, HistoryCursor(day, following, None).encode())
                return Page(records, None)
        return Page(records, None)

    def stats(self, day: date) -> DayStats:
        """Predictions per digit and feedback of one UTC day, counted from per-id rows."""
        futures = [
            (digit, self._execute_async("select_digit_stats", [day, digit])) for digit in range(10)
        ]
        counts: dict[int, int] = {}
        feedback = correct = 0
        for digit, future in futures:
            row = self._result(future).one()
            counts[digit] = int(row.predictions)
            feedback += int(row.feedback)
            correct += int(row.correct or 0)
        return DayStats(day=day, counts=counts, feedback=feedback, correct=correct)

    def set_label(self, prediction_id: uuid.UUID, label: int) -> bool:
        """Store a user's label on the prediction and in the stats rows (idempotent).

        Raises:
            ValueError: ``label`` is not a digit.
        """
        if not 0 <= label <= 9:
            raise ValueError("label must be 0-9")
        record = self.get(prediction_id)
        if record is None:
            return False
        if not self._connected.is_set() or self.spool.find(prediction_id) is not None:
            # Still waiting in the spool (or Cassandra is away): spool the labelled record; the
            # replay writes the label with it (inserts never overwrite a label with null).
            self._spool_record(replace(record, label=label), "label for a spooled prediction")
            return True
        day, bucket = record.day, bucket_of(record.created_at)
        correct = 1 if label == record.digit else 0
        futures = [
            self._execute_async("update_label", [label, prediction_id]),
            self._execute_async(
                "update_digit_label", [label, correct, day, record.digit, prediction_id]
            ),
        ]
        ttl_row = self._execute(
            "select_history_ttl", [day, bucket, record.created_at, prediction_id]
        ).one()
        if ttl_row is not None:
            # The label cell must expire with its history row, or it would outlive it.
            futures.append(
                self._execute_async(
                    "update_history_label",
                    [ttl_row.ttl or 0, label, day, bucket, record.created_at, prediction_id],
                )
            )
        for future in futures:
            self._result(future)
        return True

    def health(self) -> dict[str, object]:
        """Connection and spool state for ``/readyz``; ``ok`` False only when writes would fail.

        The spool counts as full when one more record would pass its size limit or when its
        filesystem has less room than one record. ``spool_write_errors`` and
        ``spool_corrupt_lines`` count since this process started; ``spool_quarantined_lines``
        is what the ``*.corrupt`` files beside the spool hold.
        """
        depth, size = self._update_spool_gauges()
        connected = self._connected.is_set()
        hosts_up = self._hosts_up()
        full_reason = self.spool.full_reason()
        state = "connected" if connected and hosts_up else "spooling"
        waiting_for = ""
        if not connected:
            waiting_for = (
                f"Cassandra {','.join(self.target.hosts)}:{self.target.port} "
                f"({self._last_error or 'connecting'}); records are spooled meanwhile"
            )
        elif not hosts_up:
            waiting_for = "a Cassandra node to come back; records are spooled meanwhile"
        return {
            "store": self.name,
            "ok": (connected and hosts_up > 0) or full_reason is None,
            "state": state,
            "waiting_for": waiting_for,
            "keyspace": self.target.keyspace,
            "hosts_up": hosts_up,
            "spool_records": depth,
            "spool_bytes": size,
            "spool_max_bytes": self.spool.max_bytes,
            "spool_free_bytes": self.spool.free_bytes(),
            "spool_full": full_reason is not None,
            "spool_full_reason": full_reason or "",
            "spool_write_errors": self.spool.write_errors,
            "spool_corrupt_lines": self.spool.corrupt_lines,
            "spool_quarantined_lines": self.spool.quarantined_lines(),
            "last_error": self._last_error,
        }

    def close(self) -> None:
        """Stop the background threads, drain the spool one last time, stop the driver.

        The final drain hands this process's spooled records to Cassandra before the process
        goes (a pod's spool may not come back); what Cassandra does not take stays on disk for
        the next process on the same volume.
        """
        self._closing.set()
        self._replayer.stop()
        self._connector.join(timeout=5)
        self._final_drain()
        if self._cluster is not None:
            self._cluster.shutdown()
        self.spool.close()

    def _final_drain(self) -> None:
        if not self._connected.is_set() or not self.spool.depth():
            log.info("closing: %d record(s) left in the spool", self.spool.depth())
            return
        try:
            count = self.spool.drain(self._replay_one)
        except Exception as error:
            log.warning("closing: final spool drain failed (%s); records stay on disk", error)
            return
        self._replayed(count)
        log.info("closing: final drain replayed %d record(s)", count)

    # --- extra API (tests, benchmark, service readiness) ------------------------------------

    def wait_until_connected(self, timeout: float) -> bool:
        """Block until the store has a Cassandra session (True) or ``timeout`` passed."""
        return self._connected.wait(timeout)

    def drain_spool(self) -> int:
        """Replay the spool now (normally the background replayer does); returns the count."""
        count = self.spool.drain(self._replay_one)
        self._replayed(count)
        return count

    # --- writing ----------------------------------------------------------------------------

    def _write(self, record: PredictionRecord) -> None:
        """Write all rows of a record; raise unless every one is acknowledged."""
        self._result(self._submit_write(record))
        self._wrote(record)

    def _wrote(self, record: PredictionRecord) -> None:
        """Remember the history slice as indexed once a record's rows are written."""
        if len(self._known_buckets) > 1000:  # a week of slices; older ones are never written
            self._known_buckets.clear()
        self._known_buckets.add((record.day, bucket_of(record.created_at)))

    def _submit_write(self, record: PredictionRecord) -> ResponseFuture:
        """Send all rows of a record as one request; the future says whether they were taken."""
        day, bucket = record.day, bucket_of(record.created_at)
        values = record_values(record)
        writes: list[tuple[str, list[Any]]] = [
            ("insert_prediction", values),
            ("insert_by_day", [day, bucket, *values, self.history_ttl_s]),
            ("insert_by_digit", [day, record.digit, record.id]),
        ]
        if record.label is not None:  # a labelled record replayed from the spool
            correct = 1 if record.label == record.digit else 0
            writes.append(
                ("update_digit_label", [record.label, correct, day, record.digit, record.id])
            )
        if (day, bucket) not in self._known_buckets:
            index_ttl = self.history_ttl_s + 86_400 if self.history_ttl_s else 0
            writes.append(("insert_bucket", [day.year, day, bucket, index_ttl]))
        # One unlogged batch: one request (a third of the driver's CPU per record) for rows in
        # different partitions; atomicity is not needed because every write is idempotent and a
        # failed batch is spooled and replayed whole.
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for name, params in writes:
            batch.add(self._statement(name), params)
        batch.is_idempotent = True
        return self._submit(batch, None)

    def _write_all(
        self, records: Sequence[PredictionRecord]
    ) -> tuple[list[PredictionRecord], list[PredictionRecord], str]:
        """Write records concurrently: (written, failed, the first failure's reason)."""
        futures: list[ResponseFuture | str] = []
        for record in records:
            try:
                futures.append(self._submit_write(record))
            except Exception as error:
                futures.append(f"{type(error).__name__}: {error}")
        outcomes = [
            self._outcome(record, future) for record, future in zip(records, futures, strict=True)
        ]
        written = [r for r, error in zip(records, outcomes, strict=True) if error is None]
        failed = [r for r, error in zip(records, outcomes, strict=True) if error is not None]
        reason = next((error for error in outcomes if error is not None), "")
        return written, failed, reason

    def _outcome(self, record: PredictionRecord, future: ResponseFuture | str) -> str | None:
        """None once the record's write is acknowledged, else why it failed."""
        if isinstance(future, str):
            return future
        try:
            self._result(future)
        except StoreError as error:
            return str(error)
        self._wrote(record)
        return None

    def _undo(self, records: Sequence[PredictionRecord]) -> None:
        """Delete records written by a batch that could not be recorded whole."""
        left = []
        for record in records:
            values: list[tuple[str, list[Any]]] = [
                ("delete_prediction", [record.id]),
                ("delete_by_day", [record.day, bucket_of(record.created_at), record.created_at,
                                   record.id]),
                ("delete_by_digit", [record.day, record.digit, record.id]),
            ]  # fmt: skip
            try:
                for future in [self._execute_async(name, params) for name, params in values]:
                    self._result(future)
            except StoreError:
                left.append(str(record.id))
        if left:
            log.error("BATCH PARTLY RECORDED: could not undo %s", ", ".join(left))
            raise StoreError(f"batch partly recorded; these ids remain: {', '.join(left)}")
        log.warning("batch of %d undone: the rest could not be recorded", len(records))

    def _replay_one(self, record: PredictionRecord) -> None:
        if not self._connected.is_set():
            raise StoreError("Cassandra not connected")
        self._write(record)

    def _spool_record(self, record: PredictionRecord, reason: str) -> None:
        self._spool_records([record], reason)

    def _spool_records(self, records: Sequence[PredictionRecord], reason: str) -> None:
        """Spool records in one append (all or none); raise StoreError if it refuses them."""
        record = records[0]
        try:
            self.spool.append_many(records)
        except StoreError as error:  # spool full, or the disk refused the write
            self.metrics.failed.inc()
            self._update_spool_gauges()
            log.error("RECORD REFUSED: %s (Cassandra: %s)", error, reason)
            raise StoreError(str(error)) from error
        self.metrics.spooled.inc(len(records))
        self._last_error = reason
        depth, _ = self._update_spool_gauges()
        self._spooled_since_log += len(records)
        now = time.monotonic()
        # One log line per interval, not one per record, during an outage.
        if now - self._last_spool_log >= _SPOOL_LOG_INTERVAL_S:
            log.warning(
                "%d record(s) spooled (e.g. %s), %d waiting: %s",
                self._spooled_since_log,
                record.id,
                depth,
                reason,
            )
            self._spooled_since_log = 0
            self._last_spool_log = now

    def _replayed(self, count: int) -> None:
        if count:
            self.metrics.replayed.inc(count)
            log.info("replayed %d spooled record(s) into Cassandra", count)
        self._update_spool_gauges()

    def _ready_for_replay(self) -> bool:
        self._update_spool_gauges()
        return self._connected.is_set() and self._hosts_up() > 0

    def _update_spool_gauges(self) -> tuple[int, int]:
        depth, size = self.spool.depth(), self.spool.size_bytes()
        self.metrics.spool_depth.set(depth)
        self.metrics.spool_bytes.set(size)
        return depth, size

    # --- reading ----------------------------------------------------------------------------

    def _history_partitions(self, day: date | None) -> list[tuple[date, int]]:
        """Non-empty (day, bucket) history partitions, newest first."""
        if day is not None:
            rows = self._execute("select_buckets_of_day", [day.year, day])
            return sorted(((row.day.date(), row.bucket) for row in rows), reverse=True)
        partitions: list[tuple[date, int]] = []
        this_year = utc_now().year
        years_back = max(1, -(-self.settings.history_ttl_days // 365)) if self.history_ttl_s else 5
        for year in range(this_year, this_year - years_back - 1, -1):
            rows = self._execute("select_buckets_of_year", [year])
            partitions.extend((row.day.date(), row.bucket) for row in rows)
        return sorted(partitions, reverse=True)

    def _read_partition(
        self, partition: tuple[date, int], limit: int, paging_state: bytes | None
    ) -> tuple[list[PredictionRecord], bytes | None]:
        bound = self._statement("select_page").bind(list(partition))
        bound.fetch_size = limit
        result = self._result(
            self._session_or_raise().execute_async(bound, paging_state=paging_state)
        )
        return [row_to_record(row) for row in result.current_rows], result.paging_state

    # --- driver plumbing --------------------------------------------------------------------

    def _statement(self, name: str) -> PreparedStatement:
        self._session_or_raise()
        return self._statements[name]

    def _session_or_raise(self) -> Session:
        if self._session is None:
            raise StoreError(f"Cassandra not connected ({self._last_error or 'connecting'})")
        return self._session

    def _execute(self, name: str, params: list[Any]) -> Any:
        return self._result(self._execute_async(name, params))

    def _execute_async(self, name: str, params: list[Any]) -> ResponseFuture:
        return self._submit(self._statement(name), params)

    def _submit(self, statement: Statement, params: list[Any] | None) -> ResponseFuture:
        session = self._session_or_raise()
        if not self._in_flight.acquire(timeout=self.settings.cassandra_timeout_s):
            raise StoreError("too many Cassandra requests in flight")
        try:
            future = session.execute_async(statement, params)
        except Exception as error:
            self._in_flight.release()
            raise StoreError(f"Cassandra: {type(error).__name__}: {error}") from error
        future.add_callbacks(self._release, self._release)
        return future

    def _release(self, _result: object) -> None:
        self._in_flight.release()

    @staticmethod
    def _result(future: ResponseFuture) -> Any:
        """The result of a request; driver failures become :class:`StoreError`."""
        try:
            return future.result()
        except Exception as error:  # timeouts, unavailable, no host, lost connection
            raise StoreError(f"Cassandra: {type(error).__name__}: {error}") from error

    def _hosts_up(self) -> int:
        cluster = self._cluster
        if cluster is None:
            return 0
        return sum(1 for host in cluster.metadata.all_hosts() if host.is_up)

    def _connect_loop(self) -> None:
        """Until closing: connect (with backoff), then watch that some node stays up."""
        while not self._closing.is_set():
            self._connect_with_backoff()
            self._watch_hosts()

    def _watch_hosts(self) -> None:
        """Return when closing, or once no node was up for _RECONNECT_AFTER_S (driver dropped)."""
        down_since: float | None = None
        while not self._closing.wait(_WATCH_INTERVAL_S):
            if self._hosts_up() > 0:
                down_since = None
                continue
            now = time.monotonic()
            down_since = now if down_since is None else down_since
            if now - down_since >= _RECONNECT_AFTER_S:
                log.warning(
                    "no Cassandra node up for %.0f s: reconnecting to %s (names resolved anew); "
                    "spooling meanwhile",
                    now - down_since,
                    ",".join(self.target.hosts),
                )
                self._disconnect()
                return

    def _disconnect(self) -> None:
        """Drop the driver; writes spool until the next connection."""
        self._connected.clear()
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            cluster.shutdown()

    def _connect_with_backoff(self) -> None:
        """Connect, retrying with backoff (0.5 s doubling to 10 s) until connected or closing.

        Every failure is retried, whatever it is: host names that do not resolve yet (a
        Kubernetes pod started before its database's DNS record exists), refused connections,
        authentication, a keyspace not created yet. Returns connected, or when closing.
        """
        if self._closing.is_set():
            return
        retrying = Retrying(
            stop=lambda _state: self._closing.is_set(),
            wait=wait_exponential(multiplier=0.5, max=_MAX_CONNECT_BACKOFF_S),
            sleep=self._pause,
            before_sleep=self._connect_failed,
            reraise=True,
        )
        try:
            retrying(self._connect_once)
        except Exception:  # closing while the last attempt failed
            return
        log.info(
            "connected to Cassandra %s keyspace %s (consistency %s) after %d attempt(s)",
            ",".join(self.target.hosts),
            self.target.keyspace,
            self.settings.cassandra_consistency,
            retrying.statistics["attempt_number"],
        )
        self._replayer.wake()

    def _pause(self, seconds: float) -> None:
        """Sleep between connection attempts; closing cuts it short."""
        self._closing.wait(seconds)

    def _connect_failed(self, state: RetryCallState) -> None:
        """Keep the failure for ``/readyz``; log the first and every tenth."""
        error = state.outcome.exception() if state.outcome else None
        self._last_error = f"{type(error).__name__}: {error}"
        if state.attempt_number == 1 or state.attempt_number % 10 == 0:
            log.warning(
                "Cassandra %s not reachable (attempt %d): %s; spooling meanwhile. "
                "Is the keyspace created (python -m storage.migrate)?",
                ",".join(self.target.hosts),
                state.attempt_number,
                self._last_error,
            )

    def _connect_once(self) -> None:
        """Build the driver, connect and prepare the statements, or raise and leave nothing."""
        cluster = build_cluster(self.settings, self.target)
        try:
            session = cluster.connect()
            statements = prepare_all(session, self.target.keyspace)
        except BaseException:
            cluster.shutdown()
            raise
        self._cluster, self._session, self._statements = cluster, session, statements
        self._last_error = ""
        self._connected.set()
