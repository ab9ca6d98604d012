"""End to end: build the images, run compose.yaml unchanged, upload real MNIST digits, count rows.

The whole path a user takes with Docker: a Docker Engine (started here if none runs), the images
(`docker/build-images.sh`: the Bento via `bentoml containerize`, cassandra:5.0 or its stand-in),
`docker-compose up` of the unchanged compose.yaml, real MNIST test digits uploaded through the
port published on 127.0.0.1 with curl (original `/upload` form) and to `/predict`, every
prediction found as a row by cqlsh inside the Cassandra container, a restart of the service
container that loses nothing, a drill (Cassandra stopped, predictions spooled, the service
container removed and created anew on the same spool volume, Cassandra back: every spooled
prediction recorded exactly once), and a teardown that removes the volumes even when a step fails.
Phases are timed and printed. Run alone with ``make e2e``.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from devtools.waiting import wait_until
from tests.deployment.compose_stack import (
    ComposeStack,
    Phases,
    curl_form,
    docker_engine,
    free_port,
    http_get,
    run,
    stream,
)
from tests.support.digits import mnist_test_digits, write_pngs

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(3600)]

DIGITS = 12  # each is uploaded twice: once with curl to /upload, once to /predict
MIN_ACCURACY = 0.9
SERVICE_USER_UID = "1034"  # BentoML's non-root `bentoml` user
IMAGE_SIZE = ["docker", "image", "inspect", "--format", "{{.Size}}", "digits-service:latest"]
ALONE_ARGS = ["-e", "DIGITS_STORE_URL=none://", "digits-service:latest"]
HEALTH = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
UPLOAD_ANSWER = re.compile(r"^(\d)\. success\n?$")


def upload_all(stack: ComposeStack, files: list[tuple[Path, int]]) -> tuple[list, list]:
    """Upload every file to /upload (curl) and /predict; return both kinds of answers."""
    legacy, predictions = [], []
    for path, _ in files:
        text = curl_form(f"{stack.base_url}/upload", "image01", path)
        match = UPLOAD_ANSWER.match(text)
        assert match, f"/upload answered {text!r}"
        legacy.append(int(match.group(1)))
        predictions.append(json.loads(curl_form(f"{stack.base_url}/predict", "image", path)))
    return legacy, predictions


def wait_for_rows(stack: ComposeStack, expected: int, timeout: float = 60) -> set[str]:
    """The prediction ids once the table holds ``expected`` rows (writes may lag a little)."""
    ids: set[str] = set()

    def enough() -> bool:
        nonlocal ids
        ids = stack.prediction_ids()
        return len(ids) >= expected

    with contextlib.suppress(TimeoutError):  # the caller checks what arrived
        wait_until(enough, timeout, f"{expected} rows", every=2)
    return ids


def check_runtime_hardening(stack: ComposeStack) -> None:
    """The service runs as non-root on a read-only root file system, with a healthcheck."""
    info = stack.inspect("service")
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    uid = run(["docker", "exec", stack.container("service"), "id", "-u"]).strip()
    assert uid == SERVICE_USER_UID
    image = json.loads(run(["docker", "image", "inspect", info["Image"]]))[0]
    assert "/readyz" in " ".join(image["Config"]["Healthcheck"]["Test"])
    check_image_hygiene(stack.container("service"))


def check_image_hygiene(container: str) -> None:
    """No compilers, git, wheelhouse or package caches in the service image; no build-time URL."""
    script = (
        "for tool in gcc cc make git; do command -v $tool; done; "
        "ls -d /opt/wheelhouse /root/.cache/uv /root/.cache/pip 2>/dev/null; true"
    )
    found = run(["docker", "exec", "-u", "0", container, "sh", "-c", script]).split()
    assert found == [], f"the service image holds {found}"
    env = run(["docker", "exec", container, "env"])
    assert "FIND_LINKS" not in env, env


@contextmanager
def torn_down(stack: ComposeStack, phases: Phases) -> Iterator[None]:
    """Remove the stack with its volumes afterwards, whatever happened inside."""
    try:
        yield
    finally:
        with phases.phase("teardown (volumes too)"):
            stack.down()
        assert stack.volumes() == []


def build_and_start(stack: ComposeStack, phases: Phases) -> None:
    """Build the images, then bring the unchanged compose.yaml up until the service is ready."""
    with phases.phase("build images"):
        stream(["docker/build-images.sh", "service", "cassandra"], timeout=2400)
        print(f"[e2e] digits-service:latest is {int(run(IMAGE_SIZE)) / 1e6:.0f} MB")
    with phases.phase("stack up (healthy)"):
        stack.compose("up", "-d", timeout=900)
        stack.wait_healthy("service")
        stack.wait_ready()


def check_image_alone_read_only(phases: Phases) -> None:
    """The image by itself, read-only root and no mounts, turns healthy via its HEALTHCHECK.

    Also prints the time from ``docker run`` to the first 200 on ``/readyz`` (published on a
    free loopback port): the container's start-up, what scale-up waits for.
    """
    name = f"digits-readonly-{int(time.time())}"
    port = free_port()
    with phases.phase("image alone, read-only"):
        started = time.monotonic()
        publish = ["-p", f"127.0.0.1:{port}:3000"]
        run(["docker", "run", "-d", "--read-only", "--name", name, *publish, *ALONE_ARGS])
        try:
            ready_after = wait_for_readyz(f"http://127.0.0.1:{port}/readyz", started)
            print(f"[e2e] container start to /readyz 200: {ready_after:.1f} s", flush=True)
            health = lambda: run(["docker", "inspect", "--format", HEALTH, name]).strip()  # noqa: E731
            wait_until(lambda: health() != "starting", 180, "healthcheck verdict", every=3)
            assert health() == "healthy", run(["docker", "logs", "--tail", "30", name])
            assert run(["docker", "exec", name, "id", "-u"]).strip() == SERVICE_USER_UID
        finally:
            run(["docker", "rm", "-f", "-v", name])


def wait_for_readyz(url: str, started: float, timeout: float = 180) -> float:
    """Seconds from ``started`` until ``url`` answers 200 (polled every 0.2 s)."""

    def ready() -> bool:
        try:
            return http_get(url, timeout=2)[0] == 200
        except OSError:  # not listening yet, or reset while it starts
            return False

    wait_until(ready, timeout - (time.monotonic() - started), f"{url} ready", every=0.2)
    return time.monotonic() - started


def check_answers(stack: ComposeStack, files: list[tuple[Path, int]], phases: Phases) -> list:
    """Both APIs give the same, mostly right digits; returns the /predict answers."""
    with phases.phase(f"upload {len(files)} digits x2"):
        legacy, predictions = upload_all(stack, files)
    labels = [label for _, label in files]
    digits = [p["digit"] for p in predictions]
    assert legacy == digits, "/upload and /predict disagree on the same images"
    accuracy = float(np.mean(np.array(digits) == np.array(labels)))
    assert accuracy >= MIN_ACCURACY, f"answers {digits} for labels {labels}"
    return predictions


def check_rows(stack: ComposeStack, predictions: list, expected: int, phases: Phases) -> set[str]:
    """Every upload is one row in Cassandra; returns the ids."""
    with phases.phase("rows in Cassandra"):
        ids = wait_for_rows(stack, expected)
    assert len(ids) == expected, f"{len(ids)} rows for {expected} uploads"
    assert {p["id"] for p in predictions} <= ids
    return ids


def check_restart(
    stack: ComposeStack, files: list[tuple[Path, int]], predictions: list, phases: Phases
) -> None:
    """A restarted service container still finds every record and keeps recording."""
    ids = stack.prediction_ids()
    started_at = stack.inspect("service")["State"]["StartedAt"]
    with phases.phase("restart service"):
        stack.compose("restart", "service", timeout=300)
        stack.wait_healthy("service")
        stack.wait_ready()
    assert stack.inspect("service")["State"]["StartedAt"] != started_at
    assert stack.prediction_ids() == ids
    for prediction in predictions:
        status, body = http_get(f"{stack.base_url}/predictions/{prediction['id']}")
        assert status == 200, body
        assert json.loads(body)["digit"] == prediction["digit"]
    _, after = upload_all(stack, files[:2])
    assert len(wait_for_rows(stack, len(ids) + 4)) == len(ids) + 4
    assert {p["id"] for p in after} <= stack.prediction_ids()


def readiness(stack: ComposeStack) -> dict:
    """The service's /readyz report (200 or 503)."""
    _, body = http_get(f"{stack.base_url}/readyz", timeout=5)
    return json.loads(body)


def check_outage_drill(stack: ComposeStack, files: list[tuple[Path, int]], phases: Phases) -> None:
    """Answers given during an outage survive the loss of the container that spooled them."""
    before = stack.prediction_ids()
    with phases.phase("outage: uploads spooled"):
        stack.compose("stop", "cassandra", timeout=300)
        _, spooled = upload_all(stack, files[:3])
        storage = readiness(stack)["storage"]
    assert storage["state"] == "spooling", storage
    assert storage["spool_records"] >= 2 * 3, storage  # /upload and /predict each
    with phases.phase("service container recreated"):
        old = stack.container("service")
        stack.compose("rm", "-f", "-s", "service", timeout=300)
        stack.compose("start", "cassandra", timeout=300)
        stack.wait_healthy("cassandra", timeout=600)
        stack.compose("up", "-d", "service", timeout=600)
        stack.wait_healthy("service")
        stack.wait_ready()
    assert stack.container("service") != old
    with phases.phase("spool replayed"):
        ids = wait_for_rows(stack, len(before) + 2 * 3, timeout=180)
        drained = lambda: not readiness(stack)["storage"]["spool_records"]  # noqa: E731
        with contextlib.suppress(TimeoutError):  # asserted below, with the numbers
            wait_until(drained, 60, "spool drained", every=2)
    assert readiness(stack)["storage"]["spool_records"] == 0
    assert len(ids) == len(before) + 2 * 3  # nothing lost, nothing twice
    assert {p["id"] for p in spooled} <= ids
    by_day = stack.cql("SELECT id FROM digits.predictions_by_day")
    for prediction in spooled:
        assert by_day.count(prediction["id"]) == 1, prediction["id"]


def test_stack_answers_records_every_upload_and_survives_a_restart(tmp_path: Path) -> None:
    phases = Phases()
    stack = ComposeStack(project=f"digits-e2e-{int(time.time())}", env_file=tmp_path / "e2e.env")
    files = write_pngs(mnist_test_digits(DIGITS), tmp_path)
    try:
        with docker_engine(), torn_down(stack, phases):
            build_and_start(stack, phases)
            check_image_alone_read_only(phases)
            check_runtime_hardening(stack)
            predictions = check_answers(stack, files, phases)
            check_rows(stack, predictions, 2 * DIGITS, phases)
            check_restart(stack, files, predictions, phases)
            check_outage_drill(stack, files, phases)
    finally:
        print(phases.report(), flush=True)
