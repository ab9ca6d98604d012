"""The one settings object of the project, read from ``DIGITS_*`` environment variables.

Every tunable the service, the stores, training and the tools read lives here, with its default.
The README's settings table lists them; ``python -m settings`` prints the effective values
(secrets masked).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from storage.cassandra_spec import ConsistencyName, parse_replication, parse_store_url

ENV_PREFIX = "DIGITS_"
STORE_SCHEMES = ("sqlite", "cassandra", "none")


class SettingsError(SystemExit):
    """A ``DIGITS_*`` variable holds an invalid value: the process stops, saying which and why.

    A ``SystemExit`` so that the service, training and every tool exit with status 1 and the
    message alone, not a traceback, whichever of them reads the settings first.
    """


class Settings(BaseModel):
    """Typed, validated configuration; construct with :func:`load_settings`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- model and inference -------------------------------------------------------------
    model_name: str = Field(
        "mnist_cnn", description="Name of the model in the BentoML model store."
    )
    model_version: str = Field(
        "promoted",
        description="Version of that model the service serves: `promoted` (the one promoted "
        "last, label `promoted_at`), `latest`, or a version.",
    )
    confidence_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Below this confidence an answer is flagged `sure: false` "
        "(unset: the threshold calibrated with the model, from its metadata).",
    )
    inference_threads: int = Field(
        1,
        ge=1,
        description="LiteRT interpreter threads per inference (each request thread has its own).",
    )
    workers: int = Field(1, ge=1, description="BentoML worker processes (each loads the model).")
    threads: int = Field(8, ge=1, description="Concurrent requests handled per worker.")

    # --- request limits --------------------------------------------------------------------
    max_upload_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest accepted request body (phone photos are 3-12 MB); larger gets 413.",
    )
    max_image_pixels: int = Field(
        40_000_000,
        ge=784,
        description="Largest image as stored (width x height; a 12 MP photo is 12,192,768); "
        "larger gets 413.",
    )
    max_decoded_pixels: int = Field(
        16_000_000,
        ge=784,
        description="Largest image as decoded (JPEG photos decode at 1/2-1/8 size, so only "
        "other formats come near it); larger gets 413. Bounds one image's memory.",
    )
    max_request_pixels: int = Field(
        64_000_000,
        ge=784,
        description="Most decoded pixels one request may bring (a batch's sum); more gets 413.",
    )
    max_concurrent_decodes: int = Field(
        2,
        ge=1,
        description="Uploads decoded and preprocessed at once per worker; the others wait. "
        "Bounds peak memory under load.",
    )
    max_batch_images: int = Field(
        64, ge=1, description="Most images one /predict_batch call takes."
    )
    request_deadline_s: float = Field(
        50.0,
        gt=0,
        le=3600,
        description="A request still unanswered after this long is refused (503) unrecorded; "
        "the server's own timeout (504) is 10 s later.",
    )

    # --- storage ---------------------------------------------------------------------------
    store_url: str = Field(
        "sqlite:///var/predictions.db",
        description="Where predictions are recorded: `sqlite:///PATH`, "
        "`cassandra://HOST[,HOST...][:PORT]/KEYSPACE` or `none://` (record nothing).",
    )
    spool_dir: Path = Field(
        Path("var/spool"), description="Durable outbox for records the database did not take."
    )
    spool_max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="Spool size at which new records are refused."
    )
    history_ttl_days: int = Field(
        30, ge=0, description="Days the per-day history keeps a prediction (0 = forever)."
    )

    # --- access --------------------------------------------------------------------------
    api_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token for history, stats, filenames and relabelling any prediction "
        "(empty: history and stats are open, as on a local machine).",
    )
    feedback_secret: SecretStr = Field(
        SecretStr(""),
        description="Key of the per-prediction feedback tokens; the same on every worker and "
        "replica (empty: a random key per process).",
    )

    # --- Cassandra -------------------------------------------------------------------------
    cassandra_local_dc: str = Field("datacenter1", description="Local data centre for routing.")
    cassandra_consistency: ConsistencyName = Field(
        "LOCAL_QUORUM", description="Consistency level of reads and writes (`LOCAL_QUORUM`, …)."
    )
    cassandra_replication: str = Field(
        "SimpleStrategy:1",
        description="Keyspace replication: `SimpleStrategy:RF` or "
        "`NetworkTopologyStrategy:DC=RF[,DC=RF]`.",
    )
    cassandra_username: str = Field("", description="CQL user (empty: no authentication).")
    cassandra_password: SecretStr = Field(SecretStr(""), description="CQL password.")
    cassandra_admin_username: str = Field(
        "digits_admin",
        description="Superuser the schema job (`python -m storage.bootstrap`) creates and logs in "
        "as, retiring the default `cassandra`; never given to the service.",
    )
    cassandra_admin_password: SecretStr = Field(
        SecretStr(""), description="Its password (the schema job requires one)."
    )
    cassandra_bootstrap_wait_s: float = Field(
        600.0, gt=0, description="How long the schema job waits for a first CQL login."
    )
    cassandra_max_in_flight: int = Field(
        128, ge=1, description="Most concurrent writes per worker."
    )
    cassandra_timeout_s: float = Field(
        2.0, gt=0, description="Per-request timeout before a write is spooled."
    )

    # --- training data ---------------------------------------------------------------------
    mnist_dir: Path | None = Field(
        None, description="Directory with the four official MNIST IDX files (optional)."
    )
    data_dir: Path = Field(Path("var/data"), description="Cache for downloaded MNIST data.")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the project's loggers."
    )

    @field_validator("cassandra_consistency", "log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("store_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in STORE_SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(STORE_SCHEMES)}, not {scheme!r}")
        if scheme == "cassandra":
            parse_store_url(value)
        if scheme == "sqlite" and not value.removeprefix("sqlite://").strip("/"):
            raise ValueError("sqlite:///PATH needs a path")
        return value

    @field_validator("cassandra_replication")
    @classmethod
    def _valid_replication(cls, value: str) -> str:
        parse_replication(value)
        return value


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``DIGITS_<FIELD>`` variables (case-insensitive)."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for name in Settings.model_fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = raw
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings, read once from the environment.

    Raises:
        SettingsError: a variable is invalid (the message names each one, its value and why).
    """
    try:
        return settings_from_env()
    except ValidationError as error:
        raise SettingsError(explain(error)) from None


def explain(error: ValidationError) -> str:
    """One line per invalid setting: variable, offending value (secrets hidden) and reason."""
    lines = ["invalid settings, the process cannot start:"]
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        variable = ENV_PREFIX + name.upper()
        field = Settings.model_fields.get(name)
        secret = field is not None and field.annotation is SecretStr
        value = "***" if secret else repr(problem.get("input"))
        reason = problem["msg"].removeprefix("Value error, ")
        lines.append(f"  {variable}={value}: {reason}")
    return "\n".join(lines)


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """Rows of (variable, value, description) with secrets masked, for docs and logs."""
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        shown = "***" if isinstance(value, SecretStr) and value.get_secret_value() else str(value)
        rows.append((ENV_PREFIX + name.upper(), shown, field.description or ""))
    return rows


def markdown_table() -> str:
    """The README's settings table, generated from the defaults."""
    lines = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for var, value, description in describe(Settings()):
        shown = {"": "(empty)", "None": "(unset)"}.get(value, f"`{value}`")
        lines.append(f"| `{var}` | {shown} | {description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    if "--markdown" in sys.argv:
        print(markdown_table())
    else:
        for var, value, _ in describe(load_settings()):
            print(f"{var}={value}")
