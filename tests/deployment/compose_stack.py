"""Drive the compose stack of compose.yaml from tests: engine, images, up, health, CQL, teardown.

Everything goes through the real tools: docker/engine.sh and docker/build-images.sh, docker-compose
with the unchanged compose.yaml, ``docker exec ... cqlsh`` as the CQL client, and HTTP on the port
published on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devtools.waiting import wait_until
from loadtests.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def stream(cmd: list[str], timeout: float = 600) -> None:
    """Run a long command with its output (progress lines) passed through; raise if it fails."""
    subprocess.run(cmd, cwd=ROOT, timeout=timeout, check=True)


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command, return its stdout; raise with its output when it fails."""
    result = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:4])}... exited {result.returncode}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def engine_running() -> bool:
    """Whether a Docker Engine answers on the default socket."""
    probe = subprocess.run(["docker", "version"], capture_output=True, check=False, timeout=30)
    return probe.returncode == 0


@contextmanager
def docker_engine() -> Iterator[None]:
    """A running Docker Engine; started (and afterwards stopped) here if none was running."""
    started = not engine_running()
    if started:
        run(["docker/engine.sh", "start"], timeout=120)
    try:
        yield
    finally:
        if started:
            run(["docker/engine.sh", "stop"], timeout=120)


@dataclass
class Phases:
    """Wall-clock time of each named phase, printed as a table at the end."""

    times: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name`` (recorded even when it fails)."""
        start = time.monotonic()
        print(f"[e2e] {name} ...", flush=True)
        try:
            yield
        finally:
            elapsed = time.monotonic() - start
            self.times.append((name, elapsed))
            print(f"[e2e] {name}: {elapsed:.1f} s", flush=True)

    def report(self) -> str:
        """The phases and their total, one per line."""
        lines = [f"  {name:<28} {seconds:8.1f} s" for name, seconds in self.times]
        total = sum(seconds for _, seconds in self.times)
        return "\n".join(["e2e phases:", *lines, f"  {'total':<28} {total:8.1f} s"])


@dataclass
class ComposeStack:
    """One isolated copy of the stack: own project name, random passwords, free loopback port."""

    project: str
    env_file: Path
    port: int = field(default_factory=free_port)
    passwords: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.passwords = {
            "DIGITS_CASSANDRA_ADMIN_PASSWORD": secrets.token_hex(16),
            "DIGITS_CASSANDRA_PASSWORD": secrets.token_hex(16),
            "DIGITS_FEEDBACK_SECRET": secrets.token_hex(16),
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.passwords.items()))
        self.env_file.chmod(0o600)

    @property
    def base_url(self) -> str:
        """Where the service is published."""
        return f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, timeout: float = 900) -> str:
        """Run docker-compose for this project with the unchanged compose.yaml."""
        env = {**os.environ, "DIGITS_PORT": str(self.port), "DIGITS_BIND": "127.0.0.1"}
        cmd = ["docker-compose", "-p", self.project, "--env-file", str(self.env_file)]
        return run([*cmd, "-f", str(COMPOSE_FILE), *args], env=env, timeout=timeout)

    def container(self, service: str) -> str:
        """The container id of a service."""
        container_id = self.compose("ps", "-q", service).strip()
        if not container_id:
            raise RuntimeError(f"no container for service {service}")
        return container_id

    def inspect(self, service: str) -> dict:
        """``docker inspect`` of a service's container."""
        return json.loads(run(["docker", "inspect", self.container(service)]))[0]

    def wait_healthy(self, service: str, timeout: float = 300) -> None:
        """Wait until the container's own healthcheck reports healthy."""
        status = "unknown"

        def healthy() -> bool:
            nonlocal status
            state = self.inspect(service)["State"]
            status = state.get("Health", {}).get("Status", state["Status"])
            if state["Status"] in {"exited", "dead"}:
                raise RuntimeError(f"{service} {state['Status']}:\n{self._logs(service)}")
            return status == "healthy"

        wait_until(healthy, timeout, f"{service} healthy", every=2, detail=lambda: status)

    def _logs(self, service: str) -> str:
        return run(["docker", "logs", "--tail", "60", self.container(service)])

    def wait_ready(self, timeout: float = 300) -> None:
        """Wait until the service answers 200 on /readyz through the published port."""
        answer: object = "no answer"

        def ready() -> bool:
            nonlocal answer
            try:
                status, body = http_get(f"{self.base_url}/readyz", timeout=5)
            except OSError as exc:  # refused or reset while the server (re)starts
                answer = exc
                return False
            answer = (status, body[:200])
            return status == 200

        wait_until(ready, timeout, "service ready", every=2, detail=lambda: str(answer))

    def cql(self, statement: str) -> str:
        """Run one CQL statement with cqlsh inside the Cassandra container, as the app role."""
        password = self.passwords["DIGITS_CASSANDRA_PASSWORD"]
        cmd = ["docker", "exec", self.container("cassandra"), "cqlsh", "--username=digits"]
        return run([*cmd, f"--password={password}", "-e", statement], timeout=120)

    def prediction_ids(self) -> set[str]:
        """Every id in the predictions table."""
        return set(UUID_RE.findall(self.cql("SELECT id FROM digits.predictions")))

    def volumes(self) -> list[str]:
        """Docker volumes that belong to this project."""
        label = f"label=com.docker.compose.project={self.project}"
        return run(["docker", "volume", "ls", "-q", "--filter", label]).split()

    def down(self) -> None:
        """Remove containers, network and volumes (every profile)."""
        self.compose("--profile", "loadtest", "down", "-v", "--remove-orphans", timeout=300)


def http_get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    """Status and body of a GET (HTTP errors are answers, not exceptions)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def curl_form(url: str, field_name: str, path: Path) -> str:
    """POST one file as a multipart form field with curl (the project's original client)."""
    return run(["curl", "-sS", "--fail-with-body", "-F", f"{field_name}=@{path}", url], timeout=60)
