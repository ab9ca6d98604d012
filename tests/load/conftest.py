"""Fixtures of the load tests: a real ``bentoml serve`` with a throw-away SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.run import local_stack_env
from loadtests.stack import Server, bentoml_server, free_port, running


@pytest.fixture(scope="module")
def sqlite_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service on a free port, recording into an SQLite file of its own."""
    workdir: Path = tmp_path_factory.mktemp("load-service")
    server = bentoml_server(free_port(), local_stack_env(workdir), log_path=workdir / "server.log")
    with running(server, timeout=240) as started:
        yield started
