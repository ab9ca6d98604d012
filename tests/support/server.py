"""Run a real ``bentoml serve`` of the project in a subprocess, for tests over HTTP.

The launcher is the load tests' and benchmark's own (:mod:`loadtests.stack`); this adds what
tests need: a free port, a log in the test's directory and a BentoML home of the server's own.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from loadtests.stack import bentoml_server, free_port, running


def private_home(workdir: Path, env: dict[str, str]) -> Path:
    """A BentoML home of the server's own that shares the real model store.

    BentoML keeps its Prometheus multiprocess files in ``$BENTOML_HOME`` and a starting server
    clears them: servers sharing one home would wipe each other's metrics.
    """
    store = Path(env.get("BENTOML_HOME", Path.home() / "bentoml")) / "models"
    home = workdir / "bentoml-home"
    home.mkdir(exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(store.resolve(), target_is_directory=True)
    return home


@contextmanager
def running_service(
    env: dict[str, str], workdir: Path, timeout: float = 180, wrapper: Sequence[str] = ()
) -> Iterator[str]:
    """Serve ``service:DigitService`` on a free port with ``env`` added; yield its base URL.

    The server's output goes to ``workdir/server.log``. ``wrapper`` is a command prefix the
    server runs under (e.g. ``unshare`` for a private ``/etc/hosts``).
    """
    with running_process(env, workdir, timeout, wrapper) as (url, _):
        yield url


@contextmanager
def running_process(
    env: dict[str, str], workdir: Path, timeout: float = 180, wrapper: Sequence[str] = ()
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like :func:`running_service`, also yielding the ``bentoml serve`` process (for its pid)."""
    full_env = dict(env)
    if "BENTOML_HOME" not in env:
        full_env["BENTOML_HOME"] = str(private_home(workdir, {**os.environ, **env}))
    server = bentoml_server(free_port(), full_env, workdir / "server.log", wrapper=wrapper)
    with running(server, timeout):
        assert server.process is not None
        yield server.url, server.process
