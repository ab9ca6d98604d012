"""The Kubernetes deployment (k8s/): what `kubectl apply -k k8s/overlays/<name>` would create.

Every overlay is rendered with `kubectl kustomize`, every object validated against the official
schemas of several Kubernetes versions in strict mode, and the policies the deployment promises
are checked on the rendered objects: resources, probes, Pod Security Standard "restricted",
selectors, ports, network isolation, settings and image references.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from settings import ENV_PREFIX, Settings, settings_from_env
from storage.cassandra_config import parse_store_url
from tests.deployment.k8s_manifests import (
    K8S,
    OVERLAYS,
    ROOT,
    Manifest,
    PodTemplate,
    env_of,
    objects,
    one,
    pod_template,
    pod_templates,
    render,
    selected_pods,
    selector_matches,
)

# Recent Kubernetes releases whose official schemas the manifests must satisfy.
KUBERNETES_VERSIONS = ("1.32.0", "1.35.0", "1.37.0")
SCRIPTS = K8S / "base" / "scripts"
SERVICE = ("Deployment", "digits-service")
CASSANDRA = ("StatefulSet", "cassandra")
SCHEMA_JOB = ("Job", "digits-schema")
LOCUST = (("Deployment", "locust-master"), ("Deployment", "locust-worker"))
CQL_PORT, INTRA_NODE_PORT, SERVICE_PORT = 9042, 7000, 3000

# Settings a cluster deployment must set explicitly (the defaults suit a laptop, not a cluster).
CLUSTER_SETTINGS = (
    "store_url",
    "spool_dir",
    "spool_max_bytes",
    "cassandra_local_dc",
    "cassandra_consistency",
    "cassandra_replication",
    "cassandra_username",
    "cassandra_password",
    "max_upload_bytes",
    "workers",
    "inference_threads",
    "log_level",
)

PSS_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def rendered_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Manifest]]:
    workdir = tmp_path_factory.mktemp("k8s")
    return {name: render(name, workdir) for name in OVERLAYS}


@pytest.fixture(scope="module")
def manifests(rendered_all: dict[str, list[Manifest]], overlay: str) -> list[Manifest]:
    return rendered_all[overlay]


@pytest.fixture(scope="module")
def loadtest(rendered_all: dict[str, list[Manifest]]) -> list[Manifest]:
    """The overlay with the in-cluster load generator (dev + k8s/loadtest)."""
    return rendered_all["loadtest"]


def service_get_routes() -> frozenset[str]:
    """GET routes of the real BentoML service (service:DigitService), built but not started."""
    from service import DigitService  # heavy: only for the tests that need it

    app = DigitService.to_asgi(is_main=True)
    return frozenset(
        route.path
        for route in app.routes
        if getattr(route, "methods", None) is None or "GET" in route.methods
    )


def pss_restricted_violations(template: PodTemplate) -> list[str]:
    """What keeps a pod from the Pod Security Standard "restricted" (empty when it complies)."""
    spec, problems = template.spec, []
    pod_security = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(flag)
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= PSS_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} of type {kinds}")
    if pod_security.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    for container in template.containers():
        security = container.get("securityContext", {})
        name = container["name"]
        if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot not set")
        if security.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        if security.get("privileged"):
            problems.append(f"{name}: privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation not false")
        capabilities = security.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities not all dropped")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: capabilities added")
        seccomp = security.get("seccompProfile") or pod_security.get("seccompProfile") or {}
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
        if container.get("ports") and any(p.get("hostPort") for p in container["ports"]):
            problems.append(f"{name}: hostPort")
    return problems


def container_port(template: PodTemplate, target: int | str) -> int | None:
    """The container port a Service targetPort or probe port (number or name) resolves to."""
    for container in template.containers(init=False):
        for port in container.get("ports", []):
            if target in (port["containerPort"], port.get("name")):
                return port["containerPort"]
    return None


def policies_selecting(manifests: list[Manifest], template: PodTemplate) -> list[Manifest]:
    return [
        policy
        for policy in objects(manifests, "NetworkPolicy")
        if selector_matches(policy["spec"]["podSelector"], template.labels)
    ]


def ingress_sources(manifests: list[Manifest], target: PodTemplate, port: int) -> set[str] | None:
    """Workloads allowed to reach ``port`` of ``target``; None when any source may."""
    sources: set[str] = set()
    for policy in policies_selecting(manifests, target):
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            peers = rule.get("from")
            if not peers:
                return None
            for peer in peers:
                if set(peer) != {"podSelector"}:
                    return None  # namespaces or IP blocks: beyond this namespace's pods
                sources |= {t.ref for t in selected_pods(manifests, peer["podSelector"])}
    return sources


def egress_allowed(
    manifests: list[Manifest], source: PodTemplate, target: PodTemplate, port: int
) -> bool:
    """Whether the policies selecting ``source`` let it open ``port`` on ``target``."""
    for policy in policies_selecting(manifests, source):
        for rule in policy["spec"].get("egress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            peers = rule.get("to")
            if not peers:
                return True
            for peer in peers:
                if "podSelector" in peer and selector_matches(peer["podSelector"], target.labels):
                    return True
    return False


def settings_env(manifests: list[Manifest]) -> dict[str, str]:
    container = pod_template(manifests, *SERVICE).containers(init=False)[0]
    return {k: v for k, v in env_of(container, manifests).items() if k.startswith(ENV_PREFIX)}


def parse_quantity_bytes(text: str) -> int:
    """nginx size syntax (``5m``, ``512k``, ``1g``) in bytes."""
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", text).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


# --- rendering and schemas ------------------------------------------------------------------


def test_overlay_renders_every_component(manifests: list[Manifest]) -> None:
    expected = {
        ("Namespace", "digits"),
        ("Service", "cassandra"),
        ("Service", "cassandra-seeds"),
        ("StatefulSet", "cassandra"),
        ("PodDisruptionBudget", "cassandra"),
        ("Job", "digits-schema"),
        ("Deployment", "digits-service"),
        ("Service", "digits"),
        ("PodDisruptionBudget", "digits-service"),
        ("Ingress", "digits"),
        ("ConfigMap", "digits-settings"),
        ("Secret", "digits-cassandra-app"),
        ("Secret", "digits-cassandra-admin"),
        ("NetworkPolicy", "default-deny"),
    }
    for kind, name in expected:
        if kind == "Namespace":
            assert objects(manifests, "Namespace"), "no Namespace"
        else:
            one(manifests, kind, name)


def test_only_the_loadtest_overlay_runs_a_load_generator(
    rendered_all: dict[str, list[Manifest]],
) -> None:
    for name, rendered in rendered_all.items():
        found = {(m["kind"], m["metadata"]["name"]) for m in rendered if "locust" in str(m)}
        if name == "loadtest":
            assert {*LOCUST} <= found
            one(rendered, "ConfigMap", "locust-scenario")
        else:
            assert not found, f"{name} ships {sorted(found)}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_passes_the_official_schema_in_strict_mode(
    manifests: list[Manifest], version: str
) -> None:
    failures = []
    for manifest in manifests:
        ref = f"{manifest['kind']}/{manifest['metadata']['name']}"
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            failures.append(f"{ref}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            failures.append(f"{ref}: {error.message}")
    assert not failures, "\n".join(failures)


def test_strict_validation_rejects_an_unknown_field(manifests: list[Manifest]) -> None:
    deployment = one(manifests, *SERVICE)
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


# --- resources, probes, pod security ------------------------------------------------------


def test_every_container_has_cpu_and_memory_requests_and_limits(
    manifests: list[Manifest],
) -> None:
    for template in pod_templates(manifests):
        for container in template.containers():
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), (
                    f"{template.ref} {container['name']} lacks {bound}"
                )


def test_every_long_running_container_has_readiness_and_liveness_probes(
    manifests: list[Manifest],
) -> None:
    for template in pod_templates(manifests):
        if template.kind == "Job":
            continue  # runs to completion: nothing to route to or restart
        for container in template.containers(init=False):
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{template.ref} {container['name']} has no {probe}"


def test_the_service_has_a_startup_probe_for_model_loading(manifests: list[Manifest]) -> None:
    container = pod_template(manifests, *SERVICE).containers(init=False)[0]
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"


def test_every_pod_meets_pod_security_standard_restricted(manifests: list[Manifest]) -> None:
    for template in pod_templates(manifests):
        assert pss_restricted_violations(template) == [], template.ref


def test_the_namespace_enforces_pod_security_standard_restricted(
    manifests: list[Manifest],
) -> None:
    (namespace,) = objects(manifests, "Namespace")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(
        m["metadata"].get("namespace") == namespace["metadata"]["name"]
        for m in manifests
        if m["kind"] != "Namespace"
    )


def test_service_pods_run_read_only_with_writable_empty_dirs(manifests: list[Manifest]) -> None:
    template = pod_template(manifests, *SERVICE)
    container = template.containers(init=False)[0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert template.spec["securityContext"]["runAsNonRoot"] is True
    assert template.spec["enableServiceLinks"] is False
    volumes = {v["name"]: v for v in template.spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    for path in ("/tmp", image_env("BENTOML_HOME", "/var/lib/digits/home")):
        assert "emptyDir" in mounts[path], path


def image_env(variable: str, default: str) -> str:
    """A variable the service image sets (docker/bento.Dockerfile.template), else ``default``."""
    template = ROOT / "docker" / "bento.Dockerfile.template"
    text = template.read_text() if template.exists() else ""
    found = re.search(rf"\b{variable}=(\S+)", text)
    return found.group(1) if found else default


def test_the_spool_is_on_a_volume_that_survives_container_restarts(
    manifests: list[Manifest],
) -> None:
    template = pod_template(manifests, *SERVICE)
    container = template.containers(init=False)[0]
    spool_dir = settings_from_env(settings_env(manifests)).spool_dir
    volumes = {v["name"]: v for v in template.spec["volumes"]}
    mounts = {Path(m["mountPath"]): volumes[m["name"]] for m in container["volumeMounts"]}
    assert spool_dir in mounts, f"{spool_dir} is not a mounted volume"
    claim_name = mounts[spool_dir]["persistentVolumeClaim"]["claimName"]
    (claim,) = [m for m in objects(manifests, "PersistentVolumeClaim") if m["metadata"]["name"]
                == claim_name]  # fmt: skip
    # Shared by every replica: a deleted pod's spooled records are drained by the others.
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_a_terminating_service_pod_finishes_requests_and_drains_within_its_grace(
    manifests: list[Manifest],
) -> None:
    template = pod_template(manifests, *SERVICE)
    container = template.containers(init=False)[0]
    wait = container["lifecycle"]["preStop"]["exec"]["command"]
    assert wait[0] == "sleep"
    deadline = settings_from_env(settings_env(manifests)).request_deadline_s
    assert template.spec["terminationGracePeriodSeconds"] >= int(wait[1]) + deadline + 20


# --- selectors and ports -------------------------------------------------------------------


def test_workload_selectors_match_their_pod_labels(manifests: list[Manifest]) -> None:
    for manifest in manifests:
        if manifest["kind"] in ("Deployment", "StatefulSet"):
            selector = manifest["spec"]["selector"]
            labels = manifest["spec"]["template"]["metadata"]["labels"]
            assert selector_matches(selector, labels), manifest["metadata"]["name"]


def test_services_select_pods_and_target_their_container_ports(
    manifests: list[Manifest],
) -> None:
    for service in objects(manifests, "Service"):
        pods = selected_pods(manifests, {"matchLabels": service["spec"]["selector"]})
        name = service["metadata"]["name"]
        assert pods, f"Service {name} selects no pods"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for pod in pods:
                assert container_port(pod, target) is not None, (
                    f"Service {name} port {target} is no container port of {pod.ref}"
                )


def test_disruption_budgets_and_policies_select_existing_pods(manifests: list[Manifest]) -> None:
    for budget in objects(manifests, "PodDisruptionBudget"):
        assert selected_pods(manifests, budget["spec"]["selector"]), budget["metadata"]["name"]
    for policy in objects(manifests, "NetworkPolicy"):
        assert selected_pods(manifests, policy["spec"]["podSelector"]), policy["metadata"]["name"]


def test_the_autoscaler_targets_the_service_deployment(manifests: list[Manifest]) -> None:
    for autoscaler in objects(manifests, "HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        one(manifests, target["kind"], target["name"])
        assert target["name"] == SERVICE[1]


def test_the_ingress_routes_to_the_service_http_port(manifests: list[Manifest]) -> None:
    ingress = one(manifests, "Ingress", "digits")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = one(manifests, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_probe_paths_are_routes_of_the_service(manifests: list[Manifest]) -> None:
    routes = service_get_routes()
    template = pod_template(manifests, *SERVICE)
    container = template.containers(init=False)[0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        assert http["path"] in routes, f"{probe} {http['path']} not in {sorted(routes)}"
        assert container_port(template, http["port"]) == SERVICE_PORT


def test_prometheus_scrapes_the_metrics_route(manifests: list[Manifest]) -> None:
    annotations = one(manifests, *SERVICE)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == SERVICE_PORT
    assert annotations["prometheus.io/path"] in service_get_routes()


# --- settings and images -------------------------------------------------------------------


def test_every_setting_variable_given_to_the_service_is_a_real_setting(
    manifests: list[Manifest],
) -> None:
    container = pod_template(manifests, *SERVICE).containers(init=False)[0]
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    unknown = {k for k in env_of(container, manifests) if k.startswith(ENV_PREFIX)} - known
    assert not unknown, f"not settings.py fields: {sorted(unknown)}"


def test_the_service_gets_every_setting_a_cluster_needs(manifests: list[Manifest]) -> None:
    provided = settings_env(manifests)
    missing = [n for n in CLUSTER_SETTINGS if ENV_PREFIX + n.upper() not in provided]
    assert not missing, f"not provided: {missing}"
    settings = settings_from_env(provided)  # validates every value
    assert settings.cassandra_username
    assert settings.cassandra_password.get_secret_value()


def test_credentials_come_from_secrets_not_the_config_map(manifests: list[Manifest]) -> None:
    config = one(manifests, "ConfigMap", "digits-settings")["data"]
    assert not {k for k in config if "PASSWORD" in k or "USERNAME" in k}
    secret = one(manifests, "Secret", "digits-cassandra-app")
    assert set(secret["data"]) == {"DIGITS_CASSANDRA_USERNAME", "DIGITS_CASSANDRA_PASSWORD"}


def test_the_store_url_names_the_cassandra_pods(manifests: list[Manifest]) -> None:
    settings = settings_from_env(settings_env(manifests))
    target = parse_store_url(settings.store_url)
    statefulset = one(manifests, *CASSANDRA)
    governing = statefulset["spec"]["serviceName"]
    pods = {f"cassandra-{i}.{governing}" for i in range(statefulset["spec"]["replicas"])}
    assert set(target.hosts) <= pods
    assert target.port == CQL_PORT


def test_data_centre_names_agree(manifests: list[Manifest]) -> None:
    settings = settings_from_env(settings_env(manifests))
    env = env_of(pod_template(manifests, *CASSANDRA).containers(init=False)[0], manifests)
    assert settings.cassandra_local_dc == env["CASSANDRA_DC"]
    if settings.cassandra_replication.startswith("NetworkTopologyStrategy:"):
        spec = settings.cassandra_replication.split(":", 1)[1]
        assert {item.split("=")[0] for item in spec.split(",")} == {env["CASSANDRA_DC"]}


def test_the_ingress_body_limit_equals_the_upload_limit(manifests: list[Manifest]) -> None:
    settings = settings_from_env(settings_env(manifests))
    annotations = one(manifests, "Ingress", "digits")["metadata"]["annotations"]
    limit = parse_quantity_bytes(annotations["nginx.ingress.kubernetes.io/proxy-body-size"])
    assert limit == settings.max_upload_bytes


def built_image(variable: str, default: str) -> str:
    """The image reference the container build tags (``export VAR ?= ...`` in mk/containers.mk)."""
    makefile = ROOT / "mk" / "containers.mk"
    text = makefile.read_text() if makefile.exists() else ""
    found = re.search(rf"^export {variable} \?= (\S+)", text, re.MULTILINE)
    return found.group(1) if found else default


def test_the_service_image_is_the_one_the_build_produces(manifests: list[Manifest]) -> None:
    bento = yaml.safe_load((ROOT / "bentofile.yaml").read_text())["name"]
    expected = built_image("DIGITS_IMAGE", f"{bento}:latest")
    assert expected.split(":")[0] == bento
    images = {
        container["image"]
        for template in pod_templates(manifests)
        for container in template.containers()
        if container["image"].split(":")[0] == bento
    }
    assert images == {expected}
    assert pod_template(manifests, *SERVICE).containers()[0]["image"] == expected


def test_the_load_generator_image_is_the_one_the_build_produces(
    loadtest: list[Manifest],
) -> None:
    expected = built_image("LOADGEN_IMAGE", "digits-loadgen:latest")
    for ref in LOCUST:
        for container in pod_template(loadtest, *ref).containers():
            assert container["image"] == expected


def test_locally_built_images_are_not_pulled(manifests: list[Manifest]) -> None:
    for template in pod_templates(manifests):
        for container in template.containers():
            if container["image"].startswith(("digits-service:", "digits-loadgen:")):
                assert container["imagePullPolicy"] == "IfNotPresent", template.ref


def test_cassandra_runs_the_official_5_0_image(manifests: list[Manifest]) -> None:
    images = {c["image"] for c in pod_template(manifests, *CASSANDRA).containers()}
    assert images == {"cassandra:5.0"}


# --- Cassandra -----------------------------------------------------------------------------


def test_cassandra_statefulset_is_production_shaped(manifests: list[Manifest]) -> None:
    statefulset = one(manifests, *CASSANDRA)
    spec = statefulset["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    pod = spec["template"]["spec"]
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
    assert selector_matches(anti[0]["labelSelector"], spec["template"]["metadata"]["labels"])
    container = pod["containers"][0]
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["nodetool", "drain"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/var/lib/cassandra"] == "data"


def test_cassandra_services_headless_and_seeds_publish_not_ready(
    manifests: list[Manifest],
) -> None:
    statefulset = one(manifests, *CASSANDRA)
    seeds = one(manifests, "Service", statefulset["spec"]["serviceName"])
    assert seeds["spec"]["clusterIP"] == "None"
    assert seeds["spec"]["publishNotReadyAddresses"] is True
    assert one(manifests, "Service", "cassandra")["spec"]["clusterIP"] == "None"
    env = env_of(pod_template(manifests, *CASSANDRA).containers(init=False)[0], manifests)
    governing = statefulset["spec"]["serviceName"]
    for seed in env["CASSANDRA_SEEDS"].split(","):
        ordinal = int(re.fullmatch(rf"cassandra-(\d+)\.{governing}", seed).group(1))
        assert ordinal < statefulset["spec"]["replicas"]


def test_cassandra_disruption_budget_allows_one_node_down(manifests: list[Manifest]) -> None:
    assert one(manifests, "PodDisruptionBudget", "cassandra")["spec"]["maxUnavailable"] == 1


def test_cassandra_heap_is_sized_from_the_memory_limit(manifests: list[Manifest]) -> None:
    container = pod_template(manifests, *CASSANDRA).containers(init=False)[0]
    (variable,) = [v for v in container["env"] if v["name"] == "MEMORY_LIMIT_MIB"]
    field = variable["valueFrom"]["resourceFieldRef"]
    assert (field["resource"], field["divisor"]) == ("limits.memory", "1Mi")
    assert (
        container["resources"]["requests"]["memory"] == container["resources"]["limits"]["memory"]
    ), "memory request = limit: the JVM does not give memory back"


def test_cassandra_start_sizes_the_heap_at_half_the_limit(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    entry = fake_bin / "docker-entrypoint.sh"
    entry.write_text('#!/bin/bash\necho "heap=$MAX_HEAP_SIZE new=$HEAP_NEWSIZE args=$*"\n')
    entry.chmod(0o755)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "cassandra.yaml").write_text("authenticator: AllowAllAuthenticator\n")
    result = subprocess.run(
        ["bash", str(SCRIPTS / "cassandra-start.sh")],
        env={
            "PATH": f"{fake_bin}:/usr/bin:/bin",
            "MEMORY_LIMIT_MIB": "8192",
            "CASSANDRA_CONF": str(conf),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert "heap=4096M new=1024M args=cassandra -f" in result.stdout


@pytest.mark.parametrize(
    "original",
    [
        "authenticator: AllowAllAuthenticator\nauthorizer: AllowAllAuthorizer\n"
        "role_manager: CassandraRoleManager\n",
        "authenticator:\n  class_name : org.apache.cassandra.auth.AllowAllAuthenticator\n"
        "authorizer: AllowAllAuthorizer\nrole_manager: CassandraRoleManager\n",
    ],
    ids=["flat", "nested-5.0"],
)
def test_cassandra_config_switches_on_password_authentication(
    tmp_path: Path, original: str
) -> None:
    config = tmp_path / "cassandra.yaml"
    config.write_text("cluster_name: x\n" + original + "num_tokens: 16\n")
    for _ in range(2):  # idempotent
        subprocess.run(
            ["bash", str(SCRIPTS / "cassandra-config.sh"), str(config)],
            check=True,
            capture_output=True,
        )
        parsed = yaml.safe_load(config.read_text())
        assert parsed["authenticator"] == "PasswordAuthenticator"
        assert parsed["authorizer"] == "CassandraAuthorizer"
        assert (parsed["cluster_name"], parsed["num_tokens"]) == ("x", 16)


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.sh")))
def test_shell_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", str(SCRIPTS / script)], check=True)


# --- schema job ----------------------------------------------------------------------------


def test_the_schema_job_runs_the_projects_one_bootstrap_in_the_service_image(
    manifests: list[Manifest],
) -> None:
    template = pod_template(manifests, *SCHEMA_JOB)
    assert "initContainers" not in template.spec
    (job,) = template.spec["containers"]
    assert job["args"] == ["python", "-m", "storage.bootstrap"]  # as compose's schema service
    assert (ROOT / "storage" / "bootstrap.py").exists()
    assert job["image"] == pod_template(manifests, *SERVICE).containers()[0]["image"]
    env = env_of(job, manifests)
    settings = settings_from_env({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    assert settings.store_url == settings_from_env(settings_env(manifests)).store_url
    assert settings.cassandra_admin_username == "digits_admin"
    assert settings.cassandra_admin_password.get_secret_value()
    assert settings.cassandra_username == "digits"
    assert settings.cassandra_password.get_secret_value()


def test_the_service_never_gets_the_admin_credentials(manifests: list[Manifest]) -> None:
    container = pod_template(manifests, *SERVICE).containers(init=False)[0]
    names = {s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s}
    assert all(name.startswith(("digits-cassandra-app", "digits-access")) for name in names)
    assert not any("admin" in name for name in names)


def test_the_service_gets_its_api_token_and_feedback_key_from_a_secret(
    manifests: list[Manifest],
) -> None:
    container = pod_template(manifests, *SERVICE).containers(init=False)[0]
    names = {s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s}
    (access,) = [n for n in names if n.startswith("digits-access")]
    secret = one(manifests, "Secret", access)
    assert {"DIGITS_API_TOKEN", "DIGITS_FEEDBACK_SECRET"} <= set(secret["data"])


def test_the_ingress_routes_only_the_public_api(manifests: list[Manifest]) -> None:
    (ingress,) = objects(manifests, "Ingress")
    paths = {p["path"]: p["pathType"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert {"/predict", "/upload", "/predictions", "/stats"} <= set(paths)
    for internal in ("/metrics", "/readyz", "/livez"):
        assert not any(
            internal == path or (kind == "Prefix" and internal.startswith(path.rstrip("/") + "/"))
            for path, kind in paths.items()
        ), internal


# --- network policies ----------------------------------------------------------------------


def test_the_namespace_denies_all_traffic_by_default(manifests: list[Manifest]) -> None:
    policy = one(manifests, "NetworkPolicy", "default-deny")["spec"]
    assert policy["podSelector"] == {}
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in policy
    assert "egress" not in policy


def test_only_the_service_and_the_schema_job_reach_cql(manifests: list[Manifest]) -> None:
    cassandra = pod_template(manifests, *CASSANDRA)
    sources = ingress_sources(manifests, cassandra, CQL_PORT)
    assert sources == {"Deployment/digits-service", "Job/digits-schema"}
    for client in (SERVICE, SCHEMA_JOB):
        assert egress_allowed(manifests, pod_template(manifests, *client), cassandra, CQL_PORT)


def test_only_cassandra_nodes_reach_the_intra_node_port(manifests: list[Manifest]) -> None:
    cassandra = pod_template(manifests, *CASSANDRA)
    assert ingress_sources(manifests, cassandra, INTRA_NODE_PORT) == {"StatefulSet/cassandra"}
    assert egress_allowed(manifests, cassandra, cassandra, INTRA_NODE_PORT)


def test_locust_reaches_the_service_and_workers_reach_the_master(
    loadtest: list[Manifest],
) -> None:
    service = pod_template(loadtest, *SERVICE)
    master, worker = (pod_template(loadtest, *ref) for ref in LOCUST)
    for locust in (master, worker):
        assert egress_allowed(loadtest, locust, service, SERVICE_PORT)
    assert egress_allowed(loadtest, worker, master, 5557)
    assert "Deployment/locust-worker" in ingress_sources(loadtest, master, 5557)
    assert ingress_sources(loadtest, service, SERVICE_PORT) is None  # Ingress, Prometheus


# --- load testing --------------------------------------------------------------------------


def loadtests_imports(module: Path) -> set[str]:
    """The ``loadtests.*`` modules a file imports."""
    tree = ast.parse(module.read_text())
    return {
        node.module.split(".")[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("loadtests.")
    }


def test_the_scenario_config_map_carries_the_locustfile_and_its_modules(
    loadtest: list[Manifest],
) -> None:
    shipped = set(one(loadtest, "ConfigMap", "locust-scenario")["data"])
    needed, queue = {"locustfile.py"}, ["locustfile"]
    while queue:
        for name in loadtests_imports(ROOT / "loadtests" / f"{queue.pop()}.py"):
            if f"{name}.py" not in needed:
                needed.add(f"{name}.py")
                queue.append(name)
    assert needed <= shipped, f"missing from loadtests/kustomization.yaml: {needed - shipped}"
    assert (
        one(loadtest, "ConfigMap", "locust-scenario")["data"]["locustfile.py"]
        == (ROOT / "loadtests" / "locustfile.py").read_text()
    )


def test_locust_waits_for_the_service_and_targets_it(loadtest: list[Manifest]) -> None:
    service = one(loadtest, "Service", "digits")
    url = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    routes = service_get_routes()
    for ref in LOCUST:
        template = pod_template(loadtest, *ref)
        (wait,) = template.spec["initContainers"]
        assert wait["command"][-1] == f"{url}/readyz"
        assert "/readyz" in routes
        mounts = {
            m["name"]: m["mountPath"] for m in template.containers(init=False)[0]["volumeMounts"]
        }
        assert mounts["scenario"] == "/home/locust/loadtests"
    master_args = pod_template(loadtest, *LOCUST[0]).containers(init=False)[0]["args"]
    assert f"--host={url}" in master_args
    settings = settings_from_env(settings_env(loadtest))
    assert f"--digits-max-upload-bytes={settings.max_upload_bytes}" in master_args


def test_wait_for_http_gives_up_on_a_dead_url() -> None:
    result = subprocess.run(
        ["python3", str(SCRIPTS / "wait-for-http.py"), "http://127.0.0.1:9/readyz", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "not ready" in result.stdout


# --- overlays ------------------------------------------------------------------------------


def test_dev_is_one_small_node_without_autoscaling(rendered_all: dict[str, Any]) -> None:
    dev = rendered_all["dev"]
    assert one(dev, *CASSANDRA)["spec"]["replicas"] == 1
    assert settings_from_env(settings_env(dev)).cassandra_replication == "SimpleStrategy:1"
    assert objects(dev, "HorizontalPodAutoscaler") == []
    assert one(dev, *SERVICE)["spec"]["replicas"] == 1


def test_prod_is_three_nodes_rf3_and_autoscaled(rendered_all: dict[str, Any]) -> None:
    prod = rendered_all["prod"]
    assert one(prod, *CASSANDRA)["spec"]["replicas"] == 3
    env = env_of(pod_template(prod, *CASSANDRA).containers(init=False)[0], prod)
    assert len(env["CASSANDRA_SEEDS"].split(",")) == 2
    settings = settings_from_env(settings_env(prod))
    assert settings.cassandra_replication == "NetworkTopologyStrategy:dc1=3"
    assert settings.cassandra_consistency == "LOCAL_QUORUM"
    assert len(parse_store_url(settings.store_url).hosts) == 3
    (autoscaler,) = objects(prod, "HorizontalPodAutoscaler")
    assert autoscaler["spec"]["minReplicas"] >= 3 > 1
    assert "replicas" not in one(prod, *SERVICE)["spec"], "the autoscaler owns the count"


def test_prod_cassandra_gets_more_memory_than_dev(rendered_all: dict[str, Any]) -> None:
    def limit(overlay: str) -> str:
        container = pod_template(rendered_all[overlay], *CASSANDRA).containers()[0]
        return container["resources"]["limits"]["memory"]

    assert (limit("dev"), limit("prod")) == ("2Gi", "8Gi")


# --- secrets -------------------------------------------------------------------------------


def test_no_real_credentials_are_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "k8s/secrets"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [f for f in tracked if f.endswith(".env") and not f.endswith(".example.env")]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "k8s/secrets/cassandra-app.env"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "k8s/secrets/*.env must be git-ignored"
    for example in (K8S / "secrets").glob("*.example.env"):
        values = [
            line.split("=", 1)[1]
            for line in example.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        ]
        assert "change-me" in values, example.name


def test_secret_generator_writes_random_passwords_once(tmp_path: Path) -> None:
    for example in (K8S / "secrets").glob("*.example.env"):
        (tmp_path / example.name).write_text(example.read_text())
    generator = K8S / "secrets" / "generate.py"
    subprocess.run(["python3", str(generator), str(tmp_path)], check=True, capture_output=True)
    first = {p.name: p.read_text() for p in tmp_path.glob("*.env") if ".example." not in p.name}
    assert set(first) == {"access.env", "cassandra-app.env", "cassandra-admin.env"}
    assert all("change-me" not in text for text in first.values())
    assert all((tmp_path / name).stat().st_mode & 0o077 == 0 for name in first)
    subprocess.run(["python3", str(generator), str(tmp_path)], check=True, capture_output=True)
    assert {name: (tmp_path / name).read_text() for name in first} == first
