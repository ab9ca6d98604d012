"""Secure a Cassandra cluster for the service and apply its schema: the schema job, everywhere.

Compose's ``schema`` service and Kubernetes' ``Job/digits-schema`` both run this one module::

    python -m storage.bootstrap

With ``PasswordAuthenticator`` a new cluster has one account, the well-known superuser
``cassandra``/``cassandra``. Every step is idempotent, so the job runs again after every
deployment (and applies rotated passwords):

1. log in as the admin (``DIGITS_CASSANDRA_ADMIN_USERNAME``/``_PASSWORD``), or on a new cluster
   as the default superuser, waiting up to ``DIGITS_CASSANDRA_BOOTSTRAP_WAIT_S`` for the node;
2. create the admin superuser (on a new cluster) and retire the default one: no login, no
   superuser status, a random password;
3. replicate ``system_auth`` like the data (``DIGITS_CASSANDRA_REPLICATION``), then read every
   row of it at consistency ``ALL``, which repairs what the new replicas lack (read repair);
4. create the service's role (``DIGITS_CASSANDRA_USERNAME``/``_PASSWORD``) or reset its password;
5. apply ``storage/schema.cql`` as the admin (:mod:`storage.migrate`);
6. give the service's role ``SELECT`` and ``MODIFY`` on its keyspace and nothing more (an older
   ``ALL`` is revoked): it never changes the schema.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys

from cassandra import AuthenticationFailed, ConsistencyLevel, Unavailable
from cassandra.cluster import NoHostAvailable, Session
from cassandra.query import SimpleStatement
from pydantic import SecretStr
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from cli import setup_logging
from settings import Settings, SettingsError, load_settings
from storage.cassandra_config import CassandraTarget, build_cluster, parse_store_url
from storage.cassandra_spec import parse_replication
from storage.migrate import apply_schema, render_schema

DEFAULT_SUPERUSER = "cassandra"
# The documented default of PasswordAuthenticator: public knowledge, retired on the first run.
DEFAULT_SUPERUSER_PASSWORD = "cassandra"
# Unquoted CQL identifiers are case-insensitive; lower case keeps every statement unambiguous.
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
RETRY_PAUSE_S = 3.0
log = logging.getLogger("storage.bootstrap")


class BootstrapError(RuntimeError):
    """The cluster cannot be secured: unreachable, refused logins, or unsuitable settings."""


def checked_role(name: str, *, what: str, forbidden: tuple[str, ...] = ()) -> str:
    """``name`` if it is a plain lower-case role name other than ``forbidden``.

    Raises:
        BootstrapError: The name is empty, needs quoting, or is one of ``forbidden``.
    """
    if not ROLE_NAME.match(name) or name in forbidden:
        raise BootstrapError(f"unsuitable {what} role name {name!r}")
    return name


def as_user(settings: Settings, user: str, password: str) -> Settings:
    """The settings with the driver logging in as ``user``."""
    return settings.model_copy(
        update={"cassandra_username": user, "cassandra_password": SecretStr(password)}
    )


def try_login(settings: Settings, target: CassandraTarget) -> Session | None:
    """A session as the settings' user, or None when the credentials are refused.

    Raises:
        NoHostAvailable: The cluster did not answer (other than by refusing the credentials).
    """
    cluster = build_cluster(settings, target)
    try:
        return cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        if any(isinstance(error, AuthenticationFailed) for error in exc.errors.values()):
            return None
        raise


def admin_session(settings: Settings, target: CassandraTarget) -> tuple[Session, bool]:
    """Log in as the admin or, on a new cluster, as the default superuser.

    Retries until ``cassandra_bootstrap_wait_s`` has passed: the node may still be starting, and
    the default superuser appears a few seconds after CQL does.

    Returns:
        The session and whether it is the default superuser's.

    Raises:
        BootstrapError: No login succeeded in time.
    """
    try:
        return _patiently(settings)(_login_once, settings, target)
    except _NotYet as exc:
        raise BootstrapError(f"no superuser login on {target.hosts}: {exc}") from exc


class _NotYet(Exception):  # noqa: N818 - "not yet" is what it says
    """A login that may still succeed: the node, or its default superuser, is not ready yet."""


def _patiently(settings: Settings) -> Retrying:
    """Retry on :class:`_NotYet` every RETRY_PAUSE_S until ``cassandra_bootstrap_wait_s``."""
    return Retrying(
        stop=stop_after_delay(settings.cassandra_bootstrap_wait_s),
        wait=wait_fixed(RETRY_PAUSE_S),
        retry=retry_if_exception_type(_NotYet),
        before_sleep=lambda state: log.info(
            "waiting for Cassandra: %s", state.outcome.exception() if state.outcome else "?"
        ),
        reraise=True,
    )


def _login_once(settings: Settings, target: CassandraTarget) -> tuple[Session, bool]:
    """Try the admin, then the default superuser; raises :class:`_NotYet` when neither gets in."""
    admin = settings.cassandra_admin_username
    candidates = [
        (admin, settings.cassandra_admin_password.get_secret_value()),
        (DEFAULT_SUPERUSER, DEFAULT_SUPERUSER_PASSWORD),
    ]
    try:
        for user, password in candidates:
            session = try_login(as_user(settings, user, password), target)
            if session is not None:
                default = (user, password) == (DEFAULT_SUPERUSER, DEFAULT_SUPERUSER_PASSWORD)
                log.info("logged in as %s", "the default superuser" if default else user)
                return session, default
    except NoHostAvailable as exc:
        raise _NotYet(f"cluster not reachable: {exc}") from exc
    raise _NotYet(f"neither {admin} nor the default superuser may log in")


def create_admin(session: Session, admin: str, password: str) -> None:
    """As the default superuser: make ``admin`` a superuser with ``password``.

    When the admin *is* ``cassandra`` (a cluster set up that way earlier), only its password
    changes.
    """
    if admin == DEFAULT_SUPERUSER:
        session.execute(f"ALTER ROLE {DEFAULT_SUPERUSER} WITH PASSWORD = %s", (password,))
        log.info("superuser %s: default password replaced", admin)
        return
    session.execute(
        f"CREATE ROLE IF NOT EXISTS {admin} WITH SUPERUSER = true AND LOGIN = true "
        "AND PASSWORD = %s",
        (password,),
    )
    session.execute(f"ALTER ROLE {admin} WITH PASSWORD = %s", (password,))
    log.info("superuser %s created", admin)


def retire_default_superuser(session: Session) -> bool:
    """As the admin: take login and superuser status from ``cassandra``, scramble its password.

    Returns:
        Whether anything changed (False when it was retired before, or does not exist).
    """
    row = session.execute(
        "SELECT can_login, is_superuser FROM system_auth.roles WHERE role = %s",
        (DEFAULT_SUPERUSER,),
    ).one()
    if row is None or not (row.can_login or row.is_superuser):
        return False
    session.execute(
        f"ALTER ROLE {DEFAULT_SUPERUSER} WITH SUPERUSER = false AND LOGIN = false "
        "AND PASSWORD = %s",
        (secrets.token_hex(32),),
    )
    log.info("default superuser %s retired (no login, not a superuser)", DEFAULT_SUPERUSER)
    return True


def replicate_auth(session: Session, replication: str) -> bool:
    """Give ``system_auth`` the data's replication setting; True when that changed it."""
    wanted = parse_replication(replication)
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth'"
    ).one()
    if row is not None and unqualified(row.replication) == wanted.as_listed():
        log.info("system_auth already replicated as %s", replication)
        return False
    session.execute(f"ALTER KEYSPACE system_auth WITH replication = {wanted.cql()}")
    log.info("system_auth now replicated as %s", replication)
    return True


def unqualified(replication: dict[str, str]) -> dict[str, str]:
    """A stored replication map with the strategy's class name unqualified."""
    return {
        key: value.rsplit(".", 1)[-1] if key == "class" else value
        for key, value in replication.items()
    }


def repair_auth(session: Session, required: bool) -> int:
    """Read every row of every ``system_auth`` table at ``ALL``, so each replica gets them.

    A read at ``ALL`` compares all replicas and writes back what any of them lacks (blocking
    read repair), which is what a replication change needs for these small tables; ``nodetool
    repair system_auth`` remains the full repair, tombstones included.

    Args:
        required: Fail when a replica is down (the replication just changed) instead of warning.

    Returns:
        The number of rows read.

    Raises:
        BootstrapError: A replica is down and ``required``.
    """
    tables = [
        row.table_name
        for row in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'system_auth'"
        )
    ]
    rows = 0
    try:
        for table in tables:
            statement = SimpleStatement(
                f"SELECT * FROM system_auth.{table}",
                consistency_level=ConsistencyLevel.ALL,
                fetch_size=500,
            )
            rows += sum(1 for _ in session.execute(statement, timeout=60))
    except Unavailable as exc:
        message = (
            f"system_auth not repaired, a replica is down ({exc}); "
            "run `nodetool repair system_auth` once every node is up"
        )
        if required:
            raise BootstrapError(message) from exc
        log.warning(message)
        return rows
    log.info("system_auth repaired by reading its %d rows at ALL (%d tables)", rows, len(tables))
    return rows


def ensure_app_role(session: Session, role: str, password: str) -> None:
    """Create the service's login role, or reset its password to the configured one."""
    session.execute(
        f"CREATE ROLE IF NOT EXISTS {role} WITH PASSWORD = %s AND LOGIN = true", (password,)
    )
    session.execute(f"ALTER ROLE {role} WITH PASSWORD = %s AND LOGIN = true", (password,))
    log.info("service role %s ready", role)


def grant_app(session: Session, role: str, keyspace: str) -> None:
    """Let the service's role read and write rows of its keyspace, nothing more."""
    session.execute(f"REVOKE ALL PERMISSIONS ON KEYSPACE {keyspace} FROM {role}")
    for permission in ("SELECT", "MODIFY"):
        session.execute(f"GRANT {permission} ON KEYSPACE {keyspace} TO {role}")
    log.info("role %s may SELECT and MODIFY in keyspace %s", role, keyspace)


def bootstrap(settings: Settings) -> str:
    """Run every step (module docstring) against the settings' cluster.

    Returns:
        The keyspace, now secured and up to date.

    Raises:
        BootstrapError: A required setting is missing or unsuitable, or the cluster refused.
    """
    if not settings.store_url.startswith("cassandra://"):
        raise BootstrapError(f"DIGITS_STORE_URL is {settings.store_url}: not a cassandra:// URL")
    target = parse_store_url(settings.store_url)
    admin = checked_role(settings.cassandra_admin_username, what="admin")
    app = checked_role(
        settings.cassandra_username, what="service", forbidden=(admin, DEFAULT_SUPERUSER)
    )
    admin_password = settings.cassandra_admin_password.get_secret_value()
    app_password = settings.cassandra_password.get_secret_value()
    if not admin_password or not app_password:
        raise BootstrapError(
            "DIGITS_CASSANDRA_ADMIN_PASSWORD and DIGITS_CASSANDRA_PASSWORD must be set "
            "(no default password is ever used)"
        )
    session, default = admin_session(settings, target)
    if default:
        create_admin(session, admin, admin_password)
        if admin != DEFAULT_SUPERUSER:
            session.cluster.shutdown()
            session = _admin_after_creation(settings, target)
    try:
        if admin != DEFAULT_SUPERUSER:
            retire_default_superuser(session)
        changed = replicate_auth(session, settings.cassandra_replication)
        repair_auth(session, required=changed)
        ensure_app_role(session, app, app_password)
        apply_schema(session, render_schema(settings, target.keyspace))
        grant_app(session, app, target.keyspace)
    finally:
        session.cluster.shutdown()
    return target.keyspace


def _admin_after_creation(settings: Settings, target: CassandraTarget) -> Session:
    """The new admin's session (its role may take a moment to be usable on every node)."""

    def as_new_admin() -> Session:
        session, default = admin_session(settings, target)
        if default:
            session.cluster.shutdown()
            raise _NotYet(f"the new admin {settings.cassandra_admin_username} cannot log in")
        return session

    try:
        return _patiently(settings)(as_new_admin)
    except _NotYet as exc:
        raise BootstrapError(str(exc)) from exc


def main() -> int:
    """Command-line entry point: exit status 0 when the cluster is secured and up to date."""
    setup_logging()
    # Refused logins and an unreachable node are expected while probing: reported here instead.
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    try:
        keyspace = bootstrap(load_settings())
    except (BootstrapError, SettingsError) as exc:
        log.error("bootstrap failed: %s", exc)
        return 1
    log.info("keyspace %s is secured and up to date", keyspace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
