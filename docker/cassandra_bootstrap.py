"""Secure a fresh Cassandra and create the service's role: the first step of the schema job.

With ``PasswordAuthenticator`` a new cluster has one account, the well-known superuser
``cassandra``/``cassandra``. This script, run before ``python -m storage.migrate`` by the one-shot
``schema`` job of compose.yaml, idempotently:

1. logs in as the superuser with its new password, or else (first run) with the default one;
2. changes the superuser's password to ``CASSANDRA_SUPERUSER_PASSWORD`` (required);
3. creates the application role ``DIGITS_CASSANDRA_USERNAME`` with ``DIGITS_CASSANDRA_PASSWORD``
   (both required) or resets that password, so a rotated secret takes effect on the next run.

With ``--grant`` (run after ``python -m storage.migrate``, which the superuser runs) it instead
gives that role ``SELECT`` and ``MODIFY`` on the keyspace and nothing more: the cluster runs
``CassandraAuthorizer``, and only the migration changes the schema.

Contact points come from ``DIGITS_STORE_URL`` (``cassandra://HOST[,HOST][:PORT]/KEYSPACE``).
Usage (from the project root or the Bento's ``src``)::

    PYTHONPATH=. python docker/cassandra_bootstrap.py [--grant]
"""

from __future__ import annotations

import logging
import os
import sys
import time

from cassandra import AuthenticationFailed
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable, Session

from settings import load_settings
from storage.cassandra_config import CassandraTarget, parse_store_url

SUPERUSER = "cassandra"
# The documented default of PasswordAuthenticator: public knowledge, replaced on the first run.
DEFAULT_SUPERUSER_PASSWORD = "cassandra"
log = logging.getLogger("cassandra_bootstrap")


class BootstrapError(RuntimeError):
    """The cluster cannot be secured (unreachable, or neither superuser password works)."""


def required_env(name: str) -> str:
    """The value of a required, non-empty environment variable.

    Raises:
        BootstrapError: The variable is missing or empty.
    """
    value = os.environ.get(name, "")
    if not value:
        raise BootstrapError(f"{name} must be set (no default password is ever used)")
    return value


def try_login(target: CassandraTarget, user: str, password: str) -> Session | None:
    """A session as ``user``, or None when the credentials are refused.

    Raises:
        NoHostAvailable: The cluster did not answer (other than refusing the credentials).
    """
    cluster = Cluster(
        list(target.hosts),
        port=target.port,
        auth_provider=PlainTextAuthProvider(user, password),
        protocol_version=5,
        connect_timeout=10,
    )
    try:
        return cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        if any(isinstance(err, AuthenticationFailed) for err in exc.errors.values()):
            return None
        raise


def superuser_session(
    target: CassandraTarget, password: str, timeout_s: float
) -> tuple[Session, bool]:
    """Log in as the superuser with ``password`` or, on a fresh cluster, the default password.

    Retries while the node starts (the default superuser appears a few seconds after CQL).

    Returns:
        The session and whether the default password was the one that worked.

    Raises:
        BootstrapError: No login succeeded within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            for candidate in (password, DEFAULT_SUPERUSER_PASSWORD):
                session = try_login(target, SUPERUSER, candidate)
                if session is not None:
                    return session, candidate != password
            last = "both the configured and the default superuser password were refused"
        except NoHostAvailable as exc:
            last = f"cluster not reachable: {exc}"
        log.info("waiting for Cassandra: %s", last)
        time.sleep(3)
    raise BootstrapError(f"could not log in as the superuser within {timeout_s:.0f} s: {last}")


def secure_superuser(session: Session, password: str, default_in_use: bool) -> None:
    """Replace the superuser's default password (no-op when it was already replaced)."""
    if default_in_use:
        session.execute(f"ALTER ROLE {SUPERUSER} WITH PASSWORD = %s", (password,))
        log.info("superuser password changed from the default")
    else:
        log.info("superuser password already set")


def ensure_app_role(session: Session, role: str, password: str) -> None:
    """Create the application's login role, or reset its password to the configured one."""
    if not role.isidentifier() or role == SUPERUSER:
        raise BootstrapError(f"unsuitable application role name {role!r}")
    session.execute(
        f"CREATE ROLE IF NOT EXISTS {role} WITH PASSWORD = %s AND LOGIN = true", (password,)
    )
    session.execute(f"ALTER ROLE {role} WITH PASSWORD = %s AND LOGIN = true", (password,))
    log.info("application role %s ready", role)


def grant_app(session: Session, role: str, keyspace: str) -> None:
    """Let the application role read and write rows of its keyspace, nothing more."""
    if not role.isidentifier() or role == SUPERUSER:
        raise BootstrapError(f"unsuitable application role name {role!r}")
    session.execute(f"REVOKE ALL PERMISSIONS ON KEYSPACE {keyspace} FROM {role}")
    for permission in ("SELECT", "MODIFY"):
        session.execute(f"GRANT {permission} ON KEYSPACE {keyspace} TO {role}")
    log.info("role %s may SELECT and MODIFY in keyspace %s", role, keyspace)


def main() -> int:
    """Run the bootstrap; exit status 0 when the cluster is secured and the role exists."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Refused logins and an unreachable node are expected while probing: this script reports them.
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    try:
        settings = load_settings()
        target = parse_store_url(settings.store_url)
        superuser_password = required_env("CASSANDRA_SUPERUSER_PASSWORD")
        role = settings.cassandra_username or required_env("DIGITS_CASSANDRA_USERNAME")
        role_password = settings.cassandra_password.get_secret_value() or required_env(
            "DIGITS_CASSANDRA_PASSWORD"
        )
        timeout_s = float(os.environ.get("CASSANDRA_BOOTSTRAP_TIMEOUT_S", "180"))
        session, default_in_use = superuser_session(target, superuser_password, timeout_s)
        try:
            if "--grant" in sys.argv[1:]:
                grant_app(session, role, target.keyspace)
            else:
                secure_superuser(session, superuser_password, default_in_use)
                ensure_app_role(session, role, role_password)
        finally:
            session.cluster.shutdown()
    except (BootstrapError, ValueError) as exc:
        log.error("bootstrap failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
