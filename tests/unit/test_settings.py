"""The settings object: environment parsing, validation, masking."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import Settings, describe, settings_from_env


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
