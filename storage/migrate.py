"""Apply storage/schema.cql to the Cassandra cluster of the settings, idempotently.

Usage::

    DIGITS_STORE_URL=cassandra://127.0.0.1:9042/digits python -m storage.migrate

Keyspace, replication (``DIGITS_CASSANDRA_REPLICATION``) and history TTL
(``DIGITS_HISTORY_TTL_DAYS``) come from the settings. Safe to run on every deployment.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from string import Template

from cassandra.cluster import Cluster, Session
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_fixed

from cli import setup_logging
from settings import Settings, load_settings
from storage.cassandra_config import (
    CassandraTarget,
    build_cluster,
    parse_store_url,
    replication_cql,
)

SCHEMA_FILE = Path(__file__).with_name("schema.cql")
log = logging.getLogger("storage.migrate")


def render_schema(settings: Settings, keyspace: str) -> list[str]:
    """The schema's statements with keyspace, replication and TTL filled in."""
    text = Template(SCHEMA_FILE.read_text()).substitute(
        KEYSPACE=keyspace,
        REPLICATION=replication_cql(settings.cassandra_replication),
        HISTORY_TTL_S=str(settings.history_ttl_days * 86_400),
    )
    lines = [line.split("--", 1)[0] for line in text.splitlines()]  # no literal holds "--"
    statements = [" ".join(part.split()) for part in "\n".join(lines).split(";")]
    return [statement for statement in statements if statement]


def apply_schema(session: Session, statements: list[str], timeout: float = 60.0) -> None:
    """Run the statements one by one, waiting for schema agreement after each change."""
    for number, statement in enumerate(statements, 1):
        log.info("schema %d/%d: %s", number, len(statements), statement[:80])
        session.execute(statement, timeout=timeout)
        if not session.cluster.control_connection.wait_for_schema_agreement(wait_time=timeout):
            raise RuntimeError(f"no schema agreement after: {statement[:80]}")


def migrate(settings: Settings, attempts: int = 30) -> str:
    """Connect (retrying while the cluster starts) and apply the schema.

    Returns:
        The keyspace that is now up to date.
    """
    target = parse_store_url(settings.store_url)
    cluster, session = _connect(settings, target, attempts)
    try:
        apply_schema(session, render_schema(settings, target.keyspace))
    finally:
        cluster.shutdown()
    return target.keyspace


def _connect(settings: Settings, target: CassandraTarget, attempts: int) -> tuple[Cluster, Session]:
    """A connected session, retrying with a fresh driver each time.

    A driver whose control connection failed is shut down for good, so each attempt builds its
    own: the node may still be starting, or (right after a password change) still caching the
    old credentials for a moment.
    """

    def connect() -> tuple[Cluster, Session]:
        cluster = build_cluster(settings, target)
        try:
            return cluster, cluster.connect()
        except BaseException:  # NoHostAvailable while the node starts
            cluster.shutdown()
            raise

    def waiting(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.info(
            "Cassandra not reachable yet (%s); retry %d/%d", error, state.attempt_number, attempts
        )

    retrying = Retrying(
        stop=stop_after_attempt(attempts), wait=wait_fixed(2), before_sleep=waiting, reraise=True
    )
    return retrying(connect)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m storage.migrate", description=__doc__)
    parser.add_argument("--url", help="store URL (default: DIGITS_STORE_URL)")
    args = parser.parse_args(argv)
    setup_logging()
    settings = load_settings()
    if args.url:
        settings = settings.model_copy(update={"store_url": args.url})
    if not settings.store_url.startswith("cassandra://"):
        log.error("DIGITS_STORE_URL is %s: not a cassandra:// URL", settings.store_url)
        return 2
    keyspace = migrate(settings)
    log.info("keyspace %s is up to date (replication %s)", keyspace, settings.cassandra_replication)
    return 0


if __name__ == "__main__":
    sys.exit(main())
