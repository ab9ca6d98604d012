"""The settings object: environment parsing, validation, masking."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import Settings, SettingsError, describe, load_settings, settings_from_env


def test_defaults_need_no_environment() -> None:
    settings = settings_from_env({})
    assert settings.store_url.startswith("sqlite://")
    assert settings.max_upload_bytes > 1024 * 1024


def test_values_come_from_prefixed_variables() -> None:
    settings = settings_from_env(
        {"DIGITS_WORKERS": "3", "DIGITS_SPOOL_DIR": "/data/spool", "DIGITS_STORE_URL": "none://"}
    )
    assert settings.workers == 3
    assert settings.spool_dir == Path("/data/spool")
    assert settings.store_url == "none://"


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        settings_from_env({"DIGITS_WORKERS": "0"})
    with pytest.raises(ValidationError):
        settings_from_env({"DIGITS_CONFIDENCE_THRESHOLD": "1.5"})


def test_secrets_are_masked_when_described() -> None:
    rows = describe(settings_from_env({"DIGITS_CASSANDRA_PASSWORD": "hunter2"}))
    shown = dict((var, value) for var, value, _ in rows)
    assert shown["DIGITS_CASSANDRA_PASSWORD"] == "***"
    assert "hunter2" not in repr(settings_from_env({"DIGITS_CASSANDRA_PASSWORD": "hunter2"}))


def test_every_setting_is_documented() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def _start_up_error() -> SettingsError:
    """What reading the process-wide settings from the (patched) environment raises."""
    load_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as stopped:
            load_settings()
    finally:
        load_settings.cache_clear()
    return stopped.value


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DIGITS_CASSANDRA_CONSISTENCY", "LOCAL_QOURUM", "LOCAL_QUORUM"),
        ("DIGITS_CASSANDRA_REPLICATION", "SimpleStrategy:zero", "replication factor"),
        ("DIGITS_CASSANDRA_REPLICATION", "EverywhereStrategy:3", "unknown replication strategy"),
        ("DIGITS_STORE_URL", "cassandra://db:99999/digits", "invalid port"),
        ("DIGITS_STORE_URL", "cassandra://db/bad-keyspace", "invalid keyspace"),
        ("DIGITS_STORE_URL", "postgres://db/digits", "scheme must be one of"),
        ("DIGITS_STORE_URL", "sqlite://", "needs a path"),
        ("DIGITS_LOG_LEVEL", "LOUD", "DEBUG"),
    ],
)
def test_a_mistyped_setting_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    stopped = _start_up_error()
    message = str(stopped)
    assert f"{variable}={value!r}" in message
    assert reason in message
    assert stopped.code == message  # SystemExit: the message, exit status 1, no traceback


def test_a_password_is_never_echoed_in_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITS_CASSANDRA_PASSWORD", "hunter2")
    monkeypatch.setenv("DIGITS_WORKERS", "0")
    assert "hunter2" not in str(_start_up_error())


def test_consistency_names_are_case_insensitive_and_the_drivers_own() -> None:
    from typing import get_args

    from cassandra import ConsistencyLevel

    from storage.cassandra_spec import ConsistencyName

    assert settings_from_env({"DIGITS_CASSANDRA_CONSISTENCY": "quorum"}).cassandra_consistency == (
        "QUORUM"
    )
    assert set(get_args(ConsistencyName)) == set(ConsistencyLevel.name_to_value)
