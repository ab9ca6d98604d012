"""Fixtures for the browser tests: one real service and one headless Chromium per session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHOTO_LABEL,
    PHOTO_SEED,
    SCREENSHOTS,
    PageSession,
    Server,
    open_session,
)
from tests.support.photos import photo_like
from tests.support.server import running_service


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real `bentoml serve service:DigitService` with an empty SQLite store.

    Set DIGITS_BROWSER_TEST_URL (e.g. http://127.0.0.1:3000/) to test a service already running.
    """
    existing = os.environ.get("DIGITS_BROWSER_TEST_URL")
    if existing:
        yield Server(url=existing.rstrip("/") + "/")
        return
    workdir = tmp_path_factory.mktemp("web-service")
    env = {
        "DIGITS_STORE_URL": f"sqlite:///{workdir / 'predictions.db'}",
        "DIGITS_SPOOL_DIR": str(workdir / "spool"),
    }
    with running_service(env, workdir) as url:
        yield Server(url=url + "/")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched by Playwright from its executable path."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run `make browser` (installs Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Python playwright is not installed: run `make browser`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def photo(
    mnist_test: tuple[np.ndarray, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A JPEG photo (about 660x590, dark ink on tinted paper) of MNIST's first test 4."""
    images, labels = mnist_test
    digit = images[int(np.flatnonzero(labels == PHOTO_LABEL)[0])]
    rendered = photo_like(digit, PHOTO_LABEL, np.random.default_rng(PHOTO_SEED))
    path = tmp_path_factory.mktemp("photo") / "photo-of-a-four.jpg"
    path.write_bytes(rendered.data)
    return path


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Folder for screenshot artifacts (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def open_page(browser: Any, server: Server) -> Iterator[Callable[..., PageSession]]:
    """Open the service's page in a fresh browser context: ``open_page(viewport, touch=False)``."""
    sessions: list[PageSession] = []

    def _open(viewport: dict[str, int], *, touch: bool = False) -> PageSession:
        session = open_session(browser, server.url, viewport, touch)
        sessions.append(session)
        return session

    yield _open
    for session in sessions:
        session.page.context.close()
