"""Run a real ``bentoml serve`` of the project in a subprocess, for tests over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENTOML = Path(sys.executable).with_name("bentoml")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url`` until it answers 200; fail early if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s:\n{tail(log)}")


def tail(log: Path, lines: int = 40) -> str:
    """The end of a log file, for failure messages."""
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM the server's process group, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


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
    port = free_port()
    log = workdir / "server.log"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    if "BENTOML_HOME" not in env:
        full_env["BENTOML_HOME"] = str(private_home(workdir, full_env))
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*wrapper, str(BENTOML), "serve", "service:DigitService", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/readyz", timeout, process, log)
        yield url, process
    finally:
        stop(process)
