"""Start and stop the servers under test as child processes, and watch their memory.

Used by the load runner, the outage scenario, the load tests and the benchmark: each server is
started in its own process group, waited for on a readiness URL, and stopped with SIGTERM (then
SIGKILL) of that group only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from devtools.waiting import wait_until

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
BENTOML = Path(sys.executable).with_name("bentoml")


class ServerError(RuntimeError):
    """A server exited or did not become ready in time."""


class Server:
    """One server child process with a readiness URL."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        url: str,
        env: dict[str, str] | None = None,
        ready_path: str = "/readyz",
        log_path: Path | None = None,
        cpus: set[int] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.url = url.rstrip("/")
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.ready_path = ready_path
        self.log_path = log_path
        self.cpus = cpus
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> None:
        """Start the process and wait until ``ready_path`` answers 200.

        Raises:
            ServerError: the process exited, or was not ready within ``timeout`` seconds.
        """
        log.info("starting %s: %s", self.name, " ".join(self.argv))
        with self.log_path.open("ab") if self.log_path else contextlib.nullcontext() as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=out if out is not None else subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.cpus:
            os.sched_setaffinity(self.process.pid, self.cpus)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        try:
            took = wait_until(
                self._ready,
                timeout,
                f"{self.name} ready at {self.url}",
                on_wait=lambda s: log.info("waiting for %s (%.0f s)...", self.name, s),
            )
        except TimeoutError as exc:
            self.stop()
            raise ServerError(f"{exc}{self._tail()}") from None
        log.info("%s ready at %s after %.0f s", self.name, self.url, took)

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServerError(f"{self.name} exited with {self.process.returncode}{self._tail()}")
        return http_ok(self.url + self.ready_path)

    def _tail(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()[-15:]
        return "; log tail:\n" + "\n".join(lines)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        log.info("stopping %s (pid %d)", self.name, self.process.pid)
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    @property
    def pid(self) -> int:
        """The pid of the top process."""
        if self.process is None:
            raise ServerError(f"{self.name} is not running")
        return self.process.pid

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)


def bentoml_server(
    port: int,
    env: dict[str, str],
    log_path: Path | None = None,
    cpus: set[int] | None = None,
    wrapper: Sequence[str] = (),
) -> Server:
    """``bentoml serve service:DigitService`` on 127.0.0.1:``port`` with ``DIGITS_*`` ``env``.

    ``wrapper`` is a command prefix the server runs under (e.g. ``unshare`` for a private
    ``/etc/hosts``).
    """
    argv = [*wrapper, str(BENTOML), "serve", "service:DigitService", "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    return Server("bentoml serve", argv, f"http://127.0.0.1:{port}", env, "/readyz", log_path, cpus)


@contextmanager
def running(server: Server, timeout: float = 180.0) -> Iterator[Server]:
    """Start ``server`` for the duration of a with-block."""
    server.start(timeout)
    try:
        yield server
    finally:
        server.stop()


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_rss(pid: int) -> int:
    """Resident memory (bytes) of a process and all its descendants; 0 if it is gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def cassandra_pids() -> list[int]:
    """Pids of running Cassandra daemons on this machine (read-only lookup)."""
    pids = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if any("CassandraDaemon" in part for part in cmdline):
            pids.append(int(process.info["pid"]))
    return pids


class PeakMemory:
    """Samples the RSS of some process trees in a background thread and keeps the peaks."""

    def __init__(self, pids: dict[str, list[int]], interval: float = 0.5) -> None:
        self.pids = pids
        self.interval = interval
        self.peaks: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pids in self.pids.items():
                rss = sum(tree_rss(pid) for pid in pids)
                self.peaks[name] = max(self.peaks[name], rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by some processes and all their descendants."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


def system_busy_seconds() -> float:
    """CPU time all processes of the machine used so far (every core, idle and iowait excluded)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))
