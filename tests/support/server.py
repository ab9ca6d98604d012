"""Run a real ``bentoml serve`` of the project in a subprocess, for tests over HTTP.

The launcher is the load tests' and benchmark's own (:mod:`loadtests.stack`); this adds what
tests need: a free port, a log in the test's directory and a BentoML home of the server's own.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from devtools.waiting import wait_until
from loadtests.stack import bentoml_server, free_port, http_ok, running

#: Set to an image (e.g. ``digits-service:latest``) to run the served suites against it instead.
IMAGE_VARIABLE = "DIGITS_TEST_IMAGE"
#: Where the test's work directory appears inside the container.
DATA_IN_CONTAINER = "/data"


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


@contextmanager
def running_image(
    image: str, env: dict[str, str], workdir: Path, timeout: float = 180
) -> Iterator[str]:
    """Run the service ``image`` as it ships (read-only root, its own user) on a free port.

    ``workdir`` is mounted at ``/data`` and every ``env`` value naming it is rewritten to point
    there, so the test reads the store the container writes; the container's output goes to
    ``workdir/server.log`` as with :func:`running_service`. Yields the base URL.
    """
    port = free_port()
    name = f"digits-test-{uuid.uuid4().hex[:8]}"
    workdir.chmod(0o777)  # the image's user (uid 1034) writes the store and spool here
    inside = {k: v.replace(str(workdir), DATA_IN_CONTAINER) for k, v in env.items()}
    flags = [f"--env={key}={value}" for key, value in inside.items()]
    volume = f"--volume={workdir}:{DATA_IN_CONTAINER}"
    run = ["docker", "run", "--detach", "--read-only", f"--name={name}", volume, *flags]
    subprocess.run([*run, f"--publish=127.0.0.1:{port}:3000", image], check=True)
    log = (workdir / "server.log").open("ab")
    follower = subprocess.Popen(["docker", "logs", "--follow", name], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(url + "/readyz"), timeout, f"{image} ready", every=0.5)
        yield url
    finally:
        subprocess.run(["docker", "rm", "--force", "--volumes", name], capture_output=True)
        follower.wait(30)
        log.close()


@contextmanager
def serving(env: dict[str, str], workdir: Path) -> Iterator[str]:
    """The service under test: the image in ``$DIGITS_TEST_IMAGE`` if set, else bentoml serve."""
    image = os.environ.get(IMAGE_VARIABLE)
    if image:
        with running_image(image, env, workdir) as url:
            yield url
    else:
        with running_service(env, workdir) as url:
            yield url
