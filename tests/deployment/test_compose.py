"""compose.yaml and bentofile.yaml read as a specification of the deployment.

compose.yaml is valid Compose, its start-up order is sound (every `service_healthy` dependency has
a healthcheck, the one-shot job is one-shot), secrets are required variables with no defaults,
images come from variables, and the service is published on loopback only, hardened and bounded.
bentofile.yaml installs the locked closure of pyproject.toml's runtime pins and bakes in no secret.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tomllib
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
BENTOFILE = ROOT / "bentofile.yaml"
VENV_BIN = ROOT / ".venv" / "bin"
LONG_RUNNING = ("cassandra", "service")
REQUIRED_VAR = re.compile(r"^\$\{([A-Z0-9_]+)\?[^}]+\}$")
IMAGE_FROM_VAR = re.compile(r"^\$\{[A-Z0-9_]+(:-[^}]+)?\}$")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def dependencies() -> list[tuple[str, str, str]]:
    return [
        (name, dependency, spec["condition"])
        for name, service in services().items()
        for dependency, spec in service.get("depends_on", {}).items()
    ]


def environment(service: str) -> dict[str, str]:
    return services()[service].get("environment", {})


def test_compose_file_validates_against_the_compose_specification() -> None:
    result = subprocess.run(
        [
            str(VENV_BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            COMPOSE_FILE,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_refuses_to_run_without_the_passwords() -> None:
    env = {k: v for k, v in os.environ.items() if "PASSWORD" not in k}
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode != 0
    assert "PASSWORD" in result.stderr


@pytest.mark.parametrize(("service", "dependency", "condition"), dependencies())
def test_each_dependency_has_what_its_condition_waits_for(
    service: str, dependency: str, condition: str
) -> None:
    assert dependency in services(), f"{service} depends on unknown {dependency}"
    target = services()[dependency]
    if condition == "service_healthy":
        assert target.get("healthcheck", {}).get("test"), f"{dependency} has no healthcheck"
    elif condition == "service_completed_successfully":
        assert target.get("restart") == "no", f"{dependency} must be a one-shot job"
    else:
        pytest.fail(f"{service} waits for {dependency} with condition {condition}")


def test_start_order_is_cassandra_then_schema_then_service() -> None:
    graph = {name: set(spec.get("depends_on", {})) for name, spec in services().items()}
    order = list(TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert order.index("cassandra") < order.index("schema") < order.index("service")
    assert services()["service"]["depends_on"] == {
        "cassandra": {"condition": "service_healthy"},
        "schema": {"condition": "service_completed_successfully"},
    }


@pytest.mark.parametrize("service", ["cassandra", "schema", "service", "loadtest"])
def test_images_come_from_variables_with_upstream_or_project_defaults(service: str) -> None:
    assert IMAGE_FROM_VAR.match(services()[service]["image"])


def test_cassandra_uses_the_official_image_contract() -> None:
    cassandra = services()["cassandra"]
    env = environment("cassandra")
    assert cassandra["image"] == "${CASSANDRA_IMAGE:-cassandra:5.0}"
    for variable in ("CASSANDRA_CLUSTER_NAME", "CASSANDRA_SEEDS", "MAX_HEAP_SIZE", "HEAP_NEWSIZE"):
        assert variable in env
    assert "-Dcassandra.settings.authenticator=PasswordAuthenticator" in env["JVM_EXTRA_OPTS"]
    assert "cassandra-data:/var/lib/cassandra" in cassandra["volumes"]
    assert "cassandra-data" in compose()["volumes"]
    assert "cqlsh" in " ".join(cassandra["healthcheck"]["test"])


def test_every_password_is_a_required_variable_without_default() -> None:
    passwords = {
        (name, key): value
        for name in services()
        for key, value in environment(name).items()
        if "PASSWORD" in key
    }
    assert ("service", "DIGITS_CASSANDRA_PASSWORD") in passwords
    assert ("schema", "DIGITS_CASSANDRA_ADMIN_PASSWORD") in passwords
    for where, value in passwords.items():
        assert REQUIRED_VAR.match(str(value)), f"{where} must be ${{VAR?message}}, not {value!r}"
    assert not re.search(r"PASSWORD[A-Z_]*:-", COMPOSE_FILE.read_text())


def test_generated_stack_env_fills_exactly_the_required_variables() -> None:
    spec = importlib.util.spec_from_file_location("stack_env", ROOT / "docker" / "stack_env.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    required = set(re.findall(r"\$\{([A-Z0-9_]+)\?", COMPOSE_FILE.read_text()))
    first, second = module.render_env(), module.render_env()
    assert set(re.findall(r"^([A-Z0-9_]+)=", first, re.MULTILINE)) == required
    assert first != second, "passwords must be random"


def test_service_is_published_on_loopback_by_default() -> None:
    assert services()["service"]["ports"] == ["${DIGITS_BIND:-127.0.0.1}:${DIGITS_PORT:-3000}:3000"]
    assert all("ports" not in services()[name] for name in ("cassandra", "schema", "loadtest"))


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_healthcheck_limits_and_restart_policy(service: str) -> None:
    spec = services()[service]
    assert spec["healthcheck"]["test"]
    assert spec["restart"] == "unless-stopped"
    limits = spec["deploy"]["resources"]["limits"]
    assert limits["memory"]
    assert limits["cpus"]


def test_service_health_is_its_readiness_endpoint() -> None:
    assert "/readyz" in " ".join(services()["service"]["healthcheck"]["test"])


@pytest.mark.parametrize("service", ["schema", "service"])
def test_project_containers_run_read_only_with_writable_state(service: str) -> None:
    spec = services()[service]
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert any(mount.startswith("/var/lib/digits/home:") for mount in spec["tmpfs"])


def test_spool_survives_container_restarts_on_a_named_volume() -> None:
    assert "spool:/var/lib/digits/spool" in services()["service"]["volumes"]
    assert "spool" in compose()["volumes"]


def test_loadtest_is_an_opt_in_profile_running_the_project_locustfile() -> None:
    loadtest = services()["loadtest"]
    assert loadtest["profiles"] == ["loadtest"]
    assert loadtest["depends_on"] == {"service": {"condition": "service_healthy"}}
    command = loadtest["command"]
    assert command[:3] == ["-f", "loadtests/locustfile.py", "--headless"]
    assert "--host=http://service:3000" in command
    assert "./loadtests:/home/locust/loadtests:ro" in loadtest["volumes"]
    assert (ROOT / "loadtests" / "locustfile.py").exists()


def bentofile() -> dict[str, Any]:
    return yaml.safe_load(BENTOFILE.read_text())


def locked() -> dict[str, str]:
    """Name -> version of every package in requirements/service.lock."""
    pins = {}
    for line in (ROOT / "requirements" / "service.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    return pins


def test_bentofile_installs_the_locked_closure_of_the_runtime_pins() -> None:
    python = bentofile()["python"]
    assert python["requirements_txt"] == "requirements/service.lock"
    assert python["lock_packages"] is False  # already locked: nothing floats at build time
    assert "packages" not in python
    lock = locked()
    for pin in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, version = pin.split("==")
        assert lock.get(re.sub(r"[-_.]+", "-", name.lower())) == version, pin


def test_the_lock_pins_every_package_and_carries_no_training_stack() -> None:
    lock = locked()
    assert len(lock) > 20  # the indirect dependencies too
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version) for version in lock.values())
    assert not {"tensorflow", "tensorflow-cpu", "keras", "pytest"} & set(lock)


def test_bentofile_packs_the_model_the_service_declares_not_latest() -> None:
    spec = bentofile()
    assert spec["service"] == "service:DigitService"
    assert spec["name"] == "digits-service"
    # A `models:` list would pack a version by tag (e.g. `latest`, an unpromoted candidate)
    # next to the promoted one service.py declares.
    assert "models" not in spec
    assert spec["labels"]


def test_bentofile_bakes_in_no_secret() -> None:
    names = [env["name"] for env in bentofile().get("envs", [])]
    assert not [name for name in names if re.search(r"PASSWORD|SECRET|TOKEN|KEY", name)]


INCLUDED = [
    "service.py",
    "settings.py",
    "serving/health.py",
    "imaging/normalize.py",
    "storage/migrate.py",
    "storage/schema.cql",
    "storage/bootstrap.py",
]


@pytest.mark.parametrize("path", INCLUDED)
def test_bentofile_includes_what_the_service_and_the_schema_job_run(path: str) -> None:
    patterns = bentofile()["include"]
    assert (ROOT / path).exists()
    assert any(gitignore_match(path, pattern) for pattern in patterns), path


def gitignore_match(path: str, pattern: str) -> bool:
    """Match like BentoML's include patterns: `**/` spans folders, `*` stays within one."""
    regex = ""
    rest = pattern
    while rest:
        if rest.startswith("**/"):
            regex, rest = regex + "(?:.*/)?", rest[3:]
        elif rest.startswith("**"):
            regex, rest = regex + ".*", rest[2:]
        elif rest[0] == "*":
            regex, rest = regex + "[^/]*", rest[1:]
        else:
            regex, rest = regex + re.escape(rest[0]), rest[1:]
    return re.fullmatch(regex, path) is not None
