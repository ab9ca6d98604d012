"""The OpenAPI document: valid OpenAPI 3.1, every route of the app, every documented status."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from jsonschema_rs import ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from serving.openapi import DOC_PATH, OpenAPIMiddleware

ROOT = Path(__file__).resolve().parents[2]
UPLOAD_APIS = ("/predict", "/predict_batch", "/upload")
#: BentoML's own plumbing, not part of the service's API: its client's schema and the
#: Swagger UI's assets.
INTERNAL = {"/schema.json", "/static_content"}


@pytest.fixture(scope="module")
def service() -> Any:
    import service

    return service


@pytest.fixture(scope="module")
def document(service: Any) -> dict[str, Any]:
    return service.openapi_document()


def _app_routes(service: Any) -> set[tuple[str, str]]:
    """(path, method) of every route the served app answers, HEAD aside."""
    from _bentoml_impl.server.app import ServiceAppFactory

    service.DigitService.inject_config()
    app = ServiceAppFactory(service.DigitService, is_main=True)()
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        inner = getattr(getattr(route, "app", None), "routes", None)
        if isinstance(route, Mount) and route.path in INTERNAL:
            continue
        for leaf in inner if isinstance(route, Mount) and inner else [route]:
            if isinstance(leaf, Route) and leaf.path not in INTERNAL:
                found |= {(leaf.path, m.lower()) for m in leaf.methods or () if m != "HEAD"}
    return found


def _readme_error_statuses() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Errors", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| ([45][0-9]{2}) \|", section, flags=re.MULTILINE))


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(json.loads(json.dumps(document))).validate()


def test_the_validator_does_catch_an_invalid_document(document: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(document))
    broken["paths"]["/predict"]["post"]["responses"]["200"] = {"content": 5}
    with pytest.raises(ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def test_every_route_of_the_app_is_documented(service: Any, document: dict[str, Any]) -> None:
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == _app_routes(service)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    text = json.dumps(document["paths"]) + json.dumps(document["components"])
    names = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    assert names
    assert names <= set(document["components"]["schemas"])


#: Refusals of the history routes only: a missing API token (401), a missing feedback token (403).
HISTORY_ONLY = {"401", "403"}


def test_the_upload_apis_document_every_readme_status(document: dict[str, Any]) -> None:
    statuses = _readme_error_statuses() - HISTORY_ONLY
    assert statuses == {"400", "409", "413", "415", "422", "503"}
    for path in UPLOAD_APIS:
        responses = document["paths"][path]["post"]["responses"]
        assert statuses | {"200"} == set(responses), path


def test_unknown_ids_are_documented_as_404(document: dict[str, Any]) -> None:
    for path, method in [
        ("/predictions/{prediction_id}", "get"),
        ("/predictions/{prediction_id}/feedback", "post"),
    ]:
        assert "404" in document["paths"][path][method]["responses"]


def test_json_refusals_are_error_objects_and_upload_answers_text(
    document: dict[str, Any],
) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["type"] == "string"
    for path, item in document["paths"].items():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/readyz":
                    media = "text/plain" if path == "/upload" else "application/json"
                    assert set(response["content"]) == {media}, (path, status)
    upload = document["paths"]["/upload"]["post"]["responses"]["200"]["content"]
    assert set(upload) == {"text/plain"}


def test_request_bodies_and_parameters(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path, field in zip(UPLOAD_APIS, ("image", "images", "image01"), strict=True):
        body = paths[path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        schema = body["properties"][field]
        assert (schema.get("items") or schema)["format"] == "binary"
        assert body["required"] == [field]
    feedback = paths["/predictions/{prediction_id}/feedback"]["post"]["requestBody"]
    assert set(feedback["content"]) == {"application/json"}
    label = document["components"]["schemas"]["FeedbackIn"]["properties"]["label"]
    assert (label["type"], label["minimum"], label["maximum"]) == ("integer", 0, 9)
    query = {p["name"]: p["schema"] for p in paths["/predictions"]["get"]["parameters"]}
    assert (query["limit"]["minimum"], query["limit"]["maximum"]) == (1, 100)
    assert query["cursor"]["type"] == "string"
    assert query["day"]["format"] == "date"


def _doc_client() -> TestClient:
    app = Starlette(routes=[Route(DOC_PATH, lambda _: PlainTextResponse("bentoml's"))])
    app.add_middleware(OpenAPIMiddleware, build=lambda: {"openapi": "3.1.0"})
    return TestClient(app)


def test_the_middleware_serves_the_document() -> None:
    response = _doc_client().get(DOC_PATH)
    assert response.json() == {"openapi": "3.1.0"}
    assert response.headers["content-type"] == "application/json"


def test_the_middleware_leaves_other_methods_to_the_app() -> None:
    assert _doc_client().post(DOC_PATH).status_code == 405


def test_the_upload_apis_document_the_idempotency_key_and_its_replay_header(
    document: dict[str, Any],
) -> None:
    for path in UPLOAD_APIS:
        post = document["paths"][path]["post"]
        headers = [p for p in post["parameters"] if p["in"] == "header"]
        assert [p["name"] for p in headers] == ["Idempotency-Key"]
        assert headers[0]["schema"]["maxLength"] == 255
        assert "Idempotent-Replayed" in post["responses"]["200"]["headers"]


def test_the_history_routes_document_the_access_refusals(document: dict[str, Any]) -> None:
    assert _readme_error_statuses() >= HISTORY_ONLY
    for path in ("/predictions", "/predictions/{prediction_id}", "/stats"):
        assert "401" in document["paths"][path]["get"]["responses"], path
    feedback = document["paths"]["/predictions/{prediction_id}/feedback"]["post"]
    assert "403" in feedback["responses"]
    assert document["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
