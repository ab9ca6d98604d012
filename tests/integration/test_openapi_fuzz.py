"""Fuzz every documented operation of a real server against its own ``/docs.json``.

Schemathesis reads the document the server serves, generates valid and invalid requests for
each operation (its examples, coverage, fuzzing and stateful phases, as ``st run`` does), sends
them over HTTP and checks every answer: no 5xx, a documented status, content type, headers and
body schema, invalid input refused with a 4xx, valid input accepted, 405 for undocumented
methods.

The run goes through schemathesis' engine rather than its pytest plugin: the plugin's
fixture-backed loader (``schemathesis.pytest.from_fixture``) fails on pytest 9.2, and the
document can only be loaded once the session's server is up.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from tests.integration.conftest import Served

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Operations whose body is an image of a digit.
IMAGE_OPERATIONS = "^/(predict|predict_batch|upload)$"
#: Examples per operation and phase: enough to reach every parameter, under ~3 minutes here.
MAX_EXAMPLES = 100


def fuzz_config(cursor: str) -> SchemathesisConfig:
    """Every check, bounded examples, and no positive-data acceptance for the image bodies.

    ``cursor`` is one the server issued: ``GET /predictions`` is fuzzed with it, since any
    string is a schema-valid cursor but only the server's own are (rightly) accepted.

    Positive-data acceptance (a request valid by the document must be accepted) is off for
    ``/predict``, ``/predict_batch`` and ``/upload`` only: schemathesis cannot generate an image
    of a digit, so its "valid" multipart body holds random bytes, which the service rightly
    refuses with 400 (not an image) or 422 (no digit). Everything else is still checked there,
    including that invalid bodies are refused.
    """
    return SchemathesisConfig.from_dict(
        {
            "seed": 20261124,
            "generation": {"max-examples": MAX_EXAMPLES},
            "checks": {"enabled": True},
            "operations": [
                {
                    "include-path-regex": IMAGE_OPERATIONS,
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
                {
                    "include-path": "/predictions",
                    "include-method": "GET",
                    "parameters": {"query.cursor": cursor},
                },
            ],
        }
    )


def run_failures(schema: schemathesis.BaseSchema) -> list[str]:
    """Run schemathesis over ``schema``; one line per failed check or engine error."""
    failures: list[str] = []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.status == Status.FAILURE:
            failures.extend(_failed_checks(event))
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: error {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            failures.extend(f"after run: {failure.title}" for failure in event.failures)
    return sorted(set(failures))


def _failed_checks(event: events.ScenarioFinished) -> list[str]:
    lines = []
    for nodes in event.recorder.checks.values():
        for node in nodes:
            if node.status == Status.FAILURE and node.failure_info is not None:
                failure = node.failure_info.failure
                lines.append(
                    f"{event.label} [{event.phase}] {node.name}: {failure.title}: "
                    f"{failure.message}\n    {node.failure_info.code_sample}"
                )
    return lines


@pytest.fixture
def issued_cursor(client: httpx.Client, digit_png: dict[int, bytes]) -> str:
    """A history cursor the server issued (after recording two predictions)."""
    for digit in (1, 2):
        files = {"image": ("digit.png", digit_png[digit], "image/png")}
        assert client.post("/predict", files=files).status_code == 200
    cursor = client.get("/predictions", params={"limit": 1}).json()["cursor"]
    assert cursor
    return str(cursor)


def test_every_operation_conforms_to_its_document(served: Served, issued_cursor: str) -> None:
    config = fuzz_config(issued_cursor)
    schema = schemathesis.openapi.from_url(f"{served.url}/docs.json", config=config)
    failures = run_failures(schema)
    assert not failures, f"{len(failures)} schemathesis failures:\n" + "\n".join(failures)
