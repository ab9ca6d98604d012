"""Hostile uploads cannot exhaust the server: per-image and per-request pixel limits, a bound on
concurrent decodes, and the peak memory they leave (README "Reliability and security")."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support import hostile
from tests.support.rss import PeakRss
from tests.support.server import running_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Peak RSS of the server's process tree (supervisor + worker) under the hostile load below.
#: Measured on the development machine at about 1.0 GiB (idle ~0.7 GiB); the bound leaves room.
PEAK_RSS_BOUND = int(1.5 * 1024**3)
CONCURRENT = 16


def _png(width: int, height: int) -> bytes:
    """A nearly blank page of that size: a few KiB that decode to width x height pixels."""
    image = Image.new("L", (width, height), 255)
    image.paste(0, (width // 2 - 40, height // 2 - 200, width // 2 + 40, height // 2 + 200))
    return hostile.encode(image, "PNG")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    workdir = tmp_path_factory.mktemp("bounded")
    env = {"DIGITS_STORE_URL": f"sqlite:///{workdir / 'predictions.db'}"}
    with running_process(env, workdir) as (url, process):
        yield url, process.pid


def test_an_image_too_large_to_decode_is_refused_cheaply(server: tuple[str, int]) -> None:
    url, _ = server
    bomb = _png(8000, 5000)  # 40 MP: within the stored-size limit, over the decoded one
    with httpx.Client(base_url=url, timeout=60) as client:
        response = client.post("/predict", files={"image": ("big.png", bomb, "image/png")})
    assert response.status_code == 413
    assert "too large to decode" in response.json()["error"]


def test_a_batch_over_the_request_pixel_budget_is_413(server: tuple[str, int]) -> None:
    url, _ = server
    page = _png(4000, 3900)  # 15.6 MP each, five of them: over the 64 MP budget
    files = [("images", (f"{i}.png", page, "image/png")) for i in range(5)]
    with httpx.Client(base_url=url, timeout=60) as client:
        response = client.post("/predict_batch", files=files)
    assert response.status_code == 413
    assert "pixels to decode" in response.json()["error"]


def test_many_large_uploads_at_once_keep_memory_bounded(
    server: tuple[str, int], tmp_path: Path
) -> None:
    url, pid = server
    page = _png(4000, 3990)  # just under the decoded limit: the most one image may cost

    def post(_: int) -> int:
        with httpx.Client(base_url=url, timeout=120) as client:
            files = {"image": ("page.png", page, "image/png")}
            return client.post("/predict", files=files).status_code

    with PeakRss(pid) as rss, ThreadPoolExecutor(CONCURRENT) as pool:
        idle = rss.now()
        statuses = list(pool.map(post, range(2 * CONCURRENT)))
    print(f"\n{CONCURRENT} concurrent 16 MP uploads: RSS idle {idle / 2**20:.0f} MiB, "
          f"peak {rss.peak / 2**20:.0f} MiB")  # fmt: skip
    assert all(status < 500 for status in statuses), statuses
    assert rss.peak < PEAK_RSS_BOUND, f"peak RSS {rss.peak / 2**20:.0f} MiB"
