"""storage/bootstrap.py's decisions, with a recording fake session.

The real run against a Cassandra node is tests/deployment/test_schema_job.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from cassandra import ConsistencyLevel, Unavailable
from pydantic import SecretStr

from settings import Settings
from storage import bootstrap as boot
from storage.cassandra_spec import parse_replication


class RecordingSession:
    """Records statements; answers queries from ``answers`` (by a fragment of the statement)."""

    def __init__(self, answers: dict[str, list[Any]] | None = None) -> None:
        self.statements: list[tuple[Any, Any]] = []
        self.answers = answers or {}

    def execute(self, statement: Any, params: Any = None, timeout: Any = None) -> Any:
        self.statements.append((statement, params))
        text = getattr(statement, "query_string", statement)
        for fragment, rows in self.answers.items():
            if fragment in text:
                if isinstance(rows, Exception):
                    raise rows
                return Rows(rows)
        return Rows([])

    def texts(self) -> list[str]:
        return [getattr(s, "query_string", s) for s, _ in self.statements]


class Rows(list[Any]):
    def one(self) -> Any:
        return self[0] if self else None


@pytest.mark.parametrize(
    ("setting", "stored"),
    [
        ("SimpleStrategy:3", {"class": "SimpleStrategy", "replication_factor": "3"}),
        (
            "NetworkTopologyStrategy:dc1=3,dc2=2",
            {"class": "NetworkTopologyStrategy", "dc1": "3", "dc2": "2"},
        ),
    ],
)
def test_the_replication_setting_compares_with_what_cassandra_stores(
    setting: str, stored: dict[str, str]
) -> None:
    assert parse_replication(setting).as_listed() == stored
    qualified = stored | {"class": "org.apache.cassandra.locator." + stored["class"]}
    assert boot.unqualified(qualified) == stored


def test_system_auth_is_altered_only_when_its_replication_differs() -> None:
    same = RecordingSession(
        {
            "system_schema.keyspaces": [
                SimpleNamespace(
                    replication={
                        "class": "org.apache.cassandra.locator.SimpleStrategy",
                        "replication_factor": "3",
                    }
                )
            ]
        }
    )
    assert not boot.replicate_auth(same, "SimpleStrategy:3")
    assert not any("ALTER KEYSPACE" in t for t in same.texts())
    assert boot.replicate_auth(same, "SimpleStrategy:1")
    assert same.texts()[-1] == (
        "ALTER KEYSPACE system_auth WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )


def test_the_repair_reads_every_auth_table_at_all() -> None:
    session = RecordingSession(
        {
            "system_schema.tables": [SimpleNamespace(table_name=t) for t in ("roles", "x")],
            "system_auth.roles": [1, 2, 3],
            "system_auth.x": [1],
        }
    )
    assert boot.repair_auth(session, required=True) == 4
    reads = [s for s, _ in session.statements if hasattr(s, "consistency_level")]
    assert [r.query_string for r in reads] == [
        "SELECT * FROM system_auth.roles",
        "SELECT * FROM system_auth.x",
    ]
    assert all(r.consistency_level == ConsistencyLevel.ALL for r in reads)


def test_a_replica_down_fails_the_repair_only_right_after_a_replication_change() -> None:
    answers: dict[str, Any] = {
        "system_schema.tables": [SimpleNamespace(table_name="roles")],
        "system_auth.roles": Unavailable("down", required_replicas=3, alive_replicas=2),
    }
    with pytest.raises(boot.BootstrapError, match="nodetool repair system_auth"):
        boot.repair_auth(RecordingSession(answers), required=True)
    assert boot.repair_auth(RecordingSession(answers), required=False) == 0


def test_a_new_admin_is_a_superuser_with_a_bound_password() -> None:
    session = RecordingSession()
    boot.create_admin(session, "digits_admin", "s3cret")
    assert session.texts()[0].startswith(
        "CREATE ROLE IF NOT EXISTS digits_admin WITH SUPERUSER = true AND LOGIN = true"
    )
    assert all(params == ("s3cret",) for _, params in session.statements)
    assert not any("s3cret" in text for text in session.texts())


def test_an_admin_named_cassandra_only_gets_a_new_password() -> None:
    session = RecordingSession()
    boot.create_admin(session, "cassandra", "s3cret")
    assert session.statements == [("ALTER ROLE cassandra WITH PASSWORD = %s", ("s3cret",))]


def test_the_default_superuser_is_retired_once() -> None:
    active = RecordingSession(
        {"system_auth.roles": [SimpleNamespace(can_login=True, is_superuser=True)]}
    )
    assert boot.retire_default_superuser(active)
    statement, (password,) = active.statements[-1]
    assert statement.startswith("ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false")
    assert len(password) == 64
    retired = RecordingSession(
        {"system_auth.roles": [SimpleNamespace(can_login=False, is_superuser=False)]}
    )
    assert not boot.retire_default_superuser(retired)
    assert not boot.retire_default_superuser(RecordingSession())  # no such role


def test_the_service_role_may_read_and_write_its_keyspace_and_nothing_more() -> None:
    session = RecordingSession()
    boot.grant_app(session, "digits", "digits")
    assert session.texts() == [
        "REVOKE ALL PERMISSIONS ON KEYSPACE digits FROM digits",
        "GRANT SELECT ON KEYSPACE digits TO digits",
        "GRANT MODIFY ON KEYSPACE digits TO digits",
    ]


@pytest.mark.parametrize("name", ["", "Digits", "1digits", "digits; DROP KEYSPACE x", "a" * 49])
def test_role_names_that_would_need_quoting_are_refused(name: str) -> None:
    with pytest.raises(boot.BootstrapError, match="role name"):
        boot.checked_role(name, what="service")


def test_the_service_role_is_neither_the_admin_nor_the_default_superuser() -> None:
    for name in ("digits_admin", "cassandra"):
        with pytest.raises(boot.BootstrapError):
            boot.checked_role(name, what="service", forbidden=("digits_admin", "cassandra"))
    assert boot.checked_role("digits", what="service") == "digits"


def _settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "store_url": "cassandra://127.0.0.1:9/digits",
        "cassandra_username": "digits",
        "cassandra_password": SecretStr("app"),
        "cassandra_admin_password": SecretStr("admin"),
    }
    return Settings.model_validate(values | changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"cassandra_admin_password": SecretStr("")},
        {"cassandra_password": SecretStr("")},
        {"cassandra_username": ""},
        {"cassandra_username": "digits_admin"},
        {"store_url": "sqlite:///var/x.db"},
    ],
)
def test_missing_or_unsuitable_settings_fail_before_any_connection(
    changes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boot, "try_login", lambda *_: pytest.fail("must not connect"))
    with pytest.raises(boot.BootstrapError):
        boot.bootstrap(_settings(**changes))


def test_a_new_cluster_is_entered_with_the_default_superuser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = RecordingSession()
    tried: list[str] = []

    def login(settings: Settings, _target: Any) -> RecordingSession | None:
        tried.append(settings.cassandra_username)
        return session if settings.cassandra_username == "cassandra" else None

    monkeypatch.setattr(boot, "try_login", login)
    target = boot.parse_store_url("cassandra://127.0.0.1/digits")
    assert boot.admin_session(_settings(), target) == (session, True)
    assert tried == ["digits_admin", "cassandra"]  # the admin first: a secured cluster


def test_no_login_in_time_is_an_error_naming_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boot, "try_login", lambda *_: None)
    monkeypatch.setattr(boot, "RETRY_PAUSE_S", 0.001)
    target = boot.parse_store_url("cassandra://127.0.0.1/digits")
    with pytest.raises(boot.BootstrapError, match="nor the default superuser"):
        boot.admin_session(_settings(cassandra_bootstrap_wait_s=0.01), target)


def test_an_unreachable_cluster_is_retried_until_a_login_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cassandra.cluster import NoHostAvailable

    session = RecordingSession()
    calls: list[str] = []

    def login(settings: Settings, _target: Any) -> RecordingSession | None:
        calls.append(settings.cassandra_username)
        if len(calls) < 3:
            raise NoHostAvailable("starting", {"127.0.0.1:9042": ConnectionRefusedError()})
        return session

    monkeypatch.setattr(boot, "try_login", login)
    monkeypatch.setattr(boot, "RETRY_PAUSE_S", 0.001)
    target = boot.parse_store_url("cassandra://127.0.0.1/digits")
    assert boot.admin_session(_settings(cassandra_bootstrap_wait_s=30), target) == (session, False)
    assert calls == ["digits_admin"] * 3  # the node came up on the third try; the admin got in


def test_the_migration_retries_a_cluster_still_starting_with_a_fresh_driver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from storage import migrate

    built: list[Any] = []

    class Driver:
        def __init__(self) -> None:
            self.shut = False

        def connect(self) -> str:
            if len(built) < 3:
                raise OSError("connection refused")
            return "session"

        def shutdown(self) -> None:
            self.shut = True

    def build(_settings: Settings, _target: Any) -> Driver:
        built.append(Driver())
        return built[-1]

    monkeypatch.setattr(migrate, "build_cluster", build)
    no_wait = migrate.wait_fixed(0)
    monkeypatch.setattr(migrate, "wait_fixed", lambda _seconds: no_wait)
    target = boot.parse_store_url("cassandra://127.0.0.1/digits")
    cluster, session = migrate._connect(_settings(), target, attempts=5)
    assert (cluster, session) == (built[2], "session")
    assert [d.shut for d in built] == [True, True, False]  # failed drivers are not leaked
    built.clear()
    with pytest.raises(OSError, match="refused"):
        migrate._connect(_settings(), target, attempts=2)
    assert len(built) == 2
