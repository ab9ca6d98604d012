"""The page's files as served by `serving.web.routes()` (in process, no browser needed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from serving import web


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(Starlette(routes=web.routes())) as http:
        yield http


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/static/app.js", "text/javascript"),
        ("/static/style.css", "text/css"),
    ],
)
def test_page_files_are_served_with_a_same_origin_policy(client, path, media_type):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/static/__init__.py", "/static/README.md", "/static/index.html", "/static/x.js"]
)
def test_nothing_else_in_the_folder_is_served(client, path):
    assert client.get(path).status_code == 404


def test_the_page_references_only_its_own_files():
    html = (web.WEB_DIR / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert sources, "the page links its script and style sheet"
    for source in sources:
        assert "//" not in source, f"{source} would load from elsewhere"
    local = [s for s in sources if s.startswith("static/")]
    assert {Path(s).name for s in local} == set(web.ASSETS)
