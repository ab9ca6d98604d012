"""Rendering the kustomize overlays of k8s/ and looking things up in the result.

Shared by tests/deployment/test_k8s.py. Rendering works on a copy of ``k8s/`` and
``loadtests/`` whose Secret env files are the committed examples, so the tests never read (or
print) real credentials and need no ``make k8s-secrets`` first.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod", "loadtest")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")

Manifest = dict[str, Any]


@dataclass(frozen=True)
class PodTemplate:
    """The pod template of one workload, with where it came from."""

    kind: str
    name: str
    labels: dict[str, str]
    spec: dict[str, Any]

    @property
    def ref(self) -> str:
        """``Kind/name`` for messages."""
        return f"{self.kind}/{self.name}"

    def containers(self, init: bool = True) -> list[dict[str, Any]]:
        """Main containers, then init containers when ``init``."""
        found = list(self.spec.get("containers", []))
        return found + list(self.spec.get("initContainers", [])) if init else found


def _copy_ignoring_real_secrets(source: Path, target: Path) -> None:
    def ignore(_: str, names: list[str]) -> list[str]:
        return [
            name
            for name in names
            if name == "__pycache__" or (name.endswith(".env") and ".example." not in name)
        ]

    shutil.copytree(source, target, ignore=ignore)


def render(overlay: str, workdir: Path) -> list[Manifest]:
    """``kubectl kustomize k8s/overlays/<overlay>`` on a copy with example secrets."""
    root = workdir / overlay
    _copy_ignoring_real_secrets(K8S, root / "k8s")
    _copy_ignoring_real_secrets(ROOT / "loadtests", root / "loadtests")
    for example in (root / "k8s" / "secrets").glob("*.example.env"):
        shutil.copy(example, example.with_name(example.name.replace(".example.env", ".env")))
    result = subprocess.run(
        ["kubectl", "kustomize", str(root / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def objects(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """Every object of one kind."""
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The object of that kind and name (generated ones also with their hash suffix)."""
    pattern = re.compile(rf"{re.escape(name)}(-[a-z0-9]{{10}})?")
    found = [m for m in objects(manifests, kind) if pattern.fullmatch(m["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_templates(manifests: list[Manifest]) -> list[PodTemplate]:
    """The pod template of every workload."""
    templates = []
    for manifest in manifests:
        if manifest["kind"] in WORKLOAD_KINDS:
            template = manifest["spec"]["template"]
            templates.append(
                PodTemplate(
                    kind=manifest["kind"],
                    name=manifest["metadata"]["name"],
                    labels=template["metadata"].get("labels", {}),
                    spec=template["spec"],
                )
            )
    return templates


def pod_template(manifests: list[Manifest], kind: str, name: str) -> PodTemplate:
    """The pod template of one workload."""
    found = [t for t in pod_templates(manifests) if (t.kind, t.name) == (kind, name)]
    assert len(found) == 1, f"no workload {kind}/{name}"
    return found[0]


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def selected_pods(manifests: list[Manifest], selector: dict[str, Any]) -> list[PodTemplate]:
    """Pod templates whose labels a selector matches."""
    return [t for t in pod_templates(manifests) if selector_matches(selector, t.labels)]


def env_of(container: dict[str, Any], manifests: list[Manifest]) -> dict[str, str]:
    """The environment a container gets: envFrom ConfigMaps/Secrets, then env (values only)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(one(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
        if "secretRef" in source:
            env.update(_secret_data(one(manifests, "Secret", source["secretRef"]["name"])))
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable.get("valueFrom", {}):
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = _secret_data(one(manifests, "Secret", ref["name"]))[ref["key"]]
    return env


def _secret_data(secret: Manifest) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a nested manifest."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)
