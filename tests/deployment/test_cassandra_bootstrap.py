"""docker/cassandra_bootstrap.py: secure the superuser once, keep the service's role in sync.

Logic only, with a recording fake session; the real run against Cassandra is part of the
end-to-end stack test.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cassandra.cluster import NoHostAvailable

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "cassandra_bootstrap.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cassandra_bootstrap", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


boot = load_script()


class RecordingSession:
    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def execute(self, statement: str, params: Any = None) -> None:
        self.statements.append((statement, params))


TARGET = boot.CassandraTarget(hosts=("cassandra",), port=9042, keyspace="digits")


def test_required_variable_must_be_set_and_non_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_PASSWORD", "")
    with pytest.raises(boot.BootstrapError, match="SOME_PASSWORD"):
        boot.required_env("SOME_PASSWORD")
    monkeypatch.setenv("SOME_PASSWORD", "s3cret")
    assert boot.required_env("SOME_PASSWORD") == "s3cret"


def test_default_superuser_password_is_replaced_with_a_bound_parameter() -> None:
    session = RecordingSession()
    boot.secure_superuser(session, "n3w", default_in_use=True)
    assert session.statements == [("ALTER ROLE cassandra WITH PASSWORD = %s", ("n3w",))]


def test_superuser_password_already_replaced_is_left_alone() -> None:
    session = RecordingSession()
    boot.secure_superuser(session, "n3w", default_in_use=False)
    assert session.statements == []


def test_app_role_is_created_once_and_its_password_kept_in_sync() -> None:
    session = RecordingSession()
    boot.ensure_app_role(session, "digits", "pw")
    texts = [text for text, _ in session.statements]
    assert texts[0].startswith("CREATE ROLE IF NOT EXISTS digits WITH PASSWORD = %s")
    assert texts[1].startswith("ALTER ROLE digits WITH PASSWORD = %s")
    assert all(params == ("pw",) for _, params in session.statements)
    assert all("pw" not in text for text in texts)


@pytest.mark.parametrize("role", ["cassandra", "digits; DROP KEYSPACE x", "1digits", ""])
def test_unsuitable_role_names_are_refused(role: str) -> None:
    with pytest.raises(boot.BootstrapError):
        boot.ensure_app_role(RecordingSession(), role, "pw")


def test_first_run_logs_in_with_the_default_password(monkeypatch: pytest.MonkeyPatch) -> None:
    session = RecordingSession()
    accepted = {"cassandra": session}
    monkeypatch.setattr(boot, "try_login", lambda _t, _u, password: accepted.get(password))
    assert boot.superuser_session(TARGET, "n3w", timeout_s=5) == (session, True)


def test_later_runs_log_in_with_the_configured_password(monkeypatch: pytest.MonkeyPatch) -> None:
    session = RecordingSession()
    accepted = {"n3w": session}
    monkeypatch.setattr(boot, "try_login", lambda _t, _u, password: accepted.get(password))
    assert boot.superuser_session(TARGET, "n3w", timeout_s=5) == (session, False)


def test_unreachable_cluster_gives_up_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*_: Any) -> None:
        raise NoHostAvailable("down", {})

    monkeypatch.setattr(boot, "try_login", unreachable)
    monkeypatch.setattr(boot.time, "sleep", lambda _s: None)
    with pytest.raises(boot.BootstrapError, match="not reachable"):
        boot.superuser_session(TARGET, "n3w", timeout_s=0.05)


def test_missing_superuser_password_fails_without_touching_cassandra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CASSANDRA_SUPERUSER_PASSWORD", raising=False)
    monkeypatch.setenv("DIGITS_STORE_URL", "cassandra://cassandra:9042/digits")
    monkeypatch.setattr(boot, "load_settings", boot.load_settings.__wrapped__)
    monkeypatch.setattr(boot, "try_login", lambda *_: pytest.fail("must not connect"))
    assert boot.main() == 1


def test_the_app_role_may_read_and_write_its_keyspace_and_nothing_more() -> None:
    session = RecordingSession()
    boot.grant_app(session, "digits", "digits")
    statements = [statement for statement, _ in session.statements]
    assert statements == [
        "REVOKE ALL PERMISSIONS ON KEYSPACE digits FROM digits",
        "GRANT SELECT ON KEYSPACE digits TO digits",
        "GRANT MODIFY ON KEYSPACE digits TO digits",
    ]
    with pytest.raises(boot.BootstrapError):
        boot.grant_app(RecordingSession(), "cassandra", "digits")
