"""Starting the BentoML-documentation peers (``baselines/bentoml_docs.py``) for a measurement."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loadtests.stack import BENTOML, Server

MODULE = "benchmarks.baselines.bentoml_docs"


@dataclass(frozen=True)
class Peer:
    """One peer: its service class, the multipart field it reads and what it is."""

    service_class: str
    field_name: str
    description: str


PEER_SERVICES = {
    "docs-batching": Peer(
        "DocsBatching", "images", "BentoML docs: adaptive batching, Keras model.predict per batch"
    ),
    "docs-predict": Peer(
        "DocsPredict", "image", "BentoML docs: PIL.Image in, Keras model.predict per request"
    ),
}


def peer_server(
    name: str,
    port: int,
    model_tag: str,
    workers: int = 1,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """``bentoml serve`` of the peer ``name`` on 127.0.0.1:``port`` (started by the caller)."""
    peer = PEER_SERVICES[name]
    argv = [str(BENTOML), "serve", f"{MODULE}:{peer.service_class}", "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    peer_env = {"DOCS_PEER_MODEL": model_tag, "DOCS_PEER_WORKERS": str(workers), **(env or {})}
    return Server(name, argv, f"http://127.0.0.1:{port}", peer_env, "/readyz", log_path)
