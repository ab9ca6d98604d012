"""Where predictions are recorded: pick the store from ``DIGITS_STORE_URL``.

``sqlite:///var/predictions.db`` (default, embedded), ``cassandra://HOST[,HOST][:PORT]/KEYSPACE``
(the system of record in deployments, see storage/README.md) or ``none://`` (record nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from storage.base import PredictionStore, StoreError
from storage.records import DayStats, Page, PredictionRecord

if TYPE_CHECKING:  # settings validates with storage.cassandra_spec: no import cycle at run time
    from settings import Settings

__all__ = ["DayStats", "Page", "PredictionRecord", "PredictionStore", "StoreError", "open_store"]


def open_store(settings: Settings) -> PredictionStore:
    """The store ``settings.store_url`` names.

    Raises:
        ValueError: the URL's scheme is not one of sqlite, cassandra, none.
    """
    scheme = urlsplit(settings.store_url).scheme
    if scheme == "sqlite":
        from storage.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(settings.store_url))
    if scheme == "cassandra":
        from storage.cassandra import CassandraStore

        return CassandraStore(settings)
    if scheme == "none":
        from storage.null import NullStore

        return NullStore()
    raise ValueError(
        f"unsupported DIGITS_STORE_URL scheme {scheme!r}: use sqlite, cassandra or none"
    )


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` to a path."""
    path = url.removeprefix("sqlite://")
    if path.startswith("//"):
        return Path(path[1:])
    return Path(path.removeprefix("/"))
