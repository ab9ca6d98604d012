"""Helpers for the browser tests: where Chromium is, the service under test, an open page.

Chromium is Debian's, driven by Playwright through its executable path (Playwright's own browser
downloads are never used); `make browser` installs both.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "reports" / "screenshots"
CHROMIUM = os.environ.get("DIGITS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: The digit of the uploaded photo (the drawn one is a 7) and the seed of its rendering.
PHOTO_LABEL = 4
PHOTO_SEED = 3

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Server:
    """A running service: its base URL, with a trailing slash."""

    url: str

    def get_json(self, path: str) -> Any:
        """GET a JSON document from the service."""
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())


@dataclass
class PageSession:
    """An open page plus what it did: every request URL and every script error."""

    page: Any
    requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def open_session(browser: Any, url: str, viewport: dict[str, int], touch: bool) -> PageSession:
    """Open ``url`` in a new browser context, recording requests and script errors."""
    context = browser.new_context(
        viewport=viewport, has_touch=touch, is_mobile=touch, device_scale_factor=1
    )
    page = context.new_page()
    session = PageSession(page=page)
    page.on("request", lambda request: session.requests.append(request.url))
    # Intercept file pickers from the start: `expect_file_chooser` alone switches interception
    # on without waiting, so a fast keyboard activation could open (and lose) a real dialog.
    page.on("filechooser", lambda chooser: None)
    page.on("pageerror", lambda error: session.page_errors.append(str(error)))
    page.on(
        "console",
        lambda message: message.type == "error" and session.console_errors.append(message.text),
    )
    page.goto(url)
    page.wait_for_load_state("networkidle")
    # Keyboard activation of the file picker needs the page to have focus.
    page.bring_to_front()
    return session
