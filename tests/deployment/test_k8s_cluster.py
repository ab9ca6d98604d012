"""On a real Kubernetes: the manifests applied to a real control plane and node, serving uploads.

The project's own single-node cluster (``k8s/local/cluster.sh``: etcd, kube-apiserver with RBAC,
NodeRestriction and PodSecurity, controller-manager, scheduler, containerd + runc + CNI bridge,
kubelet, kube-proxy, CoreDNS) runs the images ``make images`` builds, imported into its containerd.
``kubectl apply -k k8s/overlays/local`` (the dev overlay, images never pulled) is what a user runs;
then real MNIST test digits go through the Service's ClusterIP with the original curl form and with
``/predict``, rows are counted with cqlsh in the Cassandra pod, the Cassandra pod is deleted under
traffic, the service is restarted with records still in its spool, the API server refuses a
privileged pod, and the prod overlay passes a server-side dry run. Phases are timed and printed.
Run alone with ``make k8s-e2e``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.waiting import wait_until
from tests.deployment.compose_stack import ROOT, Phases, docker_engine, run, stream
from tests.deployment.k8s_cluster import (
    LocalCluster,
    cluster_down,
    cluster_up,
    load_images,
)
from tests.support.digits import mnist_test_digits, write_pngs

pytestmark = [pytest.mark.k8s, pytest.mark.slow, pytest.mark.timeout(3600)]

IMAGES = ("digits-service:latest", "cassandra:5.0")
OVERLAY = ROOT / "k8s" / "overlays" / "local"
PROD_OVERLAY = ROOT / "k8s" / "overlays" / "prod"
DIGITS = 12
UPLOAD_ANSWER = re.compile(r"^(\d)\. success\n?$")
SERVICE = "app.kubernetes.io/name=digits-service"
CASSANDRA = "app.kubernetes.io/name=cassandra"
PHASES = Phases()


def ensure_images() -> None:
    """The service and Cassandra images, built with ``make images``' script when missing."""
    stream(["docker/build-images.sh", "--missing", "service", "cassandra"], timeout=2400)


def apply_and_wait(cluster: LocalCluster) -> None:
    """``kubectl apply -k`` the local overlay; Cassandra ready, schema done, service rolled out."""
    with PHASES.phase("kubectl apply -k k8s/overlays/local"):
        print(cluster.kubectl("apply", "-k", str(OVERLAY)), flush=True)
    with PHASES.phase("cassandra StatefulSet ready"):
        cluster.k("rollout", "status", "statefulset/cassandra", "--timeout=600s", timeout=660)
    with PHASES.phase("schema Job complete"):
        try:
            cluster.k(
                "wait",
                "--for=condition=complete",
                "job/digits-schema",
                "--timeout=600s",
                timeout=660,
            )
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{cluster.logs('job/digits-schema')}") from exc
    with PHASES.phase("service Deployment rolled out"):
        cluster.k("rollout", "status", "deployment/digits-service", "--timeout=600s", timeout=660)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """The local cluster with the dev stack applied and ready; torn down afterwards."""
    run([str(ROOT / ".venv" / "bin" / "python"), "k8s/secrets/generate.py"])
    with docker_engine():
        with PHASES.phase("images (make images)"):
            ensure_images()
        try:
            with PHASES.phase("cluster up"):
                cluster_up()
            with PHASES.phase("images into the node"):
                load_images(*IMAGES)
            local = LocalCluster()
            apply_and_wait(local)
            yield local
        finally:
            with PHASES.phase("cluster down"):
                cluster_down()
            print(PHASES.report(), flush=True)


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, int]]:
    """Real MNIST test digits as PNG files, with their labels."""
    return write_pngs(mnist_test_digits(DIGITS), tmp_path_factory.mktemp("digits"))


def predict(cluster: LocalCluster, image: Path) -> dict:
    """POST one image to /predict through the Service; the answer (200 required)."""
    status, body = cluster.upload("/predict", "image", image)
    assert status == 200, body
    return json.loads(body)


def exactly_once(cluster: LocalCluster, ids: set[str]) -> None:
    """Each id is one row of ``predictions`` and one of ``predictions_by_day``."""
    for table in ("predictions", "predictions_by_day"):
        rows = cluster.ids_in(table)
        twice = {i for i in ids if rows.count(i) > 1}
        missing = ids - set(rows)
        assert not missing, f"{table}: missing {missing}"
        assert not twice, f"{table}: twice {twice}"


def wait_spool_drained(cluster: LocalCluster, timeout: float = 300) -> None:
    """Until the service is connected to Cassandra again with an empty spool."""

    def drained() -> bool:
        storage = cluster.readiness()["storage"]
        return storage["state"] == "connected" and storage["spool_records"] == 0

    wait_until(drained, timeout, "spool drained", every=2)


def test_uploads_through_the_service_are_answered_and_recorded(
    cluster: LocalCluster, digit_files: list[tuple[Path, int]]
) -> None:
    before = set(cluster.ids_in("predictions"))
    answered: set[str] = set()
    with PHASES.phase(f"upload {len(digit_files)} digits x2 via ClusterIP"):
        for path, label in digit_files:
            status, text = cluster.upload("/upload", "image01", path)
            assert status == 200, text
            assert UPLOAD_ANSWER.match(text), text
            assert int(text[0]) == label, f"{path.name}: /upload answered {text!r}"
            prediction = predict(cluster, path)
            assert prediction["digit"] == label, f"{path.name}: {prediction}"
            answered.add(prediction["id"])
    with PHASES.phase("rows in Cassandra (cqlsh)"):
        expected = len(before) + 2 * len(digit_files)
        wait_until(lambda: len(set(cluster.ids_in("predictions"))) >= expected, 60, "rows", 2)
    assert len(set(cluster.ids_in("predictions"))) == expected  # the /upload ones too
    exactly_once(cluster, answered)


class Traffic:
    """Uploads to /predict in a loop on a thread; every answer kept, errors too."""

    def __init__(self, cluster: LocalCluster, image: Path) -> None:
        self.cluster, self.image = cluster, image
        self.ids: list[str] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                status, body = self.cluster.upload("/predict", "image", self.image)
            except RuntimeError as exc:  # curl could not connect or timed out
                self.failures.append(str(exc)[:200])
                continue
            if status == 200:
                self.ids.append(json.loads(body)["id"])
            else:
                self.failures.append(f"{status}: {body[:200]}")
            time.sleep(0.2)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=120)


def test_cassandra_pod_deleted_under_traffic_loses_nothing(
    cluster: LocalCluster, digit_files: list[tuple[Path, int]]
) -> None:
    old_uid = cluster.json("pod", "cassandra-0")["metadata"]["uid"]
    deepest = 0
    with Traffic(cluster, digit_files[0][0]) as traffic:
        time.sleep(3)
        with PHASES.phase("cassandra-0 deleted, back Ready"):
            cluster.k("delete", "pod", "cassandra-0", "--wait=false")

            def back() -> bool:
                nonlocal deepest
                deepest = max(deepest, cluster.readiness()["storage"]["spool_records"])
                pod = cluster.json("pod", "cassandra-0")
                return pod["metadata"]["uid"] != old_uid and cluster.ready_pods(CASSANDRA) == 1

            wait_until(back, 600, "cassandra-0 recreated and Ready", every=3)
        with PHASES.phase("spool drained"):
            wait_spool_drained(cluster)
        time.sleep(3)
    print(f"[k8s] {len(traffic.ids)} answers during the drill, spool peaked at {deepest}")
    assert traffic.failures == []
    assert deepest > 0, "nothing was spooled: the outage was not observed"
    exactly_once(cluster, set(traffic.ids))


def test_rollout_restart_with_a_non_empty_spool_loses_nothing(
    cluster: LocalCluster, digit_files: list[tuple[Path, int]]
) -> None:
    with PHASES.phase("cassandra scaled to 0, uploads spooled"):
        cluster.k("scale", "statefulset/cassandra", "--replicas=0")
        gone = lambda: not cluster.json("pods", "-l", CASSANDRA)["items"]  # noqa: E731
        wait_until(gone, 300, "cassandra gone", 2)
        spooled = {predict(cluster, path)["id"] for path, _ in digit_files[:6]}
        storage = cluster.readiness()["storage"]
    assert storage["state"] == "spooling", storage
    assert storage["spool_records"] >= len(spooled), storage

    def service_pods() -> set[str]:
        return {p["metadata"]["name"] for p in cluster.json("pods", "-l", SERVICE)["items"]}

    old_pods = service_pods()
    with PHASES.phase("rollout restart of the service"):
        cluster.k("rollout", "restart", "deployment/digits-service")
        cluster.k("rollout", "status", "deployment/digits-service", "--timeout=600s", timeout=660)
        wait_until(lambda: not service_pods() & old_pods, 180, "old pod gone", 2)
    assert cluster.ready_pods(SERVICE) == 1
    assert cluster.readiness()["storage"]["spool_records"] >= len(spooled)  # the spool survived
    with PHASES.phase("cassandra back, spool drained"):
        cluster.k("scale", "statefulset/cassandra", "--replicas=1")
        cluster.k("rollout", "status", "statefulset/cassandra", "--timeout=600s", timeout=660)
        wait_spool_drained(cluster)
    exactly_once(cluster, spooled)


PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "privileged-probe"},
    "spec": {
        "containers": [
            {
                "name": "probe",
                "image": "digits-service:latest",
                "imagePullPolicy": "Never",
                "securityContext": {"privileged": True},
            }
        ]
    },
}


def test_the_api_server_refuses_a_privileged_pod_in_the_namespace(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    manifest = tmp_path / "privileged.json"
    manifest.write_text(json.dumps(PRIVILEGED_POD))
    with pytest.raises(RuntimeError, match=r'violates PodSecurity "restricted:latest"'):
        cluster.k("apply", "-f", str(manifest))
    assert "privileged-probe" not in cluster.k("get", "pods", "-o", "name")


def test_the_prod_overlay_passes_a_server_side_dry_run(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    # A dry run creates nothing, not even the namespace the other objects live in: create it first,
    # from the overlay's own Namespace object.
    rendered = run(["kubectl", "kustomize", str(PROD_OVERLAY)]).split("\n---\n")
    namespace = tmp_path / "namespace.yaml"
    namespace.write_text(next(doc for doc in rendered if "kind: Namespace" in doc))
    cluster.kubectl("apply", "-f", str(namespace))
    with PHASES.phase("prod overlay: apply --dry-run=server"):
        out = cluster.kubectl("apply", "-k", str(PROD_OVERLAY), "--dry-run=server")
    lines = out.strip().splitlines()
    assert lines, out
    assert all(line.endswith("(server dry run)") for line in lines), out
    assert any(line.startswith("statefulset.apps/cassandra") for line in lines), out
