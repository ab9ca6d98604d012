"""The benchmark's BentoML-documentation peers serve the model as the guides teach (real serve)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from benchmarks.answers import answered_digit
from benchmarks.peers import PEER_SERVICES, peer_server
from benchmarks.results import PEERS, TARGETS
from loadtests.stack import Server, free_port, running
from tests.support.server import private_home

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _served_tag() -> str:
    from benchmarks.ceiling import served_model

    return str(served_model().tag)


@pytest.fixture(scope="module", params=PEERS)
def peer(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Server]]:
    """Each peer on a free port, serving the served model's Keras file."""
    name: str = request.param
    workdir: Path = tmp_path_factory.mktemp(name)
    home = private_home(workdir, {})
    server = peer_server(
        name, free_port(), _served_tag(), log_path=workdir / "server.log",
        env={"BENTOML_HOME": str(home)},
    )  # fmt: skip
    with running(server, timeout=240) as started:
        yield name, started


def test_the_peers_are_the_benchmarks_targets() -> None:
    assert tuple(PEER_SERVICES) == PEERS
    assert set(PEERS) <= set(TARGETS)


def test_a_peer_reads_mnist_digits_sent_with_its_documented_field(
    peer: tuple[str, Server], digit_png: dict[int, bytes]
) -> None:
    name, server = peer
    field = PEER_SERVICES[name].field_name
    for digit, png in digit_png.items():
        response = httpx.post(
            server.url + "/predict", files={field: (f"{digit}.png", png, "image/png")}, timeout=60
        )
        assert response.status_code == 200, response.text
        assert answered_digit(response.content) == digit, (name, digit, response.text)


def test_a_peer_answers_concurrent_requests_each_with_its_own_digit(
    peer: tuple[str, Server], digit_png: dict[int, bytes]
) -> None:
    """Batched or not, 40 requests at once get 40 answers, each for the image it sent."""
    name, server = peer
    field = PEER_SERVICES[name].field_name
    sent = [digit for _ in range(4) for digit in digit_png]

    def post(digit: int) -> tuple[int, object]:
        files = {field: (f"{digit}.png", digit_png[digit], "image/png")}
        response = httpx.post(server.url + "/predict", files=files, timeout=120)
        return response.status_code, json.loads(response.content)

    with ThreadPoolExecutor(len(sent)) as pool:
        answers = list(pool.map(post, sent))
    expected = [[d] if name == "docs-batching" else d for d in sent]
    assert answers == [(200, answer) for answer in expected]
